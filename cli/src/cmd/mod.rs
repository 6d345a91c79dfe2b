//! One file per subcommand.

pub mod bench;
pub mod conformance;
pub mod deliver;
pub mod inspect;
pub mod mock;
pub mod replay;
pub mod serve;

/// The async runtime of the commands that run the delivery pipeline (`deliver`, `replay`,
/// `bench`): **one** async worker thread. The pipeline's CPU-heavy steps (parse, validate,
/// recognise, map) run on tokio's blocking pool, in parallel on every core; what is left on the
/// async side — the driver (dedup, batching, accounting), HTTP exchanges and an embedded mock
/// partner — is waiting and waking. On one thread a request's wakeups stay on that thread; with
/// one worker per core each request woke a parked worker through the kernel (`futex`).
/// Measured (`destkit bench --batch-size 1` into a separate-process sink, 20,000 events, three
/// alternated runs on 2 cores): context switches 26–30 k instead of 33–50 k, GA4 9,188–11,924
/// instead of 8,484–9,856 events/s, Amplitude 9,067–9,374 instead of 7,372–8,759; batched runs
/// no slower (Amplitude, 200,000 events: 77 k vs 75 k events/s).
///
/// The blocking pool itself is held to one thread per core plus one: the input reader holds one
/// for the whole run, so the per-event steps get exactly one thread per core. Left at tokio's
/// default (up to 512), four chunks in flight ran on as many threads taking turns on two cores;
/// held, `destkit bench --events 200000 --pipeline-only` (Amplitude, three alternated runs) gave
/// 92–96 k events/s at 4.1–4.3 CPU-seconds instead of 81–83 k at 4.4–4.5, and 320,000 events
/// 82–85 k instead of 73–79 k. Other blocking work here (a DNS lookup for a new connection,
/// opening a file) waits for a chunk to finish, a few milliseconds at most; nothing waits on a
/// chunk while holding a blocking thread, so this cannot deadlock.
pub fn pipeline_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(cores + 1)
        .enable_all()
        .build()
}
