//! `destkit deliver`: deliver events from a file or stdin to one destination — its built-in mock
//! partner unless `--endpoint` is given — and print what became of every event.
//!
//! Settings come from `--settings` (a file or inline JSON) and from environment variables
//! `DESTKIT_<DEST>_<KEY>` (`DESTKIT_AMPLITUDE_API_KEY`); `--settings` wins over the environment,
//! which wins over the mock partner's settings. Exit status: 0 when no event ended rejected,
//! failed or expired; 1 when some did; 2 for bad usage, bad settings and unreadable input.

use crate::settings;
use destination_kit::DeliveryReport;
use destination_kit::runtime::{
    DeliveryConfig, DeliveryResult, Runtime, StateJournal, StateOptions, StateStore,
};
use destinations::registry::Entry;
use serde_json::{Map, Value};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `destkit deliver` (**contract**).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Destination slug (`webhook`, `ga4`, `amplitude`, `mixpanel`, `braze`, `intercom`,
    /// `adobe-media`).
    #[arg(long)]
    pub destination: String,
    /// Events: JSON lines, one message, or a `{"batch": [...]}` document; `-` for stdin.
    #[arg(long)]
    pub input: String,
    /// Send to this base URL instead of the built-in mock partner.
    #[arg(long)]
    pub endpoint: Option<String>,
    /// Destination settings: a JSON file, or inline JSON.
    #[arg(long)]
    pub settings: Option<String>,
    /// Write the JSON report here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write events that end rejected, failed or expired here (JSON lines).
    #[arg(long = "dead-letter")]
    pub dead_letter: Option<PathBuf>,
    /// Total retry budget per event from its first attempt (`30s`, `4h`).
    #[arg(long = "max-retry-duration", value_parser = humantime::parse_duration)]
    pub max_retry_duration: Option<Duration>,
    /// Requests in flight at once (default 8).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Payloads per request, at most the destination's limit (`1` = one event per request; an
    /// event's payloads, such as an order and its products, are never split by this size).
    #[arg(long = "batch-size")]
    pub batch_size: Option<usize>,
    /// Most MiB of payloads in batches sent or waiting to be retried before input reading
    /// pauses (default 16; one batch always goes, however large).
    #[arg(long = "max-pending-mb")]
    pub max_pending_mb: Option<usize>,
    /// Timeout of one HTTP attempt (default 10s).
    #[arg(long = "attempt-timeout", value_parser = humantime::parse_duration)]
    pub attempt_timeout: Option<Duration>,
    /// Most requests per second.
    #[arg(long = "rate-limit")]
    pub rate_limit: Option<u32>,
    /// Source name (de-duplication is per source).
    #[arg(long, default_value = "default")]
    pub source: String,
    /// De-duplication window (default 24h, at most 170d).
    #[arg(long = "dedup-window", value_parser = humantime::parse_duration)]
    pub dedup_window: Option<Duration>,
    /// Ids of the window kept in memory before older ones spill to sorted files in a temporary
    /// directory (default 900000, about 9.5 MB; 0 = keep every id in memory). Not used with
    /// --state, whose window is on disk already.
    #[arg(long = "dedup-memory-ids")]
    pub dedup_memory_ids: Option<usize>,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
    /// Log more (-v info, -vv debug, -vvv trace) to stderr. Secrets are never logged.
    #[arg(short, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Keep crash-safe state here (retry queue, outcomes reached, de-duplication window): a
    /// rerun after a crash resumes unfinished events and skips finished ones.
    #[arg(long = "state")]
    pub state: Option<PathBuf>,
    /// First retry backoff ceiling (default 1s; full jitter below it).
    #[arg(long = "initial-backoff", value_parser = humantime::parse_duration)]
    pub initial_backoff: Option<Duration>,
    /// Cap of one retry wait (default 10m).
    #[arg(long = "max-backoff", value_parser = humantime::parse_duration)]
    pub max_backoff: Option<Duration>,
}

/// A usage problem: printed, exit status 2.
struct Usage(String);

