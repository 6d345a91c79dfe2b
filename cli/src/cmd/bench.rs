//! `destkit bench`: end-to-end throughput and memory, measured in one run on the same events
//! against the parse floor.
//!
//! Phases, each streaming the same input file from the start:
//! 1. **parse floor** — every line checked as UTF-8 once, then `serde_json::from_str::<Value>`
//!    (the least any pipeline must do, and how `Message::from_slice` reads a line; serde_json's
//!    `from_slice` re-checks UTF-8 string by string and is ~20 % slower here). The faster of two
//!    passes counts, so the first pass's cold caches do not lower the floor;
//! 2. **recognise** — `Message::from_slice` + `validate` + spec recognition;
//! 3. **map** — 2 plus the destination's `map` (no I/O);
//! 4. **pipeline** — parse → validate → dedup → map → batch → HTTP → classify → account, into a
//!    local partner on 127.0.0.1 that answers like the partner's success response, through
//!    `Runtime::deliver_reader` exactly as `destkit deliver` runs (lines read on one thread,
//!    parsed and mapped in parallel chunks, dedup/batching/accounting on the driver).
//!
//! The timed pipeline run is preceded by a warm-up of the first 2,000 lines through a separate
//! runtime (as the peer harness does), so connections are open when the clock starts.
//!
//! Peak RSS is the process high-water mark (`VmHWM`); input is streamed, queues are bounded, and
//! per-event outcomes are not collected, so it stays flat in the number of events.

use crate::bench::{generate, sink};
use destination_kit::event::Message;
use destination_kit::runtime::{DeliveryConfig, Runtime};
use destination_kit::{DynDestination, Event, Mapped};
use serde::Serialize;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Lines delivered before the timed pipeline run (as the peer harness's `--warmup 2000`).
const WARMUP_LINES: usize = 2000;

/// Arguments of `destkit bench`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Destination slug.
    #[arg(long, default_value = "amplitude")]
    pub destination: String,
    /// Generate this many events (deterministic, `--seed`); default 200000.
    #[arg(long, conflicts_with = "input")]
    pub events: Option<u64>,
    /// Read events from this JSON-lines file instead.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Payloads per request (default: the destination's limit; 1 = one event per request, its
    /// payloads together).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Most MiB of payloads in started, unfinished batches (default 16, as `deliver`).
    #[arg(long)]
    pub max_pending_mb: Option<usize>,
    /// Seed of the generated events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Extra settings JSON merged over the mock partner's (e.g. `{"now": "2024-05-01T13:00:00Z"}`).
    #[arg(long)]
    pub settings: Option<String>,
    /// Skip the isolated phases; run only the pipeline (for memory runs).
    #[arg(long)]
    pub pipeline_only: bool,
    /// De-duplication window (default 24h). Every id inside the window is remembered: the
    /// newest in memory (about 18 bytes each, up to `--dedup-memory-ids`), older ones in sorted
    /// files on disk with 1.5 bytes of filter each in memory; a short window (`1s`) shows the
    /// rest of the pipeline's memory on its own.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub dedup_window: Option<std::time::Duration>,
    /// Ids the de-duplication store keeps in memory before spilling to disk (default 900000;
    /// 0 = no limit, all in memory).
    #[arg(long)]
    pub dedup_memory_ids: Option<usize>,
    /// Send to this partner URL (e.g. a separate-process sink) instead of the in-process one.
    #[arg(long)]
    pub endpoint: Option<String>,
}

