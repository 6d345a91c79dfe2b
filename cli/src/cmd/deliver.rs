//! `destkit deliver`: deliver events from a file or stdin to one destination — its built-in mock
//! partner unless `--endpoint` is given — and print what became of every event.
//!
//! Settings come from `--settings` (a file or inline JSON) and from environment variables
//! `DESTKIT_<DEST>_<KEY>` (`DESTKIT_AMPLITUDE_API_KEY`); `--settings` wins over the environment,
//! which wins over the mock partner's settings. Exit status: 0 when no event ended rejected,
//! failed or expired; 1 when some did; 2 for bad usage, bad settings and unreadable input.

use destination_kit::runtime::{
    DeliveryConfig, DeliveryResult, Runtime, StateJournal, StateOptions, StateStore,
};
use destination_kit::{DeliveryReport, DynDestination, SettingsError};
use destinations::registry::{self, Entry};
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
    /// Events per request, at most the destination's limit (`1` turns batching off).
    #[arg(long = "batch-size")]
    pub batch_size: Option<usize>,
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
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit deliver: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match rt.block_on(deliver(args)) {
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
    let entry = registry::find(&args.destination).ok_or_else(|| {
        Usage(format!(
            "unknown destination {:?}; known: {}",
            args.destination,
            registry::slugs()
        ))
    })?;
    let input = open_input(&args.input)?;
    let user = user_settings(args.settings.as_deref())?;
    let env = env_settings(entry.slug, std::env::vars());

    // Without --endpoint, the destination's mock partner, in-process.
    let mock = match &args.endpoint {
        Some(_) => None,
        None => Some((entry.start_mock)().await),
    };
    let (base, endpoint) = match (&mock, &args.endpoint) {
        (Some(m), _) => (m.settings.clone(), m.uri()),
        (None, Some(e)) => (Value::Object(Map::new()), e.clone()),
        (None, None) => unreachable!("one of the two is set"),
    };
    let settings = merge(merge(base, env.clone()), user);
    let dest = configure(entry, settings, &env, &endpoint).map_err(|e| {
        let hint = if e.key == "$" {
            format!("DESTKIT_{}_<KEY>", env_prefix(entry.slug))
        } else {
            format!(
                "DESTKIT_{}_{}",
                env_prefix(entry.slug),
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
        config = config.attempt_timeout(d);
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
/// document).
fn open_input(input: &str) -> Result<Box<dyn BufRead + Send>, Usage> {
    if input == "-" {
        return Ok(Box::new(std::io::BufReader::with_capacity(
            1 << 16,
            std::io::stdin(),
        )));
    }
    let f = std::fs::File::open(input)
        .map_err(|e| Usage(format!("cannot read the input {input}: {e}")))?;
    if f.metadata().map(|m| m.is_dir()).unwrap_or(false) {
        return Err(Usage(format!(
            "cannot read the input {input}: it is a directory"
        )));
    }
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, f)))
}

/// `--settings`: inline JSON when it looks like JSON, else a file of JSON.
fn user_settings(arg: Option<&str>) -> Result<Value, Usage> {
    let Some(arg) = arg else {
        return Ok(Value::Object(Map::new()));
    };
    let trimmed = arg.trim_start();
    let (text, what) = if trimmed.starts_with('{') {
        (arg.to_string(), "--settings".to_string())
    } else {
        let text = std::fs::read_to_string(arg)
            .map_err(|e| Usage(format!("cannot read the settings file {arg}: {e}")))?;
        (text, format!("the settings file {arg}"))
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Usage(format!("{what}: expected a JSON object"))),
        // the serde message names line and column, never the content
        Err(e) => Err(Usage(format!("{what}: not valid JSON: {e}"))),
    }
}

/// `adobe-media` → `ADOBE_MEDIA`.
fn env_prefix(slug: &str) -> String {
    slug.to_ascii_uppercase().replace('-', "_")
}

/// Settings from `DESTKIT_<DEST>_<KEY>` variables: the key lower-cased; a value that is a JSON
/// object, array or boolean is taken as JSON, anything else as a string.
fn env_settings(slug: &str, vars: impl Iterator<Item = (String, String)>) -> Value {
    let prefix = format!("DESTKIT_{}_", env_prefix(slug));
    let mut out = Map::new();
    for (k, v) in vars {
        let Some(key) = k.strip_prefix(&prefix) else {
            continue;
        };
        if key.is_empty() {
            continue;
        }
        let t = v.trim();
        let value = if t.starts_with('{') || t.starts_with('[') || t == "true" || t == "false" {
            serde_json::from_str(t).unwrap_or(Value::String(v.clone()))
        } else {
            Value::String(v.clone())
        };
        out.insert(key.to_ascii_lowercase(), value);
    }
    Value::Object(out)
}

/// Top-level merge: keys of `over` replace those of `base`.
fn merge(base: Value, over: Value) -> Value {
    match (base, over) {
        (Value::Object(mut b), Value::Object(o)) => {
            for (k, v) in o {
                b.insert(k, v);
            }
            Value::Object(b)
        }
        (b, Value::Object(o)) if o.is_empty() => b,
        (_, o) => o,
    }
}

/// Configure. Values from the environment are strings; when the settings do not take one of
/// them as a string, it is tried as a number (`DESTKIT_WEBHOOK_BATCH_SIZE=4`).
fn configure(
    entry: &Entry,
    settings: Value,
    env: &Value,
    endpoint: &str,
) -> Result<Arc<dyn DynDestination>, SettingsError> {
    let first = match (entry.configure)(settings.clone(), Some(endpoint)) {
        Ok(d) => return Ok(d),
        Err(e) => e,
    };
    let Value::Object(map) = settings else {
        return Err(first);
    };
    // numeric-looking values that came from the environment (and were not overridden)
    let numeric: Vec<(String, serde_json::Number)> = env
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| map.get(*k) == Some(*v))
        .filter_map(|(k, v)| {
            let n = v.as_str()?.trim().parse::<serde_json::Number>().ok()?;
            Some((k.clone(), n))
        })
        .collect();
    let with = |keys: &[&(String, serde_json::Number)]| {
        let mut m = map.clone();
        for (k, n) in keys {
            m.insert(k.clone(), Value::Number(n.clone()));
        }
        (entry.configure)(Value::Object(m), Some(endpoint))
    };
    for one in &numeric {
        if let Ok(d) = with(&[one]) {
            return Ok(d);
        }
    }
    let all: Vec<_> = numeric.iter().collect();
    if all.len() > 1
        && let Ok(d) = with(&all)
    {
        return Ok(d);
    }
    Err(first)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_settings_take_the_destinations_prefix() {
        let vars = [
            ("DESTKIT_ADOBE_MEDIA_API_KEY", "k1"),
            ("DESTKIT_ADOBE_MEDIA_HEADERS", "{\"A\":\"b\"}"),
            ("DESTKIT_AMPLITUDE_API_KEY", "other"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let v = env_settings("adobe-media", vars.into_iter());
        assert_eq!(
            v,
            serde_json::json!({"api_key": "k1", "headers": {"A": "b"}})
        );
    }

    #[test]
    fn merge_overrides_top_level_keys() {
        let a = serde_json::json!({"url": "a", "batch_size": 1});
        let b = serde_json::json!({"url": "b"});
        assert_eq!(
            merge(a, b),
            serde_json::json!({"url": "b", "batch_size": 1})
        );
    }
}
