//! `destkit replay --destination NAME --input ARCHIVE`: resend history with the original event
//! times, rate-limited, resumable.
//!
//! - Event times are never rewritten: destinations send each event's own `timestamp`, and a
//!   partner's historical limits are the destination's `map` (too-old events end `filtered` or
//!   `rejected` with the reason).
//! - `--from`/`--to` (RFC 3339) keep only events whose event time is in `[from, to)`; events
//!   without a readable time go through (and end `rejected`).
//! - `--rate N` (events/s) paces submissions on the runtime's clock: event *k* is not handed over
//!   before `start + k/N`.
//! - Resumable: the cursor file (`--cursor`, default `ARCHIVE.cursor`) holds the last input line
//!   up to which every event has a final outcome; a restart skips lines up to it. On Ctrl-C or
//!   SIGTERM, replay stops reading, lets in-flight deliveries finish within `--drain-timeout`,
//!   writes the cursor and exits 130. Events cut off by the drain timeout are not final: they
//!   are sent again on resume. After a hard kill (SIGKILL) the cursor is the last one written
//!   (every 200 ms at most), so events in flight at that moment may be sent again; partners
//!   de-duplicate by messageId.
//!
//! Exit status: 0 when no event ended rejected, failed or expired; 1 when some did; 2 for bad
//! usage, unreadable input or a cursor of another archive; 130 when interrupted.

use crate::settings;
use destination_kit::event::{Message, Record};
use destination_kit::outcome::Outcome;
use destination_kit::runtime::{Clock, DeliveryConfig, EventOutcome, Runtime, SystemClock};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;

/// Arguments of `destkit replay`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Destination slug.
    #[arg(long)]
    pub destination: String,
    /// The archive: JSON lines, one message per line.
    #[arg(long)]
    pub input: PathBuf,
    /// Most events handed to the destination per second (`50` or `50/s`).
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Only events at or after this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    /// Only events before this time (RFC 3339).
    #[arg(long, value_parser = parse_time)]
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    /// The cursor file (default: ARCHIVE.cursor).
    #[arg(long)]
    pub cursor: Option<PathBuf>,
    /// The partner's base URL; without it the destination's built-in mock partner is used.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Settings: a JSON file or inline JSON (else `DESTKIT_<DEST>_<KEY>` variables).
    #[arg(long)]
    pub settings: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Append undelivered events here (JSON lines).
    #[arg(long)]
    pub dead_letter: Option<PathBuf>,
    /// The retry budget per event (e.g. `4h`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub max_retry_duration: Option<Duration>,
    /// How long an interrupt waits for in-flight deliveries (default 30s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub drain_timeout: Duration,
    /// In-flight requests.
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Payloads per request (1 = no batching).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// No summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Keep crash-safe state here (see `destkit deliver --state`): after a hard kill, events
    /// past the cursor that already finished are not sent again and unfinished ones keep their
    /// retry budget; the de-duplication window survives restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

/// The slowest `--rate`: one event every 1,000 seconds.
const MIN_RATE: f64 = 0.001;

fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches("/s");
    match n.parse::<f64>() {
        Ok(r) if r >= MIN_RATE && r.is_finite() => Ok(r),
        Ok(r) if r > 0.0 && r.is_finite() => Err(format!(
            "at least {MIN_RATE} events per second (one every 1,000 s)"
        )),
        _ => Err(format!(
            "expected events per second like 50 or 50/s, got {s:?}"
        )),
    }
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&chrono::Utc))
        .map_err(|e| format!("expected an RFC 3339 time like 2026-01-02T00:00:00Z: {e}"))
}

/// A future that resolves on Ctrl-C (SIGINT) or SIGTERM. The handlers are installed when this
/// is called, not when the future is first polled, so a signal right after start is not lost.
pub fn stop_signal() -> impl std::future::Future<Output = ()> + Send {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate()).ok();
        let int = signal(SignalKind::interrupt()).ok();
        async move {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(term) => {},
                _ = wait(int) => {},
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The replay cursor: the archive it belongs to and the last line whose outcome is final.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// The archive path as given.
    pub input: String,
    /// Every event on lines `1..=line` has a final outcome.
    pub line: usize,
}