/// What `destkit bench --json` prints.
#[derive(Debug, Serialize)]
pub struct BenchReport {
    /// Destination slug.
    pub destination: String,
    /// Events in the input.
    pub events: u64,
    /// Input bytes.
    pub input_bytes: u64,
    /// Payloads per request used.
    pub batch_size: usize,
    /// Events/s of the parse floor.
    pub parse_floor_eps: f64,
    /// Events/s of parse + validate + spec recognition.
    pub recognise_eps: f64,
    /// Events/s of parse + validate + recognise + map.
    pub map_eps: f64,
    /// Events/s of the whole pipeline into the local partner.
    pub pipeline_eps: f64,
    /// `pipeline_eps / parse_floor_eps`.
    pub pipeline_to_floor: f64,
    /// CPU seconds (user + system, all threads) the pipeline phase used.
    pub pipeline_cpu_s: f64,
    /// Pipeline events per CPU-second.
    pub pipeline_events_per_cpu_s: f64,
    /// Process peak resident memory, MB.
    pub peak_rss_mb: f64,
    /// Requests the local partner received.
    pub requests: u64,
    /// Body bytes the local partner received.
    pub bytes_sent: u64,
    /// Events delivered (the rest are counted in `report`).
    pub delivered: u64,
    /// The runtime's full report for the pipeline phase.
    pub report: destination_kit::DeliveryReport,
}

/// Run `destkit bench`.
pub fn run(args: Args) -> ExitCode {
    let rt = match destination_kit::runtime::tokio_runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit bench: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match destination_kit::runtime::block_on_worker(&rt, bench(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("destkit bench: {e}");
            ExitCode::from(2)
        }
    }
}

