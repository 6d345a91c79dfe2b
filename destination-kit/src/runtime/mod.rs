//! The delivery runtime: every input event to exactly one [`Outcome`].
//!
//! Per event: parse and validate (else `rejected`), the destination's calls and the message's
//! `integrations` opt-out (else `filtered`), de-duplication by `(source, messageId)` (else
//! `duplicate`), spec recognition and [`DynDestination::map`] (`Unsupported` → `filtered`,
//! `Invalid` → `rejected`). Payloads are batched by route within the destination's
//! [`BatchLimits`](crate::BatchLimits) and sent under a concurrency limit and a per-attempt
//! timeout; each payload's verdict decides: delivered, failed, resend at once, split (413), or
//! retry after `Retry-After` or a full-jitter backoff until the retry budget would be passed
//! (`expired`). An event with several payloads is delivered when all are; else its worst payload
//! decides (failed before expired).
//!
//! ```no_run
//! use destination_kit::runtime::{Runtime, DeliveryConfig};
//! # async fn demo(dest: std::sync::Arc<dyn destination_kit::DynDestination>, bytes: Vec<u8>) {
//! let rt = Runtime::new(dest, DeliveryConfig::default().concurrency(4));
//! let result = rt.deliver_bytes(&bytes).await;
//! assert!(result.report.adds_up());
//! # }
//! ```

mod clock;
mod config;
mod dead_letter;
mod dedup;
mod prepare;
mod send;
pub mod state;

pub use clock::{Clock, SystemClock, TestClock};
pub use config::{DEFAULT_MAX_PENDING_BYTES, DeliveryConfig, MAX_DEDUP_WINDOW, RetryPolicy};
pub use dead_letter::{DeadLetter, DeadLetterEntry};
pub use dedup::{DEFAULT_MEMORY_IDS, DedupStore, MemoryDedup};
pub use state::{Earlier, Journal, StateDedup, StateError, StateJournal, StateOptions, StateStore};

use crate::destination::{DestinationInfo, DynDestination, HttpClient, Payload};
use crate::error::ParseError;
use crate::event::{Message, Record, parse_document};
use crate::outcome::{DeliveryReport, Outcome};
use futures::{Stream, StreamExt};
use prepare::{AfterDedup, Prepared, Preparer, Step};
use send::{BatchDone, End, Item, Shared};
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

/// Most inputs prepared together on the blocking pool. Measured on 2 cores (`destkit bench
/// --input <200,000 events> --pipeline-only`, six alternated runs, events/s medians): 256 per
/// chunk and 4 chunks ahead 145.7 k, 1,024 and 4 ahead 169.3 k, 1,024 and 6 ahead 177.0 k
/// (peak RSS 118.5, 123.1, 148.8 MB); a chunk of 256 is ~1 ms of work, and the hand-offs
/// around it (a blocking-pool hop, waking the driver, a prepare thread waiting for the next
/// chunk to be started) left cores idle.
const PREPARE_CHUNK: usize = 1024;
/// Fewer ready inputs than this are prepared inline (a blocking-pool hop costs more).
const PREPARE_INLINE: usize = 16;

/// Chunks prepared at once: three per core (at least 2, at most 12), so every core has the next
/// chunk ready while the driver takes the previous one — with one per core, cores sat idle
/// whenever the driver was busy (measured on 2 cores: 4 in flight delivered ~25 % more events
/// per second than 2, and with chunks of 1,024, 6 in flight ~5 % more than 4). At most
/// `12 × PREPARE_CHUNK` events are in this stage.
fn prepare_ahead() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get() * 3)
        .clamp(2, 12)
}

/// The tokio runtime [`Runtime`] runs best on, as `destkit deliver`, `replay` and `bench` build
/// it: **one** async worker thread. The pipeline's CPU-heavy steps (parse, validate,
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
///
/// Drive a delivery on it with [`block_on_worker`], so that the driver shares the worker with
/// the requests.
///
/// ```
/// let rt = destination_kit::runtime::tokio_runtime().expect("a runtime");
/// let sum = rt.block_on(async { 1 + 1 });
/// assert_eq!(sum, 2);
/// ```
pub fn tokio_runtime() -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(cores + 1)
        .enable_all()
        .build()
}

/// Run `future` to its end as a task on `rt`'s workers, the calling thread only waiting.
///
/// [`tokio::runtime::Runtime::block_on`] polls its future on the calling thread, not on a
/// worker: a delivery driven that way runs its driver (dedup, batching, accounting) on one
/// thread and its requests on the worker, and every answer wakes the other thread — two context
/// switches and a futex call per request. Spawned, driver and requests share the one worker of
/// [`tokio_runtime`]. Measured on this project's 2-core machine, 20,000 peer events one per
/// request into the node sink, three alternated runs: GA4 10,723–12,548 → 13,834–16,327 events/s
/// (1.67–1.76 → 1.16–1.41 CPU-seconds), Amplitude 9,612–10,977 → 12,166–12,576, involuntary
/// context switches 13–17 k → 0.3–0.5 k; batched runs no slower. A panic in `future` is
/// resumed on the calling thread.
///
/// ```
/// let rt = destination_kit::runtime::tokio_runtime().expect("a runtime");
/// let caller = std::thread::current().id();
/// let ran_on = destination_kit::runtime::block_on_worker(&rt, async { std::thread::current().id() });
/// assert_ne!(ran_on, caller);
/// ```
pub fn block_on_worker<F>(rt: &tokio::runtime::Runtime, future: F) -> F::Output
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    match rt.block_on(rt.spawn(future)) {
        Ok(out) => out,
        Err(e) => match e.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(e) => panic!("the task was cancelled before it finished: {e}"),
        },
    }
}

/// The final outcome of one input event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EventOutcome {
    /// 1-based input line (or submission number).
    pub line: usize,
    /// 0-based position inside a `{"batch": [...]}` envelope, when it came from one.
    pub batch_index: Option<usize>,
    /// The event's messageId, when it parsed.
    pub message_id: Option<String>,
    /// The outcome.
    pub outcome: Outcome,
    /// HTTP attempts made for it (the most over its payloads).
    pub attempts: u32,
    /// The last HTTP status its payloads got.
    pub last_status: Option<u16>,
}