impl Cursor {
    /// Read a cursor file; `Ok(None)` when it does not exist.
    pub fn load(path: &Path) -> Result<Option<Cursor>, String> {
        match std::fs::read_to_string(path) {
            Ok(t) => serde_json::from_str(&t)
                .map(Some)
                .map_err(|e| format!("cursor {}: unreadable: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("cursor {}: {e}", path.display())),
        }
    }
    /// Write it atomically (a temporary file renamed over the old one).
    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("cursor-tmp");
        std::fs::write(&tmp, serde_json::to_vec(self).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    }
}

/// Which lines are final: the watermark is the last line before the first one still pending.
#[derive(Debug, Default)]
pub struct Watermark {
    pending: BTreeSet<usize>,
    read_upto: usize,
}

impl Watermark {
    /// Start after `line` (a resumed run).
    pub fn after(line: usize) -> Self {
        Watermark {
            pending: BTreeSet::new(),
            read_upto: line,
        }
    }
    /// `line` was read and handed over for delivery.
    pub fn submitted(&mut self, line: usize) {
        self.pending.insert(line);
        self.read_upto = self.read_upto.max(line);
    }
    /// `line` was read and needs nothing (blank, outside the time range).
    pub fn skipped(&mut self, line: usize) {
        self.read_upto = self.read_upto.max(line);
    }
    /// `line` has its final outcome.
    pub fn done(&mut self, line: usize) {
        self.pending.remove(&line);
    }
    /// The last line up to which everything is final.
    pub fn line(&self) -> usize {
        match self.pending.first() {
            Some(&l) => l - 1,
            None => self.read_upto,
        }
    }
}

/// When event number `k` (0-based) may be handed over at `rate` events/s, from `start`.
pub fn pace(start: std::time::SystemTime, k: u64, rate: f64) -> std::time::SystemTime {
    // a time that does not fit (a huge k at a slow rate) is as good as never: a century on
    let far = Duration::from_secs(100 * 365 * 24 * 3600);
    let d = Duration::try_from_secs_f64(k as f64 / rate).unwrap_or(far);
    start
        .checked_add(d)
        .or_else(|| start.checked_add(far))
        .unwrap_or(start)
}

struct Tracker {
    mark: Watermark,
    cursor_path: PathBuf,
    input: String,
    written: usize,
    last_write: Instant,
    error: Option<String>,
}

impl Tracker {
    fn write(&mut self, force: bool) {
        let line = self.mark.line();
        if line == self.written && !force {
            return;
        }
        if !force && self.last_write.elapsed() < Duration::from_millis(200) {
            return;
        }
        let c = Cursor {
            input: self.input.clone(),
            line,
        };
        match c.store(&self.cursor_path) {
            Ok(()) => {
                self.written = line;
                self.last_write = Instant::now();
            }
            Err(e) => self.error = Some(format!("cursor {}: {e}", self.cursor_path.display())),
        }
    }
}

const SHUTDOWN_REASON: &str = "shutdown:";

/// Run `destkit replay`.
pub fn run(args: Args) -> ExitCode {
    let rt = match destination_kit::runtime::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit replay: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    destination_kit::runtime::block_on_worker(&rt, replay(args))
}

async fn replay(args: Args) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("destkit replay: {msg}");
        ExitCode::from(2)
    };
    let file = match tokio::fs::File::open(&args.input).await {
        Ok(f) => f,
        Err(e) => return fail(format!("{}: cannot read: {e}", args.input.display())),
    };
    if file.metadata().await.is_ok_and(|m| m.is_dir()) {
        return fail(format!(
            "{}: cannot read: it is a directory",
            args.input.display()
        ));
    }
    if let Some(p) = &args.dead_letter
        && super::same_file(&args.input, p)
    {
        return fail(format!(
            "--dead-letter {} is the archive: writing it would empty the archive before it is read",
            p.display()
        ));
    }
    let input_name = args.input.display().to_string();
    let cursor_path = args.cursor.clone().unwrap_or_else(|| {
        let mut p = args.input.clone().into_os_string();
        p.push(".cursor");
        PathBuf::from(p)
    });
    if super::same_file(&args.input, &cursor_path) {
        return fail(format!(
            "--cursor {} is the archive: writing it would overwrite the archive",
            cursor_path.display()
        ));
    }
    let resume_after = match Cursor::load(&cursor_path) {
        Ok(Some(c)) if c.input != input_name => {
            return fail(format!(
                "cursor {} belongs to {:?}, not {:?}; remove it or pass another --cursor",
                cursor_path.display(),
                c.input,
                input_name
            ));
        }
        Ok(Some(c)) => c.line,
        Ok(None) => 0,
        Err(e) => return fail(e),
    };
    // `DESTKIT_<DEST>_<KEY>` variables, overridden key by key by `--settings`
    let env = settings::from_env(&args.destination, std::env::vars());
    let user = match settings::from_arg(args.settings.as_deref()) {
        Ok(v) => settings::merge(env.clone(), v),
        Err(e) => return fail(e),
    };
    let (dest, mock) = match settings::configure_or_mock(
        &args.destination,
        user,
        &env,
        args.endpoint.as_deref(),
        args.endpoint.is_none(),
    )
    .await
    {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    if !args.quiet {
        if resume_after > 0 {
            eprintln!(
                "destkit replay: resuming after line {resume_after} (cursor {})",
                cursor_path.display()
            );
        }
        if let Some(m) = &mock {
            eprintln!(
                "destkit replay: no --endpoint, delivering to the built-in mock partner at {}",
                m.uri()
            );
        }
    }

    let mut config = DeliveryConfig::default().source(format!("replay:{input_name}"));
    if let Some(n) = args.concurrency {
        config = config.concurrency(n);
    }
    if let Some(n) = args.batch_size {
        config = config.batch_size(n);
    }
    if let Some(d) = args.max_retry_duration {
        config = config.max_retry_duration(d);
    }
    let tracker = Arc::new(Mutex::new(Tracker {
        mark: Watermark::after(resume_after),
        cursor_path: cursor_path.clone(),
        input: input_name.clone(),
        written: resume_after,
        last_write: Instant::now(),
        error: None,
    }));
    let interrupted = Arc::new(AtomicBool::new(false));
    let store = match &args.state {
        Some(dir) => {
            let opts = destination_kit::runtime::StateOptions {
                dedup_window: config.dedup_window,
                keep_done: config.dedup_window.max(Duration::from_secs(86_400)),
            };
            let store = match destination_kit::runtime::StateStore::open(dir, opts) {
                Ok(s) => s,
                Err(e) => return fail(e.to_string()),
            };
            let id = match std::fs::File::open(&args.input)
                .and_then(destination_kit::runtime::StateStore::content_identity)
            {
                Ok(id) => id,
                Err(e) => return fail(format!("{}: cannot read: {e}", args.input.display())),
            };
            let journal = match store.journal(&format!("replay/{}/{id:016x}", args.destination)) {
                Ok(j) => j,
                Err(e) => return fail(e.to_string()),
            };
            Some((store, Arc::new(journal)))
        }
        None => None,
    };
    let mut runtime = Runtime::new(dest, config);
    if let Some(p) = &args.dead_letter {
        runtime = runtime.with_dead_letter(p);
    }
    if let Some((_, journal)) = &store {
        runtime = runtime
            .with_dedup(Box::new(journal.dedup(&args.destination)))
            .with_journal(journal.clone());
    }
    let (t2, i2) = (tracker.clone(), interrupted.clone());
    runtime = runtime.on_outcome(move |o: &EventOutcome| {
        let cut_off = i2.load(Ordering::SeqCst)
            && matches!(&o.outcome, Outcome::Expired { reason, .. } if reason.starts_with(SHUTDOWN_REASON));
        let mut t = t2.lock().unwrap_or_else(|p| p.into_inner());
        if !cut_off {
            t.mark.done(o.line);
        }
        t.write(false);
    });
    let stop = stop_signal();
    let handle = runtime.start();
    let clock = SystemClock;
    let start = clock.now();

    tokio::pin!(stop);
    // a progress bar over the archive's bytes, only on a terminal
    let total = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = if !args.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut lines = tokio::io::BufReader::new(file);
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    let mut sent = 0u64;
    let mut outside = 0u64;
    let mut read_error = None;
    loop {
        buf.clear();
        let n = tokio::select! {
            biased;
            _ = &mut stop => { interrupted.store(true, Ordering::SeqCst); break; }
            r = lines.read_until(b'\n', &mut buf) => match r {
                Ok(n) => n,
                Err(e) => { read_error = Some(e.to_string()); break; }
            },
        };
        if n == 0 {
            break;
        }
        line_no += 1;
        bar.inc(n as u64);
        if line_no <= resume_after {
            continue;
        }
        let t = buf.trim_ascii();
        if t.is_empty() {
            tracker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .mark
                .skipped(line_no);
            continue;
        }
        let result = Message::from_slice(t);
        if let Ok(m) = &result
            && let Some(time) = m.event_time()
            && (args.from.is_some_and(|f| time < f) || args.to.is_some_and(|to| time >= to))
        {
            outside += 1;
            tracker
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .mark
                .skipped(line_no);
            continue;
        }
        if let Some(rate) = args.rate {
            let at = pace(start, sent, rate);
            tokio::select! {
                biased;
                _ = &mut stop => { interrupted.store(true, Ordering::SeqCst); break; }
                _ = clock.sleep_until(at) => {}
            }
        }
        tracker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .mark
            .submitted(line_no);
        sent += 1;
        // raced with the interrupt: when the partner keeps failing, the runtime stops taking
        // input (its running batches never make room) and a submit waits until they give up,
        // up to the retry budget; the line is then marked submitted but never done, so the
        // cursor stays before it
        let submitted = tokio::select! {
            biased;
            _ = &mut stop => { interrupted.store(true, Ordering::SeqCst); break; }
            r = handle.submit_record(Record {
                line: line_no,
                batch_index: None,
                result,
            }) => r,
        };
        if submitted.is_err() {
            break;
        }
    }
    bar.finish_and_clear();
    let was_interrupted = interrupted.load(Ordering::SeqCst);
    let drain = if was_interrupted {
        args.drain_timeout
    } else {
        Duration::from_secs(365 * 86_400)
    };
    if was_interrupted && !args.quiet {
        eprintln!(
            "destkit replay: interrupted; finishing in-flight deliveries (at most {})",
            humantime::format_duration(args.drain_timeout)
        );
    }
    let report = handle.shutdown(drain).await;
    if let Some((store, _)) = &store
        && let Err(e) = store.close()
    {
        return fail(e.to_string());
    }
    drop(mock);
    let (cursor_line, cursor_error) = {
        let mut t = tracker.lock().unwrap_or_else(|p| p.into_inner());
        t.write(true);
        (t.mark.line(), t.error.clone())
    };
    let mut out = serde_json::to_value(&report).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut out {
        m.insert("resumed_after".into(), json!(resume_after));
        m.insert("cursor".into(), json!(cursor_line));
        m.insert("outside_time_range".into(), json!(outside));
        m.insert("interrupted".into(), json!(was_interrupted));
    }
    if !args.quiet {
        eprintln!(
            "destkit replay: {} events: {} delivered, {} duplicate, {} filtered, {} rejected, {} failed, {} expired; {} requests, {} retries; {} outside --from/--to; cursor at line {}",
            report.input,
            report.delivered,
            report.duplicate,
            report.filtered,
            report.rejected,
            report.failed,
            report.expired,
            report.requests,
            report.retries,
            outside,
            cursor_line
        );
    }
    if let Some(p) = &args.report
        && let Err(e) = std::fs::write(p, serde_json::to_vec_pretty(&out).unwrap_or_default())
    {
        eprintln!("destkit replay: --report {}: {e}", p.display());
        return ExitCode::from(2);
    }
    if let Some(e) = read_error {
        return fail(format!("{}: read error: {e}", args.input.display()));
    }
    if let Some(e) = cursor_error {
        return fail(e);
    }
    if was_interrupted {
        if !args.quiet {
            eprintln!(
                "destkit replay: stopped; run the same command again to resume after line {cursor_line}"
            );
        }
        return ExitCode::from(130);
    }
    if report.has_problems() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use destination_kit::runtime::TestClock;
    use std::time::SystemTime;

    #[test]
    fn the_watermark_stops_before_the_first_pending_line() {
        let mut w = Watermark::after(3);
        assert_eq!(w.line(), 3);
        w.submitted(4);
        w.skipped(5);
        w.submitted(6);
        w.submitted(7);
        assert_eq!(w.line(), 3);
        w.done(6);
        assert_eq!(w.line(), 3);
        w.done(4);
        assert_eq!(w.line(), 6);
        w.done(7);
        assert_eq!(w.line(), 7);
        w.skipped(8);
        assert_eq!(w.line(), 8);
    }

    #[test]
    fn cursor_round_trips_through_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.cursor");
        assert_eq!(Cursor::load(&p).unwrap(), None);
        let c = Cursor {
            input: "a.jsonl".into(),
            line: 42,
        };
        c.store(&p).unwrap();
        assert_eq!(Cursor::load(&p).unwrap(), Some(c));
        std::fs::write(&p, "nope").unwrap();
        assert!(Cursor::load(&p).is_err());
    }

    #[tokio::test]
    async fn pacing_spreads_events_at_the_rate_on_the_clock() {
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let clock = TestClock::new(start);
        for k in 0..11 {
            clock.sleep_until(pace(start, k, 5.0)).await;
        }
        // 11 events at 5/s: the last one goes 2 s after the first
        assert_eq!(clock.elapsed(), Duration::from_secs(2));
    }

    #[test]
    fn rates_and_times_parse() {
        assert_eq!(parse_rate("50/s").unwrap(), 50.0);
        assert_eq!(parse_rate("2.5").unwrap(), 2.5);
        assert!(parse_rate("0").is_err() && parse_rate("fast").is_err());
        assert!(parse_time("2026-01-02T00:00:00Z").is_ok());
        assert!(parse_time("2026-01-02").is_err());
    }
}
