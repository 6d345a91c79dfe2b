//! `destkit serve --config FILE --port P`: the Segment HTTP Tracking API on 127.0.0.1.
//!
//! Each write key maps to a source with its own destinations (TOML, see [`config`]). Accepted
//! messages get `receivedAt`, a `messageId` when missing and a skew-corrected `timestamp`
//! ([`ingest`]), then go through dedup (per source), mapping, batching and retries to each of the
//! source's destinations, one delivery runtime per source × destination. On SIGTERM or Ctrl-C it
//! stops accepting (503), drains in-flight deliveries within `--drain-timeout`, prints a report
//! per destination (and writes it as JSON with `--report`), and exits 0 when no event ended
//! rejected, failed or expired, 1 when some did, 2 for a bad config.

pub mod config;
pub mod http;
pub mod ingest;

use destination_kit::outcome::DeliveryReport;
use destination_kit::runtime::{DeliveryConfig, Runtime, StateOptions, StateStore};
use serde::Serialize;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Arguments of `destkit serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The sources and destinations (TOML: `[[sources]] name, write_key, [[sources.destinations]]`).
    #[arg(long)]
    pub config: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed on stdout).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// How long SIGTERM waits for in-flight deliveries (e.g. `30s`).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub drain_timeout: Option<Duration>,
    /// Write the final report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print less: no per-destination table at shutdown.
    #[arg(long, short)]
    pub quiet: bool,
    /// Keep crash-safe state here: a request is answered 200 only once its events are on disk,
    /// and a restart delivers what a crash (or a drain timeout) left undelivered.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// Run `destkit serve`.
pub fn run(args: Args) -> ExitCode {
    let text = match std::fs::read_to_string(&args.config) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("destkit serve: {}: cannot read: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let cfg = match config::ServeConfig::parse(&text, |s| destinations::registry::find(s).is_some())
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("destkit serve: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit serve: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(serve(args, cfg))
}

/// What one destination of one source did, for the report.
#[derive(Debug, Serialize)]
struct DestinationReport {
    destination: String,
    #[serde(flatten)]
    report: DeliveryReport,
}

/// What one source did, for the report.
#[derive(Debug, Serialize)]
struct SourceReport {
    name: String,
    requests: u64,
    accepted: u64,
    refused: u64,
    gzip_requests: u64,
    destinations: Vec<DestinationReport>,
}

async fn serve(args: Args, cfg: config::ServeConfig) -> ExitCode {
    let fail = |msg: String| {
        eprintln!("destkit serve: {msg}");
        ExitCode::from(2)
    };
    let drain = args
        .drain_timeout
        .or(cfg.drain_timeout)
        .unwrap_or(DEFAULT_DRAIN);
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
        Ok(l) => l,
        Err(e) => return fail(format!("cannot listen on 127.0.0.1:{}: {e}", args.port)),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return fail(e.to_string()),
    };

    let store = match &args.state {
        Some(dir) => match StateStore::open(dir, StateOptions::default()) {
            Ok(s) => Some(s),
            Err(e) => return fail(e.to_string()),
        },
        None => None,
    };
    let mut mocks = Vec::new();
    let mut sources = Vec::new();
    let mut keyed = Vec::new();
    for (i, sc) in cfg.sources.into_iter().enumerate() {
        let mut sinks = Vec::new();
        for (j, dc) in sc.destinations.iter().enumerate() {
            let place = format!("sources[{i}].destinations[{j}] ({})", dc.destination);
            let (dest, mock) = match crate::settings::configure_or_mock(
                &dc.destination,
                dc.settings_json(),
                &serde_json::Value::Null,
                dc.endpoint.as_deref(),
                dc.mock,
            )
            .await
            {
                Ok(x) => x,
                Err(e) => return fail(format!("{place}: {e}")),
            };
            let mut dcfg = DeliveryConfig::default().source(sc.name.clone());
            if let Some(n) = dc.batch_size {
                dcfg = dcfg.batch_size(n);
            }
            if let Some(d) = dc.max_retry_duration {
                dcfg = dcfg.max_retry_duration(d);
            }
            let mut runtime = Runtime::new(dest, dcfg);
            if let Some(p) = &dc.dead_letter {
                runtime = runtime.with_dead_letter(p);
            }
            let stream = format!("serve/{}/{j}/{}", sc.name, dc.destination);
            let mut resume = Vec::new();
            if let Some(store) = &store {
                let journal = match store.journal(&stream) {
                    Ok(j) => j,
                    Err(e) => return fail(e.to_string()),
                };
                resume = match store.unfinished_events(&stream) {
                    Ok(r) => r,
                    Err(e) => return fail(e.to_string()),
                };
                runtime = runtime
                    .with_dedup(Box::new(journal.dedup(&stream)))
                    .with_journal(Arc::new(journal));
            }
            if let Some(m) = mock {
                println!(
                    "source {}: {} delivers to its built-in mock partner at {}",
                    sc.name,
                    dc.destination,
                    m.uri()
                );
                // the mock partner runs as long as the server
                mocks.push(m);
            }
            let mut sink = http::Sink::new(dc.destination.clone(), runtime.start());
            if let Some(store) = &store {
                sink = sink.with_state(store.clone(), stream);
                if !resume.is_empty() && !args.quiet {
                    eprintln!(
                        "destkit serve: source {}: resuming {} undelivered events for {}",
                        sc.name,
                        resume.len(),
                        dc.destination
                    );
                }
                for (line, raw) in resume {
                    let msg =
                        match destination_kit::event::Message::from_slice(raw.get().as_bytes()) {
                            Ok(m) => m,
                            Err(e) => {
                                return fail(format!("state: a queued event does not parse: {e}"));
                            }
                        };
                    sink.submit_line(line, msg).await;
                }
            }
            sinks.push(Arc::new(sink));
        }
        let source = Arc::new(http::Source {
            name: sc.name.clone(),
            sinks,
            stats: http::IngestStats::default(),
        });
        keyed.push((sc.write_key.0.clone(), source.clone()));
        sources.push(source);
    }
    let stop_signal = crate::cmd::replay::stop_signal();
    let state = Arc::new(http::AppState::new(keyed));
    let app = http::router(state.clone());
    println!("destkit serve: listening on http://{addr}");
    let _ = std::io::Write::flush(&mut std::io::stdout());

    let stop = Arc::new(tokio::sync::Notify::new());
    let stop2 = stop.clone();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop2.notified().await })
            .await
    });
    stop_signal.await;
    if !args.quiet {
        eprintln!(
            "destkit serve: stopping; draining in-flight deliveries (at most {})",
            humantime::format_duration(drain)
        );
    }
    state.stop_accepting();
    // requests waiting for room in a destination's queue give up now (503, the client
    // resends) rather than hold the server open through the drain timeout
    for s in &sources {
        for k in &s.sinks {
            k.begin_closing();
        }
    }
    stop.notify_one();
    let started = std::time::Instant::now();
    match tokio::time::timeout(drain, server).await {
        Ok(Ok(Ok(()))) => {}
        Ok(Ok(Err(e))) => eprintln!("destkit serve: server error: {e}"),
        Ok(Err(e)) => eprintln!("destkit serve: server task failed: {e}"),
        Err(_) => eprintln!("destkit serve: open connections outlived the drain timeout"),
    }
    let left = drain.saturating_sub(started.elapsed());
    let mut report = Vec::new();
    let mut problems = false;
    for s in &sources {
        let reports = futures::future::join_all(s.sinks.iter().map(|k| k.shutdown(left))).await;
        let mut dests = Vec::new();
        for (k, r) in s.sinks.iter().zip(reports) {
            problems |= r.has_problems();
            dests.push(DestinationReport {
                destination: k.destination.clone(),
                report: r,
            });
        }
        report.push(SourceReport {
            name: s.name.clone(),
            requests: s.stats.requests.load(Ordering::Relaxed),
            accepted: s.stats.accepted.load(Ordering::Relaxed),
            refused: s.stats.refused.load(Ordering::Relaxed),
            gzip_requests: s.stats.gzip_requests.load(Ordering::Relaxed),
            destinations: dests,
        });
    }
    drop(mocks);
    if let Some(store) = &store
        && let Err(e) = store.close()
    {
        return fail(e.to_string());
    }
    let unauthorized = state.unauthorized.load(Ordering::Relaxed);
    if !args.quiet {
        eprint!("{}", table(&report, unauthorized));
    }
    if let Some(p) = &args.report {
        let out = json!({"sources": report, "unauthorized_requests": unauthorized});
        if let Err(e) = std::fs::write(p, serde_json::to_vec_pretty(&out).unwrap_or_default()) {
            return fail(format!("--report {}: {e}", p.display()));
        }
    }
    if problems {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn table(report: &[SourceReport], unauthorized: u64) -> String {
    let mut out = format!(
        "{:<12} {:<12} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>7} {:>8} {:>7}\n",
        "source",
        "destination",
        "accepted",
        "delivered",
        "duplicate",
        "filtered",
        "rejected",
        "failed",
        "expired",
        "requests",
        "retries",
        "refused"
    );
    for s in report {
        for d in &s.destinations {
            let r = &d.report;
            out.push_str(&format!(
                "{:<12} {:<12} {:>8} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6} {:>7} {:>8} {:>7}\n",
                s.name,
                d.destination,
                s.accepted,
                r.delivered,
                r.duplicate,
                r.filtered,
                r.rejected,
                r.failed,
                r.expired,
                r.requests,
                r.retries,
                s.refused
            ));
        }
        if s.destinations.is_empty() {
            out.push_str(&format!(
                "{:<12} {:<12} {:>8} (no destinations) {:>7}\n",
                s.name, "-", s.accepted, s.refused
            ));
        }
    }
    out.push_str(&format!(
        "requests refused for a missing or unknown write key: {unauthorized}\n"
    ));
    out
}