/// What a delivery run returns.
#[derive(Debug, Clone, Default)]
pub struct DeliveryResult {
    /// The counts (`input` equals the sum of the outcomes).
    pub report: DeliveryReport,
    /// Per-event outcomes, ordered by line, when collecting is on ([`Runtime::collect_events`]).
    pub events: Vec<EventOutcome>,
    /// Problems of the run itself (the dead-letter file could not be written, …).
    pub warnings: Vec<String>,
}

/// Called once per event as soon as its outcome is known.
pub type OutcomeCallback = Arc<dyn Fn(&EventOutcome) + Send + Sync>;

/// A delivery runtime for one destination.
pub struct Runtime {
    dest: Arc<dyn DynDestination>,
    info: DestinationInfo,
    config: DeliveryConfig,
    clock: Arc<dyn Clock>,
    dedup: Mutex<Box<dyn DedupStore>>,
    dead_letter: Option<PathBuf>,
    collect: bool,
    on_outcome: Option<OutcomeCallback>,
    http: HttpClient,
    journal: Option<Arc<dyn Journal>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("destination", &self.info.slug)
            .field("config", &self.config)
            .field("dead_letter", &self.dead_letter)
            .finish_non_exhaustive()
    }
}

/// One input item inside the runtime.
struct Input {
    line: usize,
    batch_index: Option<usize>,
    raw: Option<Box<str>>,
    body: Body,
}

/// An input's content: parsed already, or one JSON line still to parse (parsed in the prepare
/// stage, in parallel; the line may be a `{"batch": [...]}` envelope of several events).
enum Body {
    /// Boxed: a `Message` is ~220 bytes, and every input moves through the reader's channel,
    /// a chunk and a blocking task; most inputs are lines, which need only the `Bytes`.
    Parsed(Box<Result<Message, ParseError>>),
    /// A slice of the block it was read in (no copy per line).
    Line(bytes::Bytes),
}