/// Run `destkit deliver`.
pub fn run(args: Args) -> ExitCode {
    init_logging(args.verbose, args.quiet);
    let rt = match destination_kit::runtime::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit deliver: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match destination_kit::runtime::block_on_worker(&rt, deliver(args)) {
        Ok(report) if report.has_problems() => ExitCode::from(1),
        Ok(_) => ExitCode::SUCCESS,
        Err(Usage(msg)) => {
            eprintln!("destkit deliver: {msg}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DESTKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

async fn deliver(args: Args) -> Result<DeliveryReport, Usage> {
    let entry = settings::entry(&args.destination).map_err(Usage)?;
    let input = open_input(&args.input)?;
    let user = settings::from_arg(args.settings.as_deref()).map_err(Usage)?;
    let env = settings::from_env(entry.slug, std::env::vars());

    // Without --endpoint, the destination's mock partner, in-process.
    let mock = match &args.endpoint {
        Some(_) => None,
        None => Some((entry.start_mock)(spec_tests::mock::Recording::Off).await),
    };
    let (base, endpoint) = match &mock {
        Some(m) => (m.settings.clone(), m.uri()),
        None => (
            Value::Object(Map::new()),
            args.endpoint.clone().unwrap_or_default(),
        ),
    };
    let merged = settings::merge(settings::merge(base, env.clone()), user);
    let dest = settings::configure(entry, merged, &env, Some(&endpoint)).map_err(|e| {
        let hint = if e.key == "$" {
            format!("DESTKIT_{}_<KEY>", settings::env_prefix(entry.slug))
        } else {
            format!(
                "DESTKIT_{}_{}",
                settings::env_prefix(entry.slug),
                e.key.to_ascii_uppercase().replace(['.', '-', ' '], "_")
            )
        };
        Usage(format!(
            "bad settings for {}: {e} (set it with --settings FILE|JSON or {hint})",
            entry.slug
        ))
    })?;

    let mut config = DeliveryConfig::default()
        .source(args.source.clone())
        .concurrency(args.concurrency.unwrap_or(8));
    if let Some(d) = args.max_retry_duration {
        config = config.max_retry_duration(d);
    }
    if let Some(d) = args.attempt_timeout {
        if d.is_zero() {
            return Err(Usage(
                "--attempt-timeout must be more than 0 (every attempt would time out)".into(),
            ));
        }
        config = config.attempt_timeout(d);
    }
    if let Some(mb) = args.max_pending_mb {
        config = config.max_pending_bytes(mb << 20);
    }
    if let Some(n) = args.batch_size {
        if n == 0 {
            return Err(Usage("--batch-size must be at least 1".into()));
        }
        config = config.batch_size(n);
    }
    if let Some(n) = args.rate_limit {
        config = config.rate_limit(n);
    }
    if let Some(w) = args.dedup_window {
        config = config.dedup_window(w);
    }
    if let Some(n) = args.dedup_memory_ids {
        config = config.dedup_memory_ids((n > 0).then_some(n));
    }

    if let Some(d) = args.initial_backoff {
        config.retry.initial_backoff = d;
    }
    if let Some(d) = args.max_backoff {
        config.retry.max_backoff = d;
    }

    let state = match &args.state {
        Some(dir) => Some(open_state(dir, &args.input, entry.slug, &config)?),
        None => None,
    };
    let input = match &state {
        Some((_, _, Some(bytes))) => Box::new(std::io::Cursor::new(bytes.clone())),
        _ => input,
    };
    let mut runtime = Runtime::new(dest, config).collect_events(false);
    if let Some((_, journal, _)) = &state {
        runtime = runtime
            .with_dedup(Box::new(journal.dedup(entry.slug)))
            .with_journal(journal.clone());
    }
    if let Some(p) = &args.dead_letter {
        if args.input != "-" && super::same_file(std::path::Path::new(&args.input), p) {
            return Err(Usage(format!(
                "--dead-letter {} is the input file: writing it would empty the input before it is read",
                p.display()
            )));
        }
        std::fs::File::create(p).map_err(|e| {
            Usage(format!(
                "cannot write the dead-letter file {}: {e}",
                p.display()
            ))
        })?;
        runtime = runtime.with_dead_letter(p);
    }
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} {pos} events ({per_sec}) {elapsed} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    // the first few problems are shown under the summary (all of them go to --dead-letter)
    let problems = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    {
        let b = bar.clone();
        let problems = problems.clone();
        runtime = runtime.on_outcome(move |eo| {
            if let Some(b) = &b {
                b.inc(1);
            }
            if eo.outcome.is_problem()
                && let Ok(mut p) = problems.lock()
                && p.len() < SHOWN_PROBLEMS
            {
                let at = match eo.batch_index {
                    Some(i) => format!("line {} batch[{i}]", eo.line),
                    None => format!("line {}", eo.line),
                };
                p.push(format!(
                    "{at}: {}: {}",
                    eo.outcome.name(),
                    eo.outcome.reason().unwrap_or_default()
                ));
            }
        });
    }

    let started = Instant::now();
    let result = runtime.deliver_reader(input).await;
    let elapsed = started.elapsed();
    if let Some((store, _, _)) = &state {
        store.close().map_err(|e| Usage(e.to_string()))?;
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut unreadable = None;
    for w in &result.warnings {
        match w.strip_prefix("input: ") {
            Some(e) => unreadable = Some(format!("cannot read the input {}: {e}", args.input)),
            None => eprintln!("destkit deliver: warning: {w}"),
        }
    }
    if let Some(p) = &args.report {
        let json = report_json(entry, &result, elapsed, mock.is_some());
        let text = serde_json::to_string_pretty(&json).unwrap_or_default();
        std::fs::write(p, text + "\n")
            .map_err(|e| Usage(format!("cannot write the report {}: {e}", p.display())))?;
    }
    if !args.quiet {
        let target = match &mock {
            Some(m) => format!("{} (built-in mock partner at {})", entry.slug, m.uri()),
            None => entry.slug.to_string(),
        };
        eprint!("{}", summary(&target, &result.report, elapsed));
        let shown = problems.lock().map(|p| p.clone()).unwrap_or_default();
        let total = result.report.rejected + result.report.failed + result.report.expired;
        if !shown.is_empty() {
            let more = match &args.dead_letter {
                Some(p) => format!("all {total} in {}", p.display()),
                None => format!("{total} in all; --dead-letter FILE keeps every one"),
            };
            eprintln!("problems ({more}):");
            for p in shown {
                eprintln!("  {p}");
            }
        }
    }
    if let Some(e) = unreadable {
        return Err(Usage(e));
    }
    Ok(result.report)
}

/// `--state DIR`: the store, the journal of this input (keyed by its content, so the same
/// input resumes) and, for stdin, the input bytes (read whole to know their identity).
type State = (StateStore, Arc<StateJournal>, Option<Vec<u8>>);

fn open_state(
    dir: &std::path::Path,
    input: &str,
    slug: &str,
    config: &DeliveryConfig,
) -> Result<State, Usage> {
    let opts = StateOptions {
        dedup_window: config.dedup_window,
        keep_done: config.dedup_window.max(Duration::from_secs(86_400)),
    };
    let store = StateStore::open(dir, opts).map_err(|e| Usage(e.to_string()))?;
    let unreadable = |e: std::io::Error| Usage(format!("cannot read the input {input}: {e}"));
    let (id, bytes) = if input == "-" {
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut all).map_err(unreadable)?;
        (
            StateStore::content_identity(all.as_slice()).map_err(unreadable)?,
            Some(all),
        )
    } else {
        let f = std::fs::File::open(input).map_err(unreadable)?;
        (StateStore::content_identity(f).map_err(unreadable)?, None)
    };
    let journal = store
        .journal(&format!("deliver/{slug}/{id:016x}"))
        .map_err(|e| Usage(e.to_string()))?;
    Ok((store, Arc::new(journal), bytes))
}

/// The input as a buffered reader (streamed, never read whole unless it is one pretty-printed
/// document). Its buffer is the standard 8 KiB: the runtime reads into 256 KiB blocks of its
/// own, and a read at least as large as the buffer goes straight into the block — with a
/// larger buffer, the end of each block was filled through it, every byte copied twice.
fn open_input(input: &str) -> Result<Box<dyn BufRead + Send>, Usage> {
    if input == "-" {
        return Ok(Box::new(std::io::BufReader::new(std::io::stdin())));
    }
    let f = std::fs::File::open(input)
        .map_err(|e| Usage(format!("cannot read the input {input}: {e}")))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Usage(format!(
            "cannot read the input {input}: it is a directory"
        )));
    }
    Ok(Box::new(std::io::BufReader::new(f)))
}

fn report_json(entry: &Entry, r: &DeliveryResult, elapsed: Duration, mock: bool) -> Value {
    let mut v = serde_json::to_value(&r.report).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("destination".into(), entry.slug.into());
        m.insert("mock_partner".into(), mock.into());
        m.insert(
            "elapsed_ms".into(),
            (elapsed.as_secs_f64() * 1000.0).round().into(),
        );
        m.insert(
            "events_per_sec".into(),
            per_sec(r.report.input, elapsed).into(),
        );
    }
    v
}

fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 { (n as f64 / s).round() } else { 0.0 }
}

/// How many problem events `deliver` lists under its summary.
const SHOWN_PROBLEMS: usize = 5;

fn summary(target: &str, r: &DeliveryReport, elapsed: Duration) -> String {
    let mut s = format!("destkit deliver → {target}\n");
    let rows = [
        ("input", r.input),
        ("delivered", r.delivered),
        ("duplicate", r.duplicate),
        ("filtered", r.filtered),
        ("rejected", r.rejected),
        ("failed", r.failed),
        ("expired", r.expired),
        ("requests", r.requests),
        ("retries", r.retries),
    ];
    for (name, n) in rows {
        s.push_str(&format!("  {name:<10} {n:>10}\n"));
    }
    s.push_str(&format!(
        "  {:<10} {:>10.2} s\n  {:<10} {:>10}\n",
        "time",
        elapsed.as_secs_f64(),
        "events/s",
        per_sec(r.input, elapsed)
    ));
    s
}
