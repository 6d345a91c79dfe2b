//! The runtime's hot pieces on their own: classification of a partner answer, Retry-After
//! parsing, dedup insert/lookup in the sliding window, and batch assembly (`json_array`).
//!
//! `cargo bench -p destination-kit --bench pieces -- --warm-up-time 1 --measurement-time 3`

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};
use destination_kit::Payload;
use destination_kit::classify::{classify_status, parse_retry_after};
use destination_kit::destination::json_array;
use destination_kit::runtime::{DedupStore, MemoryDedup};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn classification(c: &mut Criterion) {
    let mut g = c.benchmark_group("classify");
    let now = SystemTime::now();
    let mut h = http::HeaderMap::new();
    h.insert("retry-after", "7".parse().unwrap());
    let statuses = [200u16, 204, 400, 401, 408, 413, 429, 500, 501, 503];
    g.throughput(Throughput::Elements(statuses.len() as u64));
    g.bench_function("status_matrix", |b| {
        b.iter(|| {
            for s in statuses {
                black_box(classify_status(black_box(s), &h, now));
            }
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("retry_after_http_date", |b| {
        b.iter(|| {
            black_box(parse_retry_after(
                black_box("Wed, 21 Oct 2026 07:28:00 GMT"),
                now,
            ))
        })
    });
    g.finish();
}

fn dedup(c: &mut Criterion) {
    let mut g = c.benchmark_group("dedup");
    let t0 = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let ids: Vec<String> = (0..100_000).map(|i| format!("ajs-next-{i:032x}")).collect();
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("insert_100k_fresh", |b| {
        b.iter(|| {
            let mut d = MemoryDedup::new(Duration::from_secs(86_400));
            for (i, id) in ids.iter().enumerate() {
                black_box(d.insert_if_absent("web", id, t0 + Duration::from_millis(i as u64)));
            }
            d.len()
        })
    });
    let mut warm = MemoryDedup::new(Duration::from_secs(86_400));
    for id in &ids {
        warm.insert_if_absent("web", id, t0);
    }
    g.bench_function("lookup_100k_duplicates", |b| {
        b.iter(|| {
            let mut dup = 0;
            for id in &ids {
                dup += usize::from(!warm.insert_if_absent("web", id, t0));
            }
            dup
        })
    });
    g.finish();

    // 400,000 older ids spilled to disk (memory limit 100,000): a fresh id is checked against
    // the in-memory sets and each spilled file's Bloom filter; a spilled duplicate is read back
    // from its file
    let spilled_store = || {
        let mut d = MemoryDedup::new(Duration::from_secs(86_400)).with_memory_limit(Some(100_000));
        for i in 0..400_000 {
            d.insert_if_absent("web", &format!("old-{i:032x}"), t0);
        }
        d
    };
    let old: Vec<String> = (0..100_000)
        .map(|i| format!("old-{:032x}", i * 4))
        .collect();
    let mut g = c.benchmark_group("dedup_spilled");
    g.sample_size(10);
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.bench_function("insert_100k_fresh", |b| {
        b.iter_batched(
            spilled_store,
            |mut d| {
                let mut new = 0;
                for id in &ids {
                    new += usize::from(d.insert_if_absent("web", id, t0));
                }
                (new, d)
            },
            criterion::BatchSize::PerIteration,
        )
    });
    let mut warm_spilled = spilled_store();
    g.bench_function("lookup_100k_duplicates", |b| {
        b.iter(|| {
            let mut dup = 0;
            for id in &old {
                dup += usize::from(!warm_spilled.insert_if_absent("web", id, t0));
            }
            dup
        })
    });
    g.finish();
}

fn batch_assembly(c: &mut Criterion) {
    let mut g = c.benchmark_group("batch");
    let payloads: Vec<Payload> = (0..2000)
        .map(|i| {
            Payload::json(
                "httpapi",
                &serde_json::json!({"event_type": "Product Viewed", "user_id": format!("user_{i:06}"),
                    "time": 1_790_000_000_000i64 + i, "insert_id": format!("m-{i}"),
                    "event_properties": {"product_id": "prod_00042", "price": 19.99, "currency": "USD"}}),
            )
        })
        .collect();
    g.throughput(Throughput::Elements(payloads.len() as u64));
    g.bench_function("json_array_2000", |b| {
        b.iter(|| json_array(black_box(&payloads)).len())
    });
    g.finish();
}

criterion_group!(benches, classification, dedup, batch_assembly);
criterion_main!(benches);