async fn bench(args: Args) -> Result<ExitCode, String> {
    let entry = crate::settings::entry(&args.destination)?;

    // The input: a file, or generated events in a temporary file (streamed by every phase).
    let _tmp;
    let input: PathBuf = match &args.input {
        Some(p) => p.clone(),
        None => {
            let n = args.events.unwrap_or(200_000);
            let dir = std::env::temp_dir().join(format!("destkit-bench-{}", std::process::id()));
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let path = dir.join("events.jsonl");
            let f = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            // every event time in the past (a second of margin), the stream within a day of now
            let end_ms = chrono::Utc::now().timestamp_millis() - 1_000;
            generate::write_events(&mut w, n, args.seed, end_ms)
                .and_then(|_| w.flush())
                .map_err(|e| format!("{}: {e}", path.display()))?;
            _tmp = TempDir(dir);
            path
        }
    };
    let input_bytes = std::fs::metadata(&input)
        .map_err(|e| format!("{}: {e}", input.display()))?
        .len();

    // Settings: the mock partner's (fake credentials), plus the user's, pointed at the sink.
    let mock = (entry.start_mock)(spec_tests::mock::Recording::Off).await;
    let mut settings = mock.settings.clone();
    if entry.slug == "ga4"
        && let Some(s) = settings.as_object_mut()
    {
        // the production endpoint (204 to everything), not the debug validation server the
        // mock's settings use for tests; `--settings '{"validate": true}'` turns it back on
        s.insert("validate".into(), false.into());
    }
    let settings = crate::settings::merge(
        settings,
        crate::settings::from_arg(args.settings.as_deref())?,
    );
    let no_content = entry.slug == "ga4";
    let sink = match &args.endpoint {
        Some(_) => None,
        None => Some(sink::start(no_content).map_err(|e| format!("local partner: {e}"))?),
    };
    let endpoint = match (&args.endpoint, &sink) {
        (Some(e), _) => e.clone(),
        _ if entry.slug == "adobe-media" => mock.uri(),
        (_, s) => s.as_ref().map(|s| s.url.clone()).unwrap_or_default(),
    };
    let dest = (entry.configure)(settings, Some(&endpoint)).map_err(|e| e.to_string())?;
    let info = dest.info();
    let batch_size = args
        .batch_size
        .unwrap_or(info.batch.events)
        .clamp(1, info.batch.events.max(1));

    let (mut floor_eps, mut recognise_eps, mut map_eps) = (0.0, 0.0, 0.0);
    let mut events = 0;
    if !args.pipeline_only {
        let floor = |line: &[u8]| {
            std::str::from_utf8(line)
                .is_ok_and(|s| serde_json::from_str::<serde_json::Value>(s).is_ok())
        };
        let (n, first) = phase(&input, floor)?;
        let (_, second) = phase(&input, floor)?;
        events = n;
        floor_eps = n as f64 / first.min(second);
        let (n, secs) = phase(&input, |line| match Message::from_slice(line) {
            Ok(m) => {
                let (errors, spec) = m.validate_and_recognise();
                std::hint::black_box(spec);
                errors.is_empty()
            }
            Err(_) => false,
        })?;
        recognise_eps = n as f64 / secs;
        let (n, secs) = phase(&input, |line| map_one(dest.as_ref(), line))?;
        map_eps = n as f64 / secs;
    }

    // The pipeline.
    let mut config = DeliveryConfig::default()
        .concurrency(args.concurrency)
        .batch_size(batch_size);
    if let Some(w) = args.dedup_window {
        config = config.dedup_window(w);
    }
    if let Some(mb) = args.max_pending_mb {
        config = config.max_pending_bytes(mb << 20);
    }
    if let Some(n) = args.dedup_memory_ids {
        config = config.dedup_memory_ids((n > 0).then_some(n));
    }
    // Warm up like the peer harness does: the first lines (at most 2,000) through a runtime of
    // their own (its own dedup window), sharing the HTTP client, so the timed run starts with
    // warm connections and a warm allocator.
    let http = destination_kit::HttpClient::new(config.retry.attempt_timeout);
    let warm: Vec<u8> = {
        let f = File::open(&input).map_err(|e| format!("{}: {e}", input.display()))?;
        let mut out = Vec::new();
        for line in BufReader::new(f).split(b'\n').take(WARMUP_LINES) {
            let line = line.map_err(|e| format!("{}: {e}", input.display()))?;
            out.extend_from_slice(&line);
            out.push(b'\n');
        }
        out
    };
    Runtime::new(dest.clone(), config.clone())
        .with_http(http.clone())
        .collect_events(false)
        .deliver_bytes(&warm)
        .await;
    drop(warm);
    let warm_requests = sink.as_ref().map_or(0, |s| {
        s.stats.requests.load(std::sync::atomic::Ordering::Relaxed)
    });
    let warm_bytes = sink.as_ref().map_or(0, |s| {
        s.stats.bytes.load(std::sync::atomic::Ordering::Relaxed)
    });
    let runtime = Runtime::new(dest.clone(), config)
        .with_http(http)
        .collect_events(false);
    let file = File::open(&input).map_err(|e| format!("{}: {e}", input.display()))?;
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let result = runtime
        // as `destkit deliver` opens its input: the runtime's reads go past an 8 KiB buffer
        .deliver_reader(BufReader::new(file))
        .await;
    let secs = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    if let Some(w) = result.warnings.first() {
        return Err(w.clone());
    }
    let report = result.report;
    if events == 0 {
        events = report.input;
    }
    let pipeline_eps = report.input as f64 / secs;
    let out = BenchReport {
        destination: entry.slug.to_string(),
        events,
        input_bytes,
        batch_size,
        parse_floor_eps: floor_eps.round(),
        recognise_eps: recognise_eps.round(),
        map_eps: map_eps.round(),
        pipeline_eps: pipeline_eps.round(),
        pipeline_to_floor: if floor_eps > 0.0 {
            (pipeline_eps / floor_eps * 1000.0).round() / 1000.0
        } else {
            0.0
        },
        pipeline_cpu_s: (cpu * 10_000.0).round() / 10_000.0,
        pipeline_events_per_cpu_s: if cpu > 0.0 {
            (report.input as f64 / cpu).round()
        } else {
            0.0
        },
        peak_rss_mb: peak_rss_mb(),
        requests: sink.as_ref().map_or(report.requests, |s| {
            s.stats.requests.load(std::sync::atomic::Ordering::Relaxed) - warm_requests
        }),
        bytes_sent: sink.as_ref().map_or(report.bytes_sent, |s| {
            s.stats.bytes.load(std::sync::atomic::Ordering::Relaxed) - warm_bytes
        }),
        delivered: report.delivered,
        report,
    };
    if args.json {
        println!("{}", serde_json::to_string(&out).unwrap_or_default());
    } else {
        print_table(&out);
    }
    Ok(if out.report.adds_up() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn map_one(dest: &dyn DynDestination, line: &[u8]) -> bool {
    let Ok(m) = Message::from_slice(line) else {
        return false;
    };
    // one pass, as the runtime's prepare stage does
    let (errors, spec) = m.validate_and_recognise();
    if !errors.is_empty() {
        return false;
    }
    let Some(time) = m.event_time() else {
        return false;
    };
    let ev = Event::new(&m, spec.as_ref(), time);
    matches!(dest.map(&ev), Mapped::Send(_))
}

/// Stream the file and apply `f` to every non-blank line; returns (lines, seconds).
fn phase(path: &Path, mut f: impl FnMut(&[u8]) -> bool) -> Result<(u64, f64), String> {
    let file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = BufReader::with_capacity(1 << 20, file);
    let mut buf = Vec::with_capacity(4096);
    let mut n = 0u64;
    let mut ok = 0u64;
    let t0 = Instant::now();
    loop {
        buf.clear();
        let read = r
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if read == 0 {
            break;
        }
        let line = buf.trim_ascii();
        if line.is_empty() {
            continue;
        }
        n += 1;
        ok += u64::from(f(line));
    }
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    std::hint::black_box(ok);
    Ok((n, secs))
}

fn print_table(r: &BenchReport) {
    println!(
        "destkit bench — {} — {} events ({:.1} MB), batch size {}",
        r.destination,
        r.events,
        r.input_bytes as f64 / 1e6,
        r.batch_size
    );
    println!("{:<34} {:>14}", "phase", "events/s");
    println!(
        "{:<34} {:>14.0}",
        "parse floor (serde_json Value)", r.parse_floor_eps
    );
    println!(
        "{:<34} {:>14.0}",
        "parse + validate + recognise", r.recognise_eps
    );
    println!("{:<34} {:>14.0}", "… + map", r.map_eps);
    println!(
        "{:<34} {:>14.0}",
        "full pipeline (HTTP, 127.0.0.1)", r.pipeline_eps
    );
    println!("pipeline / floor: {:.3}", r.pipeline_to_floor);
    println!(
        "pipeline CPU: {:.2} s ({:.0} events per CPU-second)",
        r.pipeline_cpu_s, r.pipeline_events_per_cpu_s
    );
    println!(
        "requests: {}, bytes sent: {}, peak RSS: {:.1} MB",
        r.requests, r.bytes_sent, r.peak_rss_mb
    );
    let rep = &r.report;
    println!(
        "outcomes: delivered {}, duplicate {}, filtered {}, rejected {}, failed {}, expired {} (input {})",
        rep.delivered,
        rep.duplicate,
        rep.filtered,
        rep.rejected,
        rep.failed,
        rep.expired,
        rep.input
    );
}

/// The process's peak resident set (VmHWM), MB; 0 where /proc is missing.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| (kb / 1024.0 * 10.0).round() / 10.0)
        .unwrap_or(0.0)
}

/// User + system CPU seconds of the whole process (every thread, ended ones too), from the
/// kernel's per-process CPU clock, in nanoseconds. `/proc/self/stat` counts in ticks of 10 ms:
/// a tenth of the CPU of a 20,000-event run, which made the figures built on it (CPU per
/// event, the two-core bound `bench/compare-peer.sh` prints) move by as much between runs.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` writes one `timespec` through the pointer, which is valid and
    // exclusive for the call; it reads nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0.0;
    }
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rss_and_cpu_readers_work_on_linux() {
        if std::path::Path::new("/proc/self/status").exists() {
            assert!(super::peak_rss_mb() > 0.0);
            let before = super::cpu_seconds();
            let mut x = 0u64;
            for i in 0..5_000_000u64 {
                x = x.wrapping_mul(31).wrapping_add(i);
            }
            std::hint::black_box(x);
            let after = super::cpu_seconds();
            // the clock counts nanoseconds: a few milliseconds of work show (ticks of 10 ms did
            // not)
            assert!(before > 0.0 && after > before, "{before} -> {after}");
        }
    }
}
