//! `destkit mock NAME --port P` prints every request it receives, secrets masked.

#[path = "python/support.rs"]
mod support;

use support::spawn;

fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_partner_prints_each_request_with_secrets_masked() {
    let port = free_port();
    let mut m = spawn(&["mock", "webhook", "--port", &port.to_string()]);
    let url = m.wait_url("listening on");
    assert_eq!(url, format!("http://127.0.0.1:{port}"));
    let settings = m.wait_line("settings:");
    assert!(
        settings.contains(&format!("http://127.0.0.1:{port}/hook")),
        "{settings}"
    );

    let r = reqwest::Client::new()
        .post(format!("{url}/hook?api_key=sk_live_1&region=eu"))
        .body(r#"{"event":"Order Completed","token":"tok_2","n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let line = m.wait_line("POST /hook");
    assert_eq!(line, "POST /hook?api_key=[redacted]&region=eu");
    let body = m.wait_line("Order Completed");
    assert_eq!(
        body,
        r#"{"event":"Order Completed","n":1,"token":"[redacted]"}"#
    );
    m.wait_line("-> 200");

    let out = m.terminate();
    assert!(out.status.success(), "{}", out.stderr);
    assert!(!out.stdout.contains("sk_live_1") && !out.stdout.contains("tok_2"));
}

#[test]
fn an_unknown_destination_exits_2() {
    let out = spawn(&["mock", "nope"]).finish();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stderr.contains("unknown destination \"nope\""),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("webhook"), "{}", out.stderr);
}