impl Runtime {
    /// A runtime for `dest` with the system clock, an in-memory dedup store over
    /// `config.dedup_window`, no dead-letter file, collecting per-event outcomes.
    pub fn new(dest: Arc<dyn DynDestination>, config: DeliveryConfig) -> Runtime {
        let info = dest.info();
        let http = HttpClient::new(config.retry.attempt_timeout);
        let dedup: Box<dyn DedupStore> = Box::new(
            MemoryDedup::new(config.dedup_window).with_memory_limit(config.dedup_memory_ids),
        );
        Runtime {
            dest,
            info,
            config,
            clock: Arc::new(SystemClock),
            dedup: Mutex::new(dedup),
            dead_letter: None,
            collect: true,
            on_outcome: None,
            http,
            journal: None,
        }
    }
    /// Report every event to a durable journal (crash safety, see [`state`]): events an
    /// earlier run finished are counted and not redone, unfinished ones resume with their
    /// retry budget counting from when they were first accepted.
    pub fn with_journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }
    /// Use another clock (a [`TestClock`] in tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
    /// Use another de-duplication store.
    pub fn with_dedup(mut self, store: Box<dyn DedupStore>) -> Self {
        self.dedup = Mutex::new(store);
        self
    }
    /// Share an HTTP client (keep-alive pool) with other runtimes. Its timeout should match
    /// `config.retry.attempt_timeout` (the runtime also applies that timeout itself).
    pub fn with_http(mut self, http: HttpClient) -> Self {
        self.http = http;
        self
    }
    /// Append events that end rejected, failed or expired to this JSON-lines file.
    pub fn with_dead_letter(mut self, path: impl AsRef<Path>) -> Self {
        self.dead_letter = Some(path.as_ref().to_path_buf());
        self
    }
    /// Keep per-event outcomes in [`DeliveryResult::events`] (default on). Turn it off for large
    /// streams so memory stays flat.
    pub fn collect_events(mut self, on: bool) -> Self {
        self.collect = on;
        self
    }
    /// Call `f` with each event's outcome as soon as it is known.
    pub fn on_outcome(mut self, f: impl Fn(&EventOutcome) + Send + Sync + 'static) -> Self {
        self.on_outcome = Some(Arc::new(f));
        self
    }
    /// The destination's metadata.
    pub fn info(&self) -> &DestinationInfo {
        &self.info
    }
    /// The configuration.
    pub fn config(&self) -> &DeliveryConfig {
        &self.config
    }

    /// Parse a document (one message, a `{"batch": [...]}` envelope or JSON lines) and deliver
    /// every message in it. JSON lines are parsed lazily as they are delivered.
    pub async fn deliver_bytes(&self, bytes: &[u8]) -> DeliveryResult {
        let trimmed = crate::json::trim_ws(bytes);
        let whole_object = trimmed.first() == Some(&b'{')
            && serde_json::from_slice::<serde::de::IgnoredAny>(trimmed).is_ok();
        if whole_object {
            let items = parse_document(bytes).into_iter().map(|r| Input {
                line: r.line,
                batch_index: r.batch_index,
                raw: None,
                body: Body::Parsed(Box::new(r.result)),
            });
            return self.drive(futures::stream::iter(items)).await;
        }
        let items = crate::event::split_lines(bytes)
            .enumerate()
            .filter_map(|(i, line)| {
                let t = crate::json::trim_ws(line);
                (!t.is_empty()).then(|| Input {
                    line: i + 1,
                    batch_index: None,
                    raw: None,
                    body: Body::Line(bytes::Bytes::copy_from_slice(t)),
                })
            });
        self.drive(futures::stream::iter(items)).await
    }

    /// Read and deliver a stream without holding it in memory: JSON lines (a line may also be a
    /// `{"batch": [...]}` envelope) are read on a blocking thread, a bounded queue ahead of the
    /// runtime. Input whose first line is not complete JSON but starts with `{` is taken as one
    /// pretty-printed document and read whole. A read error ends the input and is reported in
    /// [`DeliveryResult::warnings`] (prefixed `input:`).
    pub async fn deliver_reader<R: std::io::BufRead + Send + 'static>(
        &self,
        reader: R,
    ) -> DeliveryResult {
        let (tx, mut rx) = mpsc::channel::<Vec<Input>>(8);
        let reading = tokio::task::spawn_blocking(move || read_inputs(reader, tx));
        let stream = async_stream_of(&mut rx);
        let mut result = self.drive(stream).await;
        match reading.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => result.warnings.push(format!("input: {e}")),
            Err(e) => result
                .warnings
                .push(format!("input: the reader failed: {e}")),
        }
        result
    }

    /// Deliver parsed records.
    pub async fn deliver_records(
        &self,
        records: impl IntoIterator<Item = Record, IntoIter: Send>,
    ) -> DeliveryResult {
        let items = records.into_iter().map(|r| Input {
            line: r.line,
            batch_index: r.batch_index,
            raw: None,
            body: Body::Parsed(Box::new(r.result)),
        });
        self.drive(futures::stream::iter(items)).await
    }

    /// Deliver messages (numbered 1, 2, … as their line).
    pub async fn deliver_messages(
        &self,
        msgs: impl IntoIterator<Item = Message, IntoIter: Send>,
    ) -> DeliveryResult {
        let items = msgs.into_iter().enumerate().map(|(i, m)| Input {
            line: i + 1,
            batch_index: None,
            raw: None,
            body: Body::Parsed(Box::new(Ok(m))),
        });
        self.drive(futures::stream::iter(items)).await
    }

    /// Deliver a stream of records (for input that arrives over time).
    pub async fn deliver_stream(
        &self,
        records: impl Stream<Item = Record> + Send,
    ) -> DeliveryResult {
        let items = records.map(|r| Input {
            line: r.line,
            batch_index: r.batch_index,
            raw: None,
            body: Body::Parsed(Box::new(r.result)),
        });
        self.drive(Box::pin(items)).await
    }

    /// Start a long-lived runtime fed by [`RuntimeHandle::submit`] (for servers). Outcomes go
    /// to the [`Runtime::on_outcome`] callback; per-event collecting is turned off.
    pub fn start(mut self) -> RuntimeHandle {
        self.collect = false;
        let (tx, rx) = mpsc::channel::<Input>(1024);
        let (abort, abort_rx) = tokio::sync::watch::channel(false);
        let join =
            tokio::spawn(async move {
                let stream = futures::stream::unfold(rx, |mut rx| async move {
                    rx.recv().await.map(|i| (i, rx))
                });
                self.drive_inner(Box::pin(stream), Some(abort_rx)).await
            });
        RuntimeHandle {
            tx,
            abort,
            join,
            next_line: std::sync::atomic::AtomicUsize::new(1),
        }
    }

    /// The input after the pure per-event steps ([`prepare`]): validation, filters, spec
    /// recognition and `map` run on chunks of what is ready (up to [`PREPARE_CHUNK`]) on the
    /// blocking pool, [`prepare_ahead`] chunks at a time, in order — so they overlap with the driver's own
    /// sequential work (dedup, batching, accounting) on another core. A destination that panics
    /// in `map` rejects that event instead of taking the run down.
    fn prepared<'s>(
        &self,
        input: std::pin::Pin<Box<dyn Stream<Item = Input> + Send + 's>>,
    ) -> std::pin::Pin<Box<dyn Stream<Item = Vec<Prepared>> + Send + 's>> {
        let preparer = Preparer {
            dest: self.dest.clone(),
            info: Arc::new(self.info.clone()),
            keep_event: self.dead_letter.is_some(),
        };
        let clock = self.clock.clone();
        let chunks = input.ready_chunks(PREPARE_CHUNK).map(move |chunk| {
            let p = preparer.clone();
            let now = clock.now();
            async move {
                let inline = chunk.len() < PREPARE_INLINE;
                let run = move || {
                    // one result per input but for envelopes: sized once, not grown
                    let mut out = Vec::with_capacity(chunk.len());
                    for i in chunk {
                        p.prepare_input(i, now, &mut out);
                    }
                    out
                };
                if inline {
                    run()
                } else {
                    tokio::task::spawn_blocking(run)
                        .await
                        .expect("prepare catches panics")
                }
            }
        });
        // chunks, not their events one by one: the driver reads each prepared event where it
        // lies (flattened, every event was moved through the stream's adapters, ~200 bytes a
        // time written by another core: a quarter of the driver thread's `memmove` samples)
        Box::pin(chunks.buffered(prepare_ahead()))
    }

    async fn drive(&self, input: impl Stream<Item = Input> + Send) -> DeliveryResult {
        self.drive_inner(Box::pin(input), None).await
    }

    async fn drive_inner(
        &self,
        input: std::pin::Pin<Box<dyn Stream<Item = Input> + Send + '_>>,
        abort: Option<Abort>,
    ) -> DeliveryResult {
        let mut input = self.prepared(input);
        let mut d = Driver::new(self, abort.clone());
        let mut input_done = false;
        let mut tick =
            tokio::time::interval(self.config.flush_interval.max(Duration::from_millis(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let abort_wait = aborted_at_last(abort);
        tokio::pin!(abort_wait);
        let mut aborted = false;
        loop {
            if input_done && d.tasks.is_empty() && d.open.is_empty() {
                break;
            }
            tokio::select! {
                biased;
                _ = &mut abort_wait, if !aborted => {
                    aborted = true;
                    break;
                }
                Some(joined) = d.tasks.join_next_with_id(), if !d.tasks.is_empty() => {
                    d.joined(joined);
                }
                _ = tick.tick(), if !d.open.is_empty() => {
                    d.flush_old().await;
                }
                chunk = input.next(), if !input_done => {
                    // a chunk (at most PREPARE_CHUNK events, ~1 ms of the driver's work) in one
                    // run before looking at timers and tasks again
                    match chunk {
                        Some(mut chunk) => {
                            for i in &mut chunk {
                                d.process(i).await;
                            }
                        }
                        None => {
                            input_done = true;
                            d.flush_all().await;
                        }
                    }
                }
            }
        }
        if aborted {
            d.abort_all("shutdown: the drain timeout passed before delivery");
            while !input_done && let Some(chunk) = input.next().await {
                for i in chunk {
                    d.report.input += 1;
                    let outcome = Outcome::Expired {
                        reason: "shutdown: the drain timeout passed before delivery".into(),
                        status: None,
                    };
                    d.emit(
                        (i.line, i.batch_index),
                        i.message_id.as_ref().map(prepare::IdText::as_str),
                        outcome,
                        0,
                        None,
                        i.event,
                        i.raw.as_deref(),
                    );
                }
            }
        }
        d.finish()
    }
}

/// A running long-lived runtime (see [`Runtime::start`]).
#[derive(Debug)]
pub struct RuntimeHandle {
    tx: mpsc::Sender<Input>,
    abort: tokio::sync::watch::Sender<bool>,
    join: tokio::task::JoinHandle<DeliveryResult>,
    next_line: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

/// The runtime was shut down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the delivery runtime has stopped")]
pub struct Stopped;

/// Why [`RuntimeHandle::try_submit`] did not queue a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// The input queue is full: try again shortly.
    #[error("the delivery runtime is busy")]
    Busy,
    /// The runtime was shut down.
    #[error("the delivery runtime has stopped")]
    Stopped,
}

impl RuntimeHandle {
    /// Queue a message (waits while the runtime's input queue is full).
    pub async fn submit(&self, msg: Message) -> Result<(), Stopped> {
        let line = self
            .next_line
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx
            .send(Input {
                line,
                batch_index: None,
                raw: None,
                body: Body::Parsed(Box::new(Ok(msg))),
            })
            .await
            .map_err(|_| Stopped)
    }
    /// Queue a message without waiting: `Err(Busy)` when the input queue is full (answer the
    /// client 503 and let it retry), `Err(Stopped)` after shutdown.
    pub fn try_submit(&self, msg: Message) -> Result<(), SubmitError> {
        let line = self
            .next_line
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.tx
            .try_send(Input {
                line,
                batch_index: None,
                raw: None,
                body: Body::Parsed(Box::new(Ok(msg))),
            })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SubmitError::Busy,
                mpsc::error::TrySendError::Closed(_) => SubmitError::Stopped,
            })
    }
    /// Queue a parsed record (a parse error ends `rejected`).
    pub async fn submit_record(&self, rec: Record) -> Result<(), Stopped> {
        self.tx
            .send(Input {
                line: rec.line,
                batch_index: rec.batch_index,
                raw: None,
                body: Body::Parsed(Box::new(rec.result)),
            })
            .await
            .map_err(|_| Stopped)
    }
    /// Stop taking input, deliver what is queued for at most `drain_timeout` (real time), then
    /// end everything still undelivered as `expired`. Returns the counts of the whole run.
    pub async fn shutdown(self, drain_timeout: Duration) -> DeliveryReport {
        drop(self.tx);
        let mut join = self.join;
        match tokio::time::timeout(drain_timeout, &mut join).await {
            Ok(r) => r.map(|r| r.report).unwrap_or_default(),
            Err(_) => {
                self.abort.send_replace(true);
                join.await.map(|r| r.report).unwrap_or_default()
            }
        }
    }
}

