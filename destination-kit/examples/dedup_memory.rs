//! Bytes of memory per remembered messageId in the in-memory dedup store, with every id in
//! hash sets (no limit) and with the default memory limit (older ids spilled to disk).
//!
//! `cargo run --release -p destination-kit --example dedup_memory [-- N]` (default N = 1,000,000)

use destination_kit::runtime::{DEFAULT_MEMORY_IDS, DedupStore, MemoryDedup};
use std::time::{Duration, Instant, UNIX_EPOCH};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    for (name, limit) in [
        ("no limit", None),
        ("default limit", Some(DEFAULT_MEMORY_IDS)),
    ] {
        let mut store = MemoryDedup::new(Duration::from_secs(86_400)).with_memory_limit(limit);
        let start = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
        let began = Instant::now();
        // ids spread over one day, as a steady stream would be
        let step = 86_400_000_000u64 / n as u64;
        let mut buf = String::new();
        for i in 0..n {
            buf.clear();
            use std::fmt::Write;
            let _ = write!(buf, "0b1e4c2a-7d3f-4e8a-9c61-{i:012x}");
            let now = start + Duration::from_micros(step * i as u64);
            assert!(store.insert_if_absent("web", &buf, now));
        }
        let took = began.elapsed();
        let bytes = store.memory_bytes();
        println!(
            "{name}: {n} ids remembered ({} in memory, {} spilled files): {bytes} bytes in memory = {:.1} bytes per id; {:.0} inserts/s",
            store.ids_in_memory(),
            store.spilled_segments(),
            bytes as f64 / store.len() as f64,
            n as f64 / took.as_secs_f64()
        );
    }
}
