//! The README's walk-through destination (`examples/acme.rs`) passes the whole suite, and its
//! mock refuses a wrong key the way the real API would.

#[path = "../examples/acme.rs"]
#[allow(dead_code)]
mod acme;

use destination_kit::Destination;

#[tokio::test]
async fn acme_is_conformant() {
    let report = acme::run_suite().await;
    println!("{report}");
    report.assert_conformant();
    // its coverage: three native events, email unsupported, the rest custom
    let status = |e: &str| {
        report
            .coverage
            .iter()
            .find(|r| r.event == e)
            .map(|r| r.status.as_str())
            .unwrap()
    };
    assert_eq!(status("Order Completed"), "mapped");
    assert_eq!(status("Cart Viewed"), "custom");
    assert_eq!(status("Email Opened"), "unsupported");
    assert!(
        report
            .check("partial_batch")
            .unwrap()
            .detail
            .contains("they alone failed")
    );
    assert!(
        report
            .check("secrets")
            .unwrap()
            .detail
            .contains("1 secret value(s)")
    );
}

#[tokio::test]
async fn the_mock_refuses_a_wrong_key() {
    let mock = acme::acme_mock().await;
    let mut settings = mock.settings.clone();
    settings["api_key"] = "wrong".into();
    let dest = destination_kit::Configured::from_json(acme::Acme, settings, None)
        .unwrap()
        .into_dyn();
    let rt = destination_kit::runtime::Runtime::new(dest, Default::default());
    let line = r#"{"type":"track","event":"Signed Up","userId":"u1","messageId":"m1","timestamp":"2026-01-02T03:04:05Z"}"#;
    let r = rt.deliver_bytes(line.as_bytes()).await;
    assert_eq!(r.report.failed, 1);
    assert_eq!(r.events[0].last_status, Some(401));
    assert_eq!(acme::Acme.info().slug, "acme");
}