/// An event whose payloads are on their way.
struct Pending {
    line: (usize, Option<usize>),
    message_id: Box<str>,
    /// Kept only when a dead-letter file is written.
    event: Option<serde_json::Value>,
    remaining: u32,
    worst: Option<End>,
    attempts: u32,
    last_status: Option<u16>,
    /// When the retry budget started, when a journal says so.
    first: Option<std::time::SystemTime>,
    /// Attempts an earlier run made, and when it had the next one due (resumed from a journal).
    resume: (u32, Option<std::time::SystemTime>),
}

struct OpenBatch {
    payloads: Vec<Payload>,
    items: Vec<Item>,
    bytes: usize,
    started: Instant,
}

struct Driver<'a> {
    rt: &'a Runtime,
    shared: Arc<Shared>,
    max_events: usize,
    /// The partner's own limit of payloads per request (never passed).
    partner_max_events: usize,
    max_bytes: usize,
    /// Payloads of the largest batch sent so far (at most `max_events`): a new batch starts
    /// with room for that many (see [`Driver::add`]).
    batch_room: usize,
    slots: Vec<Option<Pending>>,
    free: Vec<u32>,
    open: HashMap<Cow<'static, str>, OpenBatch>,
    tasks: JoinSet<BatchDone>,
    /// Slots of each running batch, to account for them if a task panics, and its payload bytes.
    task_slots: HashMap<tokio::task::Id, (Vec<u32>, usize)>,
    /// Payload bytes of the running batches (against `max_pending_bytes`).
    pending_bytes: usize,
    report: DeliveryReport,
    events: Vec<EventOutcome>,
    dead_letter: Option<DeadLetter>,
    warnings: Vec<String>,
    /// Set by [`RuntimeHandle::shutdown`] when the drain timeout passes.
    abort: Option<Abort>,
}

/// Turned `true` when a shutdown's drain timeout passes.
type Abort = tokio::sync::watch::Receiver<bool>;

