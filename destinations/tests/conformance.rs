//! The conformance suite for every destination in the registry: one test per destination (so a
//! failure names it) and one that checks no registry entry is left out.

use destinations::registry;
use spec_tests::{Report, Suite};

/// Run the suite for `slug` against its own mock partner.
async fn run(slug: &str) -> Report {
    let entry = registry::find(slug).unwrap_or_else(|| panic!("`{slug}` is not in the registry"));
    let mock = (entry.start_mock)(spec_tests::mock::Recording::On).await;
    let started = std::time::Instant::now();
    let report = Suite::from_configure(entry.configure)
        .against(mock)
        .run()
        .await;
    println!("{report}\n(suite took {:.2?})", started.elapsed());
    report
}

/// The slugs these tests cover.
const COVERED: &[&str] = &[
    "webhook",
    "ga4",
    "amplitude",
    "mixpanel",
    "braze",
    "intercom",
    "adobe-media",
];

macro_rules! conformance {
    ($($name:ident => $slug:literal),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let report = run($slug).await;
            assert_eq!(report.destination, $slug);
            assert_eq!(report.coverage.len(), destination_kit::spec::ALL.len());
            report.assert_conformant();
        }
    )*};
}

conformance! {
    webhook_is_conformant => "webhook",
    ga4_is_conformant => "ga4",
    amplitude_is_conformant => "amplitude",
    mixpanel_is_conformant => "mixpanel",
    braze_is_conformant => "braze",
    intercom_is_conformant => "intercom",
    adobe_media_is_conformant => "adobe-media",
}

#[test]
fn every_registry_entry_has_a_conformance_test() {
    let missing: Vec<&str> = registry::all()
        .iter()
        .map(|e| e.slug)
        .filter(|s| !COVERED.contains(s))
        .collect();
    assert!(
        missing.is_empty(),
        "add a conformance test for {missing:?} to destinations/tests/conformance.rs"
    );
}
