//! Each destination's hot path without I/O: `map` over every specced event and the six calls
//! (the canonical fixtures), and batch assembly (`request`) of the payloads per route.
//!
//! `cargo bench -p destinations --bench mapping -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use destination_kit::event::Message;
use destination_kit::{Event, Mapped, Payload};
use std::collections::BTreeMap;

/// Destinations whose settings take a pinned "now" (their historical-event rules read it): the
/// fixtures are dated 2026-03-14.
const PINNED_NOW: &[&str] = &["ga4", "mixpanel", "braze", "adobe-media"];

fn mapping(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("tokio");
    let mut events: Vec<Message> = spec_tests::fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| Message::from_value(v).expect("fixture"))
        .collect();
    events.extend(
        spec_tests::fixtures::calls()
            .into_iter()
            .map(|(_, v)| Message::from_value(v).expect("fixture")),
    );
    let prepared: Vec<_> = events
        .iter()
        .map(|m| {
            let (errs, spec) = m.validate_and_recognise();
            assert!(errs.is_empty(), "{errs:?}");
            (m, spec, m.event_time().expect("time"))
        })
        .collect();
    let mut g = c.benchmark_group("map");
    g.throughput(Throughput::Elements(prepared.len() as u64));
    for entry in destinations::registry::all() {
        let mock = rt.block_on((entry.start_mock)(spec_tests::mock::Recording::Off));
        let mut settings = mock.settings.clone();
        if PINNED_NOW.contains(&entry.slug) {
            settings["now"] = "2026-03-14T12:00:00Z".into();
        }
        let dest = (entry.configure)(settings, Some(&mock.uri())).expect("settings");
        g.bench_function(entry.slug, |b| {
            b.iter(|| {
                let mut n = 0;
                for (m, spec, time) in &prepared {
                    if let Mapped::Send(p) = dest.map(&Event::new(m, spec.as_ref(), *time)) {
                        n += p.len();
                    }
                }
                black_box(n)
            })
        });
        // batch assembly: every payload of the fixtures, grouped by route, into requests
        let mut by_route: BTreeMap<String, Vec<Payload>> = BTreeMap::new();
        for (m, spec, time) in &prepared {
            if let Mapped::Send(ps) = dest.map(&Event::new(m, spec.as_ref(), *time)) {
                for p in ps {
                    by_route.entry(p.route.to_string()).or_default().push(p);
                }
            }
        }
        let limit = dest.info().batch.events.max(1);
        g.bench_function(format!("{}/request", entry.slug), |b| {
            b.iter(|| {
                let mut bytes = 0;
                for (route, ps) in &by_route {
                    for chunk in ps.chunks(limit) {
                        bytes += dest.request(route, chunk).body.len();
                    }
                }
                black_box(bytes)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, mapping);
criterion_main!(benches);