/// Waits until `abort` is set; never, without one (or once its sender is gone unset).
async fn aborted_at_last(abort: Option<Abort>) {
    if let Some(mut a) = abort
        && a.wait_for(|set| *set).await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

impl<'a> Driver<'a> {
    /// Whether a shutdown's drain timeout has passed.
    fn aborted(&self) -> bool {
        self.abort.as_ref().is_some_and(|a| *a.borrow())
    }

    fn new(rt: &'a Runtime, abort: Option<Abort>) -> Driver<'a> {
        let limiter = rt
            .config
            .rate_limit
            .and_then(std::num::NonZeroU32::new)
            .map(send::Pacer::new);
        let shared = Arc::new(Shared {
            dest: rt.dest.clone(),
            http: rt.http.clone(),
            clock: rt.clock.clone(),
            retry: rt.config.retry,
            inflight: Arc::new(Semaphore::new(rt.config.concurrency.max(1))),
            limiter,
            slug: rt.info.slug,
            journal: rt.journal.clone(),
        });
        let mut warnings = Vec::new();
        let dead_letter = rt
            .dead_letter
            .as_ref()
            .and_then(|p| match DeadLetter::open(p) {
                Ok(d) => Some(d),
                Err(e) => {
                    warnings.push(format!("dead-letter file {}: {e}", p.display()));
                    None
                }
            });
        let max_events = rt
            .info
            .batch
            .events
            .min(rt.config.batch_size.unwrap_or(usize::MAX))
            .max(1);
        Driver {
            rt,
            shared,
            max_events,
            partner_max_events: rt.info.batch.events.max(1),
            max_bytes: rt.info.batch.bytes.max(1),
            batch_room: 0,
            slots: Vec::new(),
            free: Vec::new(),
            open: HashMap::new(),
            tasks: JoinSet::new(),
            task_slots: HashMap::new(),
            pending_bytes: 0,
            report: DeliveryReport::default(),
            events: Vec::new(),
            dead_letter,
            warnings,
            abort,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
        &mut self,
        at: (usize, Option<usize>),
        message_id: Option<&str>,
        outcome: Outcome,
        attempts: u32,
        last_status: Option<u16>,
        event: Option<serde_json::Value>,
        raw: Option<&str>,
    ) {
        self.report.record(&outcome);
        if outcome.is_problem()
            && let Some(dl) = &mut self.dead_letter
        {
            let entry = DeadLetterEntry {
                line: at.0,
                batch_index: at.1,
                message_id,
                outcome: &outcome,
                attempts,
                last_status,
                event,
                raw,
            };
            if let Err(e) = dl.write(&entry) {
                self.warnings
                    .push(format!("dead-letter file {}: {e}", dl.path().display()));
                self.dead_letter = None;
            }
        }
        if self.rt.collect || self.rt.on_outcome.is_some() || self.rt.journal.is_some() {
            let eo = EventOutcome {
                line: at.0,
                batch_index: at.1,
                message_id: message_id.map(str::to_string),
                outcome,
                attempts,
                last_status,
            };
            if let Some(j) = &self.rt.journal {
                j.terminal(&eo);
            }
            if let Some(f) = &self.rt.on_outcome {
                f(&eo);
            }
            if self.rt.collect {
                self.events.push(eo);
            }
        }
    }

    /// Take one prepared event where it lies in its chunk (its parts are moved out, not the whole).
    async fn process(&mut self, input: &mut Prepared) {
        self.report.input += 1;
        let line = (input.line, input.batch_index);
        let earlier = match &self.rt.journal {
            Some(j) => j.earlier(input.line, input.batch_index),
            None => Earlier::New,
        };
        if let Earlier::Finished(eo) = earlier {
            // reached in an earlier run: counted and reported, not redone (no dead letter)
            self.report.record(&eo.outcome);
            if let Some(f) = &self.rt.on_outcome {
                f(&eo);
            }
            if self.rt.collect {
                self.events.push(eo);
            }
            return;
        }
        let id_str = input.message_id.as_ref().map(prepare::IdText::as_str);
        // the step taken out, a placeholder left for the chunk to drop
        let after = match std::mem::replace(&mut input.step, Step::Early(Outcome::Delivered)) {
            Step::Early(outcome) => {
                let ev = input.event.take();
                self.emit(line, id_str, outcome, 0, None, ev, input.raw.as_deref());
                return;
            }
            Step::Candidate(after) => after,
        };
        let now = self.rt.clock.now();
        // borrowed until the event is pending, then copied once, on this thread (so it is freed
        // where it was allocated)
        let message_id = id_str.unwrap_or_default();
        let resume = match &earlier {
            Earlier::Unfinished {
                attempts, next_at, ..
            } => (*attempts, *next_at),
            _ => (0, None),
        };
        let passed = matches!(
            earlier,
            Earlier::Unfinished {
                dedup_passed: true,
                ..
            }
        );
        let fresh = passed
            || self.rt.dedup.lock().expect("dedup lock").insert_if_absent(
                &self.rt.config.source,
                message_id,
                now,
            );
        if !fresh {
            self.emit(line, id_str, Outcome::Duplicate, 0, None, None, None);
            return;
        }
        let payloads = match after {
            AfterDedup::Filtered(reason) => {
                self.emit(
                    line,
                    id_str,
                    Outcome::Filtered { reason },
                    0,
                    None,
                    None,
                    None,
                );
                return;
            }
            AfterDedup::Rejected(reason) => {
                let ev = input.event.take();
                self.emit(
                    line,
                    id_str,
                    Outcome::Rejected { reason },
                    0,
                    None,
                    ev,
                    None,
                );
                return;
            }
            AfterDedup::Send(p) => p,
        };
        let first = self
            .rt
            .journal
            .as_ref()
            .map(|j| j.accepted(line.0, line.1, message_id, now));
        // accepted by an earlier run whose budget has passed since, or whose next attempt was
        // due only after the budget
        let budget = self.rt.config.retry.max_retry_duration;
        if let Some(f) = first
            && (send::later(f, budget) <= now
                || resume.1.is_some_and(|n| n > send::later(f, budget)))
        {
            // accepted by an earlier run whose budget has passed since
            let reason = "retry budget ran out before a restart resumed it".to_string();
            let ev = input.event.take();
            let outcome = Outcome::Expired {
                reason,
                status: None,
            };
            self.emit(line, id_str, outcome, 0, None, ev, None);
            return;
        }
        let pending = Pending {
            // the budget of an event accepted by an earlier run counts from that acceptance;
            // a new event's from its first attempt, as without a journal (its batch may wait
            // for a free slot behind batches that retry for hours)
            first: first.filter(|f| *f < now || resume.0 > 0),
            line,
            message_id: message_id.into(),
            event: input.event.take(),
            remaining: payloads.len() as u32,
            worst: None,
            attempts: resume.0,
            last_status: None,
            resume,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(pending);
                s
            }
            None => {
                self.slots.push(Some(pending));
                (self.slots.len() - 1) as u32
            }
        };
        // An event's payloads for one route (an order and its products) travel in one request:
        // a batch that cannot take them all is sent first, and the batch size is checked after
        // the event's last payload on the route — only the partner's own limits split them.
        let mut rest = payloads.into_iter();
        // the distinct routes of this event's payloads added so far, kept only while more
        // follow; inline, as an event's payloads take a route or two (allocated, this was ~4,000
        // allocations per 20,000 peer events, one per order with products)
        let mut earlier: smallvec::SmallVec<[Cow<'static, str>; 4]> = smallvec::SmallVec::new();
        while let Some(p) = rest.next() {
            let later = rest
                .as_slice()
                .iter()
                .filter(|q| q.route == p.route)
                .count();
            // the route's first payload of this event checks that the batch has room for all
            // of the event's payloads on it
            let first_on_route = !earlier.contains(&p.route);
            if first_on_route && !rest.as_slice().is_empty() {
                earlier.push(p.route.clone());
            }
            self.add(slot, p, later, first_on_route).await;
        }
    }

    /// Add one payload to its route's open batch. `later`: payloads of this event that follow
    /// on this route; `first_on_route`: this is the event's first payload on the route, so the
    /// open batch is sent first if it cannot take all `1 + later` of them. The batch size may
    /// close the batch only after the event's last payload on the route (`later == 0`).
    ///
    /// One lookup of the route for most payloads, and no copy of it: the route is copied only
    /// to start a batch or to send one (for GA4 a route is a client id, a `String`).
    async fn add(&mut self, slot: u32, p: Payload, later: usize, first_on_route: bool) {
        let len = p.len();
        let (mut max_events, mut max_bytes) = (self.max_events, self.max_bytes);
        let mut partner_max = self.partner_max_events;
        if !self.rt.info.route_batch.is_empty() {
            // a route with tighter limits of its own (Amplitude's Group Identify: 1,024)
            let l = self.rt.info.limits_for(&p.route);
            partner_max = l.events.max(1);
            max_events = max_events.min(partner_max);
            max_bytes = l.bytes.max(1);
        }
        // the open batch must be sent before this payload joins
        let full = |b: &OpenBatch| {
            !b.payloads.is_empty()
                && (b.bytes + len > max_bytes
                    || (first_on_route && b.payloads.len() + 1 + later > max_events))
        };
        let mut item = Item::new(slot);
        if let Some(p) = self.slots[slot as usize].as_ref() {
            item.first = p.first;
            item.at = p.line;
            item.attempts = p.resume.0;
            item.not_before = p.resume.1;
        }
        // whether the batch is to be sent once this payload is in
        let close = move |b: &OpenBatch| {
            let n = b.payloads.len();
            n >= partner_max || b.bytes >= max_bytes || (later == 0 && n >= max_events)
        };
        // the payload joins `b`; the route to send now, if the batch is to go
        let join = |b: &mut OpenBatch, p: Payload, item: Item| {
            b.bytes += len;
            b.payloads.push(p);
            b.items.push(item);
            close(b).then(|| b.payloads[b.payloads.len() - 1].route.clone())
        };
        let (p, item) = match self.open.get_mut(&p.route) {
            Some(b) if !full(b) => {
                if let Some(route) = join(b, p, item) {
                    self.dispatch(route).await;
                }
                return;
            }
            Some(_) => {
                self.dispatch(p.route.clone()).await;
                (p, item)
            }
            None => (p, item),
        };
        // a batch starts with room for as many payloads as the largest sent so far (16 at first):
        // growing one to 2,000 from empty took 11 reallocations, and from 256 three, each a copy
        // of all payloads so far; a destination that keeps many routes open (GA4, a route per
        // client) sends small batches, so its batches start small
        let cap = self.batch_room.max(16).min(max_events).min(partner_max);
        let route = p.route.clone();
        let b = self.open.entry(route).or_insert_with(|| OpenBatch {
            payloads: Vec::with_capacity(cap),
            items: Vec::with_capacity(cap),
            bytes: 0,
            started: Instant::now(),
        });
        if let Some(route) = join(b, p, item) {
            self.dispatch(route).await;
        }
    }

    async fn dispatch(&mut self, route: Cow<'static, str>) {
        let Some(b) = self.open.remove(&route) else {
            return;
        };
        self.batch_room = self.batch_room.max(b.payloads.len()).min(self.max_events);
        let config = &self.rt.config;
        let (max_batches, max_bytes) =
            (config.max_pending_batches.max(1), config.max_pending_bytes);
        while !self.aborted()
            && (self.tasks.len() >= max_batches
                || (!self.tasks.is_empty() && self.pending_bytes + b.bytes > max_bytes))
        {
            // a shutdown's abort must be seen here too: the batches waited for may be retrying
            // for hours, and the run's loop, which watches for it, is not polled meanwhile
            let joined = tokio::select! {
                biased;
                _ = aborted_at_last(self.abort.clone()) => break,
                j = self.tasks.join_next_with_id() => j,
            };
            match joined {
                Some(j) => self.joined(j),
                None => break,
            }
        }
        if self.aborted() {
            // after a shutdown's abort no batch starts: kept open for the run's loop, which
            // ends its events as expired
            self.open.insert(route, b);
            return;
        }
        let slots: Vec<u32> = b.items.iter().map(|i| i.slot).collect();
        let handle = self.tasks.spawn(send::run_batch(
            self.shared.clone(),
            route,
            b.payloads,
            b.items,
        ));
        self.task_slots.insert(handle.id(), (slots, b.bytes));
        self.pending_bytes += b.bytes;
        while let Some(j) = self.tasks.try_join_next_with_id() {
            self.joined(j);
        }
    }

    async fn flush_all(&mut self) {
        let routes: Vec<_> = self.open.keys().cloned().collect();
        for r in routes {
            self.dispatch(r).await;
        }
    }

    async fn flush_old(&mut self) {
        let every = self.rt.config.flush_interval;
        let routes: Vec<_> = self
            .open
            .iter()
            .filter(|(_, b)| b.started.elapsed() >= every)
            .map(|(r, _)| r.clone())
            .collect();
        for r in routes {
            self.dispatch(r).await;
        }
    }

    fn joined(&mut self, j: Result<(tokio::task::Id, BatchDone), tokio::task::JoinError>) {
        match j {
            Ok((id, done)) => {
                if let Some((_, bytes)) = self.task_slots.remove(&id) {
                    self.pending_bytes -= bytes;
                }
                self.report.requests += done.requests;
                self.report.retries += done.retries;
                self.report.bytes_sent += done.bytes_sent;
                for d in done.done {
                    self.payload_done(d.slot, d.end, d.attempts, d.last_status);
                }
            }
            Err(e) => {
                let reason = if e.is_panic() {
                    "internal error: the destination panicked while sending".to_string()
                } else {
                    "shutdown: the drain timeout passed before delivery".to_string()
                };
                if let Some((slots, bytes)) = self.task_slots.remove(&e.id()) {
                    self.pending_bytes -= bytes;
                    for s in slots {
                        let end = if e.is_panic() {
                            End::Failed {
                                kind: crate::ErrorKind::Client,
                                reason: reason.clone(),
                            }
                        } else {
                            End::Expired {
                                reason: reason.clone(),
                            }
                        };
                        self.payload_done(s, end, 0, None);
                    }
                }
            }
        }
    }

    fn payload_done(&mut self, slot: u32, end: End, attempts: u32, status: Option<u16>) {
        let Some(p) = self.slots.get_mut(slot as usize).and_then(Option::as_mut) else {
            return;
        };
        p.remaining = p.remaining.saturating_sub(1);
        p.attempts = p.attempts.max(attempts);
        if status.is_some() {
            p.last_status = status;
        }
        p.worst = match (p.worst.take(), end) {
            (Some(w @ End::Failed { .. }), _) => Some(w),
            (_, e @ End::Failed { .. }) => Some(e),
            (Some(w @ End::Expired { .. }), _) => Some(w),
            (_, e @ End::Expired { .. }) => Some(e),
            // one payload delivered makes the event delivered; all of them filtered, filtered
            (Some(w @ End::Delivered), _) => Some(w),
            (_, End::Delivered) => Some(End::Delivered),
            (_, e @ End::Filtered { .. }) => Some(e),
        };
        if p.remaining > 0 {
            return;
        }
        let p = self.slots[slot as usize].take().expect("slot is live");
        self.free.push(slot);
        let outcome = match p.worst {
            None | Some(End::Delivered) => Outcome::Delivered,
            Some(End::Filtered { reason }) => Outcome::Filtered { reason },
            Some(End::Failed { kind, reason }) => Outcome::Failed {
                kind,
                reason,
                status: p.last_status,
            },
            Some(End::Expired { reason }) => Outcome::Expired {
                reason,
                status: p.last_status,
            },
        };
        self.emit(
            p.line,
            Some(&p.message_id),
            outcome,
            p.attempts,
            p.last_status,
            p.event,
            None,
        );
    }

    /// End every event still on its way as expired (shutdown).
    fn abort_all(&mut self, reason: &str) {
        self.tasks.abort_all();
        self.open.clear();
        self.task_slots.clear();
        self.pending_bytes = 0;
        let live: Vec<u32> = (0..self.slots.len() as u32)
            .filter(|s| self.slots[*s as usize].is_some())
            .collect();
        for s in live {
            if let Some(p) = self.slots[s as usize].as_mut() {
                // one last result for the event; a payload that already failed still decides
                p.remaining = 1;
            }
            self.payload_done(
                s,
                End::Expired {
                    reason: reason.to_string(),
                },
                0,
                None,
            );
        }
    }

    fn finish(mut self) -> DeliveryResult {
        if let Some(dl) = &mut self.dead_letter
            && let Err(e) = dl.flush()
        {
            self.warnings
                .push(format!("dead-letter file {}: {e}", dl.path().display()));
        }
        self.events.sort_by_key(|e| (e.line, e.batch_index));
        DeliveryResult {
            report: self.report,
            events: self.events,
            warnings: self.warnings,
        }
    }
}

/// The queue of input chunks as a stream of inputs.
fn async_stream_of(rx: &mut mpsc::Receiver<Vec<Input>>) -> impl Stream<Item = Input> + Send + '_ {
    futures::stream::unfold(rx, |rx| async move {
        rx.recv()
            .await
            .map(|chunk| (futures::stream::iter(chunk), rx))
    })
    .flatten()
}

/// Read blocks kept for reuse at most (8 MiB of 256 KiB blocks; the lines in flight between
/// the reader and the driver span ~14 of them).
const SPENT_BLOCKS: usize = 32;

/// A block of at least `len` initialised bytes: the oldest spent block when no line cut from it
/// is held any more (its old bytes are read over), else a fresh zeroed one.
fn reusable_block(
    spent: &mut std::collections::VecDeque<bytes::BytesMut>,
    len: usize,
) -> bytes::BytesMut {
    if let Some(oldest) = spent.front_mut()
        && oldest.try_reclaim(len)
        && let Some(mut block) = spent.pop_front()
    {
        let all = block.capacity();
        // SAFETY: `try_reclaim` gives back the block's own allocation (it never allocates),
        // made by `BytesMut::zeroed` with every byte of its capacity set and only written since
        // (`vec![0; n]` has capacity `n`): all `all` bytes are initialised.
        unsafe { block.set_len(all) };
        return block;
    }
    bytes::BytesMut::zeroed(len)
}

/// Read `reader` into chunks of inputs on the calling (blocking) thread.
fn read_inputs<R: std::io::BufRead>(
    reader: R,
    tx: mpsc::Sender<Vec<Input>>,
) -> std::io::Result<()> {
    let mut chunk = Vec::new();
    let result = read_chunks(reader, &tx, &mut chunk);
    // what was read before an error is still delivered
    if !chunk.is_empty() {
        let _ = tx.blocking_send(chunk);
    }
    result
}

fn read_chunks<R: std::io::BufRead>(
    mut reader: R,
    tx: &mpsc::Sender<Vec<Input>>,
    chunk: &mut Vec<Input>,
) -> std::io::Result<()> {
    const CHUNK: usize = 256;
    // Lines are read into large blocks and handed on as slices of them (`Bytes`, shared, no
    // copy): before, each line was copied out of the reader's buffer and then into a `Vec` of
    // its own, one allocation per event, freed on another thread.
    const BLOCK: usize = 256 << 10;
    // `block[..filled]` holds what was read and not yet handed out; the rest of it is zeroed
    // once, when the block is made, and read into
    let mut block = bytes::BytesMut::zeroed(BLOCK);
    // Blocks read to their end, oldest first: once no line cut from one is held any more, it
    // is read into again instead of a fresh block being allocated and zeroed
    let mut spent: std::collections::VecDeque<bytes::BytesMut> = Default::default();
    let mut filled = 0usize;
    let mut line_no = 0usize;
    let mut first = true;
    // where the search for the next newline resumes in `block`
    let mut scanned = 0usize;
    let mut eof = false;
    loop {
        let (end, next) = match memchr::memchr(b'\n', &block[scanned..filled]) {
            Some(i) => (scanned + i, scanned + i + 1),
            None if eof => {
                if filled == 0 {
                    break;
                }
                (filled, filled)
            }
            None => {
                scanned = filled;
                if filled == block.len() {
                    // a fresh block (the old one lives on in the lines handed out); the
                    // unfinished line moves with it
                    let mut fresh = reusable_block(&mut spent, BLOCK.max(2 * filled));
                    fresh[..filled].copy_from_slice(&block[..filled]);
                    block.clear();
                    if spent.len() == SPENT_BLOCKS {
                        // the oldest is still held by lines in flight: left to them
                        spent.pop_front();
                    }
                    spent.push_back(std::mem::replace(&mut block, fresh));
                }
                let n = loop {
                    match reader.read(&mut block[filled..]) {
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        other => break other,
                    }
                }?;
                filled += n;
                eof = n == 0;
                continue;
            }
        };
        let line = block.split_to(next).freeze();
        filled -= next;
        scanned = 0;
        line_no += 1;
        let t = crate::json::trim_ws(&line[..end]);
        if t.is_empty() {
            continue;
        }
        let start = t.as_ptr() as usize - line.as_ptr() as usize;
        let t = line.slice(start..start + t.len());
        if first {
            first = false;
            let complete = serde_json::from_slice::<serde::de::IgnoredAny>(&t).is_ok();
            if !complete && t.first() == Some(&b'{') {
                // one pretty-printed document: read it whole
                let mut all = t.to_vec();
                all.extend_from_slice(&line[start + t.len()..]);
                all.extend_from_slice(&block[..filled]);
                reader.read_to_end(&mut all)?;
                let items: Vec<Input> = parse_document(&all)
                    .into_iter()
                    .map(|r| Input {
                        line: r.line,
                        batch_index: r.batch_index,
                        raw: None,
                        body: Body::Parsed(Box::new(r.result)),
                    })
                    .collect();
                let _ = tx.blocking_send(items);
                return Ok(());
            }
        }
        chunk.push(Input {
            line: line_no,
            batch_index: None,
            raw: None,
            body: Body::Line(t),
        });
        if chunk.len() >= CHUNK {
            let full = std::mem::replace(chunk, Vec::with_capacity(CHUNK));
            if tx.blocking_send(full).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A spent block with lines cut from it (as the reader cuts them), kept by the caller.
    fn spent_block(len: usize, fill: u8) -> (bytes::BytesMut, Vec<bytes::Bytes>) {
        let mut block = bytes::BytesMut::zeroed(len);
        block.fill(fill);
        let lines = (0..4).map(|_| block.split_to(len / 4).freeze()).collect();
        (block, lines)
    }

    #[test]
    fn a_read_block_is_reused_once_no_line_cut_from_it_is_held() {
        let mut spent = std::collections::VecDeque::new();
        let (block, lines) = spent_block(1024, b'x');
        let base = lines[0].as_ptr();
        spent.push_back(block);

        // a line still held: the block is left alone, its bytes untouched
        let held = lines[3].clone();
        drop(lines);
        let fresh = reusable_block(&mut spent, 1024);
        assert_ne!(fresh.as_ptr(), base);
        assert!(fresh.iter().all(|&b| b == 0));
        assert_eq!(spent.len(), 1);
        assert!(held.iter().all(|&b| b == b'x'));

        // the last line dropped: the same memory comes back at its full length, to read over
        drop(held);
        let reused = reusable_block(&mut spent, 1024);
        assert_eq!(reused.as_ptr(), base);
        assert_eq!(reused.len(), 1024);
        assert!(spent.is_empty());
    }

    #[test]
    fn a_spent_block_too_small_for_a_long_line_is_kept_for_a_usual_one() {
        let mut spent = std::collections::VecDeque::new();
        let (block, lines) = spent_block(1024, b'x');
        drop(lines);
        spent.push_back(block);
        let bigger = reusable_block(&mut spent, 4096);
        assert_eq!(bigger.len(), 4096);
        assert_eq!(spent.len(), 1);
        assert_eq!(reusable_block(&mut spent, 1024).len(), 1024);
        assert!(spent.is_empty());
    }
}
