//! Bytes of memory per remembered messageId in the in-memory dedup store.
//!
//! `cargo run -p destination-kit --example dedup_memory [-- N]` (default N = 1,000,000)

use destination_kit::runtime::{DedupStore, MemoryDedup};
use std::time::{Duration, Instant, UNIX_EPOCH};

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mut store = MemoryDedup::new(Duration::from_secs(86_400));
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
        "{n} ids remembered: {bytes} bytes of hash tables = {:.1} bytes per id; {:.0} inserts/s",
        bytes as f64 / store.len() as f64,
        n as f64 / took.as_secs_f64()
    );
}
