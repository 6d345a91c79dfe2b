//! [`Suite`]: every check against one destination and its mock partner.

use crate::evidence::{Evidence, time_forms};
use crate::fault::{Fault, FaultProxy};
use crate::fixtures;
use crate::mock::MockPartner;
use crate::report::{CoverageRow, CoverageStatus, Report};
use chrono::{DateTime, Utc};
use destination_kit::destination::{ConformanceHints, DedupKey};
use destination_kit::runtime::{DeliveryConfig, DeliveryResult, RetryPolicy, Runtime, TestClock};
use destination_kit::spec::{SpecEvent, SpecEventKind};
use destination_kit::{
    CallType, Configured, Destination, DestinationInfo, DynDestination, ErrorKind, Event, Mapped,
    Message, Outcome, Payload, SettingsError,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Builds a configured destination from settings JSON and an optional endpoint override — the
/// shape of the registry's `configure`.
pub type Factory = Arc<ConfigureFn>;

/// The closure behind a [`Factory`].
pub type ConfigureFn =
    dyn Fn(Value, Option<&str>) -> Result<Arc<dyn DynDestination>, SettingsError> + Send + Sync;

/// A registry-style `configure` function.
pub type Configure = fn(Value, Option<&str>) -> Result<Arc<dyn DynDestination>, SettingsError>;

/// The Retry-After (seconds) the suite's 429 case sends.
pub const RETRY_AFTER_SECS: u64 = 7;

/// The conformance suite for one destination.
///
/// ```no_run
/// # async fn demo<D: destination_kit::Destination + Clone>(dest: D, mock: spec_tests::mock::MockPartner) {
/// // settings `null`: use the settings the mock partner came with
/// spec_tests::Suite::new(dest, serde_json::Value::Null).against(mock).run().await.assert_conformant();
/// # }
/// ```
pub struct Suite {
    factory: Factory,
    settings: Value,
    mock: Option<MockPartner>,
    secrets: Vec<String>,
    attempt_timeout: Duration,
}

impl std::fmt::Debug for Suite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suite")
            .field("attempt_timeout", &self.attempt_timeout)
            .finish_non_exhaustive()
    }
}

/// The `classification.timeout` case's attempt timeout unless [`Suite::attempt_timeout`] sets
/// one: the first attempt waits it out, and the retry must be answered within it. At 400 ms a
/// CI machine's stall once made the retry time out as well (delivered after 3 attempts).
const DEFAULT_TIMEOUT_CASE_ATTEMPT: Duration = Duration::from_secs(1);

impl Suite {
    /// A suite for `destination` with `settings` (JSON, as a user would write them). With
    /// `Value::Null`, the mock partner's own settings are used; otherwise the settings are pointed
    /// at the mock with [`destination_kit::Settings::set_endpoint`].
    pub fn new<D: Destination + Clone>(destination: D, settings: Value) -> Suite {
        let factory: Factory = Arc::new(move |v, endpoint| {
            Configured::from_json(destination.clone(), v, endpoint).map(Configured::into_dyn)
        });
        Suite::with_factory(factory, settings)
    }

    /// A suite over an erased factory (the registry's `configure`), e.g. for `destkit
    /// conformance`. `settings` as in [`Suite::new`].
    pub fn with_factory(factory: Factory, settings: Value) -> Suite {
        Suite {
            factory,
            settings,
            mock: None,
            secrets: Vec::new(),
            attempt_timeout: DEFAULT_TIMEOUT_CASE_ATTEMPT,
        }
    }

    /// A suite over a registry-style `configure` function, using the mock partner's settings.
    pub fn from_configure(configure: Configure) -> Suite {
        Suite::with_factory(Arc::new(configure), Value::Null)
    }

    /// Run against this mock partner.
    pub fn against(mut self, mock: MockPartner) -> Suite {
        self.mock = Some(mock);
        self
    }

    /// A value that must never appear in reports, dead letters, Debug output or logs (secret
    /// settings are also found on their own: string settings that `Debug` does not show).
    pub fn secret(mut self, value: impl Into<String>) -> Suite {
        self.secrets.push(value.into());
        self
    }

    /// The attempt timeout of the `classification.timeout` case (default 1 s: the case waits
    /// about this long in real time). The case's retry must be answered within it too, so a
    /// shorter one can turn a stalled machine's retry into a third attempt. The other runs allow
    /// each attempt 10 s.
    pub fn attempt_timeout(mut self, d: Duration) -> Suite {
        self.attempt_timeout = d;
        self
    }

    /// Run every check.
    pub async fn run(self) -> Report {
        let Some(mock) = self.mock else {
            let mut r = Report::new("?");
            r.push(
                "setup",
                false,
                "no mock partner: call .against(mock) before .run()",
            );
            return r;
        };
        let (settings, endpoint) = if self.settings.is_null() {
            (mock.settings.clone(), None)
        } else {
            (self.settings.clone(), Some(mock.uri()))
        };
        let dest = match (self.factory)(settings.clone(), endpoint.as_deref()) {
            Ok(d) => d,
            Err(e) => {
                let mut r = Report::new("?");
                r.push(
                    "setup",
                    false,
                    format!("the settings do not configure: {e}"),
                );
                return r;
            }
        };
        let info = dest.info();
        let hints = dest.conformance_hints();
        let settings_debug = dest.settings_debug();
        let mut secrets = self.secrets.clone();
        collect_secrets(&settings, &settings_debug, &mut secrets);
        secrets.retain(|s| !s.is_empty());
        let logs = crate::logs::capture();
        let log_mark = logs.map(|l| l.len());
        let now = Utc::now();
        let base: DateTime<Utc> = FIXTURE_BASE.parse().expect("a valid base time");
        // whole seconds, so each fixture keeps its milliseconds
        let shift = chrono::Duration::seconds((now - base).num_seconds() - 3 * 3600);
        let mut cx = Cx {
            factory: self.factory.clone(),
            settings,
            upstream: mock.uri(),
            dest,
            info: info.clone(),
            hints,
            secrets,
            timeout: self.attempt_timeout,
            report: Report::new(info.slug),
            outputs: vec![("the settings' Debug".into(), settings_debug)],
            runs: Vec::new(),
            fx: Vec::new(),
            now,
            shift,
        };
        cx.prepare();
        cx.coverage();
        cx.edge_cases();
        cx.wire().await;
        let probe = cx.probe();
        cx.classification(probe).await;
        cx.split_413(probe).await;
        cx.partial_batch(probe).await;
        cx.duplicates(probe).await;
        cx.shuffled_time().await;
        cx.bad_input(probe).await;
        cx.accounting();
        cx.secrets(logs.map(|l| l.text_since(log_mark.unwrap_or(0))));
        drop(mock);
        cx.report
    }
}

/// String settings (any depth) that the settings' `Debug` does not show are secrets.
fn collect_secrets(v: &Value, debug: &str, out: &mut Vec<String>) {
    match v {
        Value::String(s) if s.len() >= 6 && !debug.contains(s.as_str()) && !out.contains(s) => {
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|x| collect_secrets(x, debug, out)),
        Value::Object(m) => m.values().for_each(|x| collect_secrets(x, debug, out)),
        _ => {}
    }
}

/// What map() said about one fixture.
#[derive(Debug, Clone)]
enum MapResult {
    Send(Vec<Payload>),
    Unsupported(String),
    Invalid(String),
    Panic(String),
}

/// A fixture, parsed, recognised and mapped.
struct Fx {
    label: String,
    kind: Option<&'static SpecEventKind>,
    value: Value,
    msg: Message,
    time: DateTime<Utc>,
    /// Whether the destination takes its call and claims its family (or it is not a spec event).
    claimed: bool,
    /// Whether it is one of the edge cases.
    edge: bool,
    mapped: MapResult,
}

struct Run {
    label: String,
    input: usize,
    result: DeliveryResult,
    proxy_requests: usize,
}

struct Cx {
    factory: Factory,
    settings: Value,
    upstream: String,
    dest: Arc<dyn DynDestination>,
    info: DestinationInfo,
    hints: ConformanceHints,
    secrets: Vec<String>,
    timeout: Duration,
    report: Report,
    outputs: Vec<(String, String)>,
    runs: Vec<Run>,
    fx: Vec<Fx>,
    /// The suite's "now".
    now: DateTime<Utc>,
    /// How far the fixtures' times are moved so they are a few hours old at `now` (partners
    /// refuse or move events older than a few days).
    shift: chrono::Duration,
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// Join failure lines, at most 12 shown.
fn lines(fails: &[String]) -> String {
    let mut s: Vec<String> = fails.iter().take(12).cloned().collect();
    if fails.len() > 12 {
        s.push(format!("… and {} more", fails.len() - 12));
    }
    s.join("\n")
}

fn outcome_text(o: &Outcome) -> String {
    match o {
        Outcome::Failed { kind, reason, .. } => format!("failed ({kind:?}: {reason})"),
        other => match other.reason() {
            Some(r) => format!("{} ({r})", other.name()),
            None => other.name().to_string(),
        },
    }
}

/// The fixtures' time base: their first event is at this instant.
const FIXTURE_BASE: &str = "2026-03-14T09:00:00Z";

/// Move the event's time fields by `delta`, keeping each one's offset (fields that do not parse
/// stay as they are).
fn rebase(v: &mut Value, delta: chrono::Duration) {
    let Some(m) = v.as_object_mut() else { return };
    for key in ["timestamp", "originalTimestamp", "sentAt", "receivedAt"] {
        let Some(Value::String(t)) = m.get(key) else {
            continue;
        };
        let Ok(parsed) = DateTime::parse_from_rfc3339(t) else {
            continue;
        };
        let moved = parsed + delta;
        let zulu = t.ends_with('Z') || t.ends_with('z');
        let text = if zulu {
            moved
                .with_timezone(&Utc)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        } else {
            moved.to_rfc3339_opts(chrono::SecondsFormat::Millis, false)
        };
        m.insert(key.into(), Value::String(text));
    }
}

fn with_id(v: &Value, id: &str) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.insert("messageId".into(), Value::String(id.into()));
    }
    v
}

impl Cx {
    fn redact(&self, s: &str) -> String {
        let mut out = s.to_string();
        for sec in &self.secrets {
            out = out.replace(sec.as_str(), destination_kit::secret::REDACTED);
        }
        out
    }

    fn push(&mut self, name: &str, passed: bool, detail: String) {
        let detail = self.redact(&detail);
        self.report.push(name, passed, detail);
    }

    fn map_one(&self, msg: &Message, time: DateTime<Utc>) -> Result<MapResult, String> {
        let spec = match SpecEvent::from_message(msg) {
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                return Err(e
                    .iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("; "));
            }
            None => None,
        };
        let ev = Event::new(msg, spec.as_ref(), time);
        let dest = &self.dest;
        Ok(match catch_unwind(AssertUnwindSafe(|| dest.map(&ev))) {
            Ok(Mapped::Send(p)) => MapResult::Send(p),
            Ok(Mapped::Unsupported { reason }) => MapResult::Unsupported(reason),
            Ok(Mapped::Invalid { reason }) => MapResult::Invalid(reason),
            Err(p) => MapResult::Panic(panic_text(p.as_ref())),
        })
    }

    /// Parse, recognise and map every fixture once.
    fn prepare(&mut self) {
        let mut list: Vec<(String, Option<&'static SpecEventKind>, Value, bool)> = Vec::new();
        for (kind, v) in fixtures::all_spec_events() {
            list.push((kind.name.to_string(), Some(kind), v, false));
        }
        for (call, v) in fixtures::calls() {
            list.push((format!("{call} call"), None, v, false));
        }
        for (name, v) in fixtures::edge_cases() {
            list.push((format!("edge case `{name}`"), None, v, true));
        }
        for (label, kind, mut value, edge) in list {
            rebase(&mut value, self.shift);
            let msg = match Message::from_value(value.clone()) {
                Ok(m) => m,
                Err(e) => {
                    let d = format!("{label}: the fixture does not parse: {e}");
                    self.push("fixtures", false, d);
                    continue;
                }
            };
            let time = msg.event_time().unwrap_or(self.now);
            let takes_call = self.info.calls.contains(&msg.call());
            let claimed = takes_call && kind.is_none_or(|k| self.info.families.contains(&k.family));
            let mapped = match self.map_one(&msg, time) {
                Ok(m) => m,
                Err(e) => MapResult::Invalid(format!("the fixture is not recognised: {e}")),
            };
            self.fx.push(Fx {
                label,
                kind,
                value,
                msg,
                time,
                claimed,
                edge,
                mapped,
            });
        }
    }

    fn coverage(&mut self) {
        let native = self.hints.native_events;
        let mut fails = Vec::new();
        let mut rows = Vec::new();
        for f in &self.fx {
            if f.edge {
                continue;
            }
            let (status, note) = match &f.mapped {
                MapResult::Send(p) if p.is_empty() => (
                    CoverageStatus::Failing,
                    "mapped to nothing to send (a silent drop)".to_string(),
                ),
                MapResult::Send(_) => {
                    let natively = match (native, f.kind) {
                        (Some(list), Some(k)) => list.contains(&k.name),
                        _ => true,
                    };
                    if natively {
                        (CoverageStatus::Mapped, String::new())
                    } else {
                        (CoverageStatus::Custom, String::new())
                    }
                }
                MapResult::Unsupported(r) if r.trim().is_empty() => (
                    CoverageStatus::Failing,
                    "declared unsupported without a reason".to_string(),
                ),
                MapResult::Unsupported(r) => (CoverageStatus::Unsupported, r.clone()),
                MapResult::Invalid(r) => (
                    CoverageStatus::Failing,
                    format!("map() said Invalid for the canonical fixture: {r}"),
                ),
                MapResult::Panic(p) => (CoverageStatus::Failing, format!("map() panicked: {p}")),
            };
            let takes_call = self.info.calls.contains(&f.msg.call());
            if status == CoverageStatus::Failing && f.claimed {
                fails.push(format!("{}: {note}", f.label));
            }
            if let Some(k) = f.kind {
                let claimed = takes_call && self.info.families.contains(&k.family);
                rows.push(CoverageRow {
                    family: k.family.as_str().to_string(),
                    event: k.name.to_string(),
                    status,
                    claimed,
                    note,
                });
            }
        }
        let claimed_n = rows.iter().filter(|r| r.claimed).count();
        let families: Vec<&str> = self.info.families.iter().map(|f| f.as_str()).collect();
        let detail = if fails.is_empty() {
            format!(
                "{claimed_n} spec events of the claimed families [{}] and {} calls mapped or declared unsupported with a reason",
                families.join(", "),
                self.info.calls.len()
            )
        } else {
            lines(&fails)
        };
        self.report.coverage = rows;
        self.push("coverage", fails.is_empty(), detail);
    }

    fn edge_cases(&mut self) {
        let mut fails = Vec::new();
        let mut n = 0;
        for f in self.fx.iter().filter(|f| f.edge && f.claimed) {
            n += 1;
            match &f.mapped {
                MapResult::Panic(p) => fails.push(format!("{}: map() panicked: {p}", f.label)),
                MapResult::Send(p) if p.is_empty() => {
                    fails.push(format!("{}: mapped to nothing (a silent drop)", f.label))
                }
                MapResult::Unsupported(r) | MapResult::Invalid(r) if r.trim().is_empty() => {
                    fails.push(format!("{}: refused without a reason", f.label))
                }
                _ => {}
            }
        }
        let d = if fails.is_empty() {
            format!(
                "{n} edge cases (empty products, unicode, long strings, nulls, odd timestamps …) mapped without a panic or a silent drop"
            )
        } else {
            lines(&fails)
        };
        self.push("edge_cases", fails.is_empty(), d);
    }

    /// A virtual clock standing at the suite's "now" (real time when the suite started).
    fn clock(&self) -> Arc<TestClock> {
        let ms = self.now.timestamp_millis().max(0) as u64;
        Arc::new(TestClock::new(UNIX_EPOCH + Duration::from_millis(ms)))
    }

    /// A runtime on `clock`. Every case but `classification.timeout` uses a generous attempt
    /// timeout, so a slow machine never turns an answer into a timeout.
    fn runtime(
        &self,
        dest: Arc<dyn DynDestination>,
        clock: Arc<TestClock>,
        short: bool,
    ) -> Runtime {
        let attempt_timeout = if short {
            self.timeout
        } else {
            self.timeout.max(Duration::from_secs(10))
        };
        let retry = RetryPolicy {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            max_retry_duration: Duration::from_secs(4 * 3600),
            attempt_timeout,
        };
        let mut cfg = DeliveryConfig::default().concurrency(4).retry(retry);
        cfg.flush_interval = Duration::from_secs(30);
        Runtime::new(dest, cfg).with_clock(clock)
    }

    /// Deliver `input` (JSON lines) through a fresh fault proxy in front of the mock partner.
    async fn run_faults(
        &mut self,
        label: &str,
        script: Vec<Fault>,
        input: Vec<u8>,
        clock: Arc<TestClock>,
        dead_letter: Option<&std::path::Path>,
    ) -> Option<(DeliveryResult, Vec<crate::fault::Recorded>)> {
        let proxy = match FaultProxy::start(Some(self.upstream.clone()), script).await {
            Ok(p) => p,
            Err(e) => {
                self.push(
                    label,
                    false,
                    format!("could not start the fault proxy: {e}"),
                );
                return None;
            }
        };
        let dest = match (self.factory)(self.settings.clone(), Some(&proxy.uri())) {
            Ok(d) => d,
            Err(e) => {
                let d = format!("the settings do not accept another endpoint: {e}");
                self.push(label, false, d);
                return None;
            }
        };
        let mut rt = self.runtime(dest, clock, label == "classification.timeout");
        if let Some(p) = dead_letter {
            rt = rt.with_dead_letter(p);
        }
        let n_lines = input
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count();
        let result = rt.deliver_bytes(&input).await;
        let seen = proxy.requests();
        self.outputs.push((
            format!("the {label} run's report"),
            serde_json::to_string(&result.report).unwrap_or_default()
                + &serde_json::to_string(&result.events).unwrap_or_default()
                + &result.warnings.join("\n"),
        ));
        self.runs.push(Run {
            label: label.to_string(),
            input: n_lines,
            result: result.clone(),
            proxy_requests: seen.len(),
        });
        Some((result, seen))
    }

    fn jsonl(values: &[Value]) -> Vec<u8> {
        let mut out = Vec::new();
        for v in values {
            out.extend(serde_json::to_vec(v).unwrap_or_default());
            out.push(b'\n');
        }
        out
    }

    /// What the destination would send for this event alone.
    fn evidence(&self, payloads: &[Payload]) -> Evidence {
        let mut e = Evidence::default();
        let mut by_route: BTreeMap<String, Vec<Payload>> = BTreeMap::new();
        for p in payloads {
            by_route
                .entry(p.route.to_string())
                .or_default()
                .push(p.clone());
        }
        for (route, ps) in by_route {
            let req = self.dest.request(&route, &ps);
            e.add(&req.url);
            e.add_bytes(&req.body);
        }
        e
    }

    async fn wire(&mut self) {
        // every sendable fixture, through the runtime, to the mock partner
        // a fixture whose map() panicked is not sent: the panic is already reported
        let sendable: Vec<usize> = (0..self.fx.len())
            .filter(|&i| self.fx[i].claimed && !matches!(self.fx[i].mapped, MapResult::Panic(_)))
            .collect();
        let mut ids = std::collections::HashSet::new();
        let values: Vec<Value> = sendable
            .iter()
            .map(|&i| {
                let v = &self.fx[i].value;
                let id = self.fx[i].msg.message_id().unwrap_or_default().to_string();
                if ids.insert(id) {
                    v.clone()
                } else {
                    with_id(v, &format!("conformance-wire-{i}"))
                }
            })
            .collect();
        let clock = self.clock();
        let Some((result, _)) = self
            .run_faults(
                "wire.accepted",
                Vec::new(),
                Self::jsonl(&values),
                clock,
                None,
            )
            .await
        else {
            return;
        };
        let mut fails = Vec::new();
        let mut sent = 0;
        // events the send hook filtered on session state, when the destination declares it can
        let mut on_state = Vec::new();
        for (n, &i) in sendable.iter().enumerate() {
            let f = &self.fx[i];
            let Some(eo) = result.events.iter().find(|e| e.line == n + 1) else {
                fails.push(format!("{}: no outcome at all", f.label));
                continue;
            };
            match (&f.mapped, &eo.outcome) {
                (MapResult::Send(p), Outcome::Delivered) if !p.is_empty() => sent += 1,
                (MapResult::Send(p), Outcome::Filtered { reason })
                    if !p.is_empty() && self.hints.filters_on_state.is_some() =>
                {
                    on_state.push(format!("{} ({reason})", f.label));
                }
                (MapResult::Send(p), o) if !p.is_empty() => fails.push(format!(
                    "{}: expected the mock partner to accept it; got {} after {} attempt(s)",
                    f.label,
                    outcome_text(o),
                    eo.attempts
                )),
                _ => {}
            }
        }
        if sent == 0 && !on_state.is_empty() {
            fails.push(format!(
                "all {} mapped events were filtered on session state: none was delivered",
                on_state.len()
            ));
        }
        let d = if !fails.is_empty() {
            lines(&fails)
        } else if on_state.is_empty() {
            format!("{sent} mapped events delivered to the mock partner")
        } else {
            format!(
                "{sent} mapped events delivered to the mock partner; {} filtered on session state, as declared ({}): {}",
                on_state.len(),
                self.hints.filters_on_state.unwrap_or_default(),
                on_state.join("; ")
            )
        };
        self.push("wire.accepted", fails.is_empty(), d);

        // per event: what its own request carries
        let mut t_fails = Vec::new();
        let mut d_fails = Vec::new();
        let mut p_fails = Vec::new();
        let (mut tn, mut dn, mut pn) = (0, 0, 0);
        for f in self.fx.iter().filter(|f| f.claimed && !f.edge) {
            let MapResult::Send(payloads) = &f.mapped else {
                continue;
            };
            if payloads.is_empty() {
                continue;
            }
            let ev = self.evidence(payloads);
            let call = f.msg.call();
            if f.kind
                .is_some_and(|k| self.hints.profile_updates.contains(&k.name))
            {
                continue;
            }
            if matches!(call, CallType::Track | CallType::Page | CallType::Screen) {
                tn += 1;
                if !ev.contains_time(f.time, f.msg.timestamp_raw()) {
                    t_fails.push(format!(
                        "{}: expected the event time {} in the request; it carried: {}",
                        f.label,
                        time_forms(f.time),
                        ev.snippet(300)
                    ));
                }
            }
            if call == CallType::Track {
                let mid = f.msg.message_id().unwrap_or_default();
                let key = match self.hints.dedup_key {
                    DedupKey::MessageId => Some(mid.to_string()),
                    DedupKey::Derived(g) => Some(g(mid)),
                    DedupKey::None(_) => None,
                };
                if let Some(key) = key {
                    dn += 1;
                    // the key as a whole JSON string, not a part of one (`"m-1:0"` is not the
                    // key `m-1`)
                    let whole = serde_json::to_string(&key).unwrap_or_default();
                    if !ev.contains(&whole) {
                        d_fails.push(format!(
                            "{}: expected the dedup key {key:?} (from messageId {mid:?}) in the request; it carried: {}",
                            f.label,
                            ev.snippet(300)
                        ));
                    }
                }
            }
            let products = f.value["properties"]["products"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let ids: Vec<String> = products
                .iter()
                .filter_map(|p| {
                    ["product_id", "sku", "id"]
                        .iter()
                        .find_map(|k| p[*k].as_str().map(str::to_string))
                })
                .collect();
            if !ids.is_empty() && self.hints.no_items.is_none() {
                pn += 1;
                let missing: Vec<&String> = ids.iter().filter(|id| !ev.contains(id)).collect();
                if !missing.is_empty() {
                    p_fails.push(format!(
                        "{}: expected every product as an item; missing {:?}; the request carried: {}",
                        f.label,
                        missing,
                        ev.snippet(300)
                    ));
                }
            }
        }
        let d = if t_fails.is_empty() {
            format!("{tn} timed events carry their own event time")
        } else {
            lines(&t_fails)
        };
        self.push("wire.timestamp", t_fails.is_empty(), d);
        let d = match (self.hints.dedup_key, d_fails.is_empty()) {
            (DedupKey::None(why), _) => format!("the partner has no dedup key: {why}"),
            (_, true) => format!("{dn} track events carry their messageId as the dedup key"),
            (_, false) => lines(&d_fails),
        };
        self.push("wire.dedup_key", d_fails.is_empty(), d);
        let d = if let Some(why) = self.hints.no_items {
            format!("the partner has no item list: {why}")
        } else if p_fails.is_empty() {
            format!("{pn} events with products carry every product id")
        } else {
            lines(&p_fails)
        };
        self.push("wire.products", p_fails.is_empty(), d);
    }

    /// The fixture the fault cases send: one that maps to exactly one payload.
    fn probe(&self) -> Option<usize> {
        let one = |f: &Fx| matches!(&f.mapped, MapResult::Send(p) if p.len() == 1);
        let track = self.fx.iter().position(|f| {
            f.claimed && !f.edge && f.kind.is_none() && f.msg.call() == CallType::Track && one(f)
        });
        track
            .or_else(|| {
                self.fx
                    .iter()
                    .position(|f| f.claimed && !f.edge && f.kind.is_some() && one(f))
            })
            .or_else(|| self.fx.iter().position(|f| f.claimed && !f.edge && one(f)))
    }

    fn copies(&self, probe: usize, tag: &str, n: usize) -> Vec<Value> {
        let v = &self.fx[probe].value;
        (0..n)
            .map(|i| with_id(v, &format!("conformance-{tag}-{i}")))
            .collect()
    }

    async fn classification(&mut self, probe: Option<usize>) {
        let Some(probe) = probe else {
            for name in ["classification", "retry_after"] {
                self.push(
                    name,
                    false,
                    "no fixture maps to exactly one payload, so faults cannot be injected".into(),
                );
            }
            return;
        };
        enum Exp {
            Failed(Option<ErrorKind>),
            Recovers,
        }
        let t = self.timeout;
        let cases: Vec<(&str, Option<u16>, Fault, Exp)> = vec![
            (
                "400",
                Some(400),
                Fault::status(400),
                Exp::Failed(Some(ErrorKind::Client)),
            ),
            (
                "401",
                Some(401),
                Fault::status(401),
                Exp::Failed(Some(ErrorKind::Auth)),
            ),
            (
                "403",
                Some(403),
                Fault::status(403),
                Exp::Failed(Some(ErrorKind::Auth)),
            ),
            (
                "404",
                Some(404),
                Fault::status(404),
                Exp::Failed(Some(ErrorKind::Client)),
            ),
            ("408", Some(408), Fault::status(408), Exp::Recovers),
            (
                "413",
                Some(413),
                Fault::status(413),
                Exp::Failed(Some(ErrorKind::PayloadTooLarge)),
            ),
            (
                "422",
                Some(422),
                Fault::status(422),
                Exp::Failed(Some(ErrorKind::Client)),
            ),
            (
                "429_retry_after",
                Some(429),
                Fault::status_with(429, "retry-after", &RETRY_AFTER_SECS.to_string()),
                Exp::Recovers,
            ),
            ("500", Some(500), Fault::status(500), Exp::Recovers),
            ("501", Some(501), Fault::status(501), Exp::Failed(None)),
            ("502", Some(502), Fault::status(502), Exp::Recovers),
            ("503", Some(503), Fault::status(503), Exp::Recovers),
            ("504", Some(504), Fault::status(504), Exp::Recovers),
            ("timeout", None, Fault::Hang(t * 3), Exp::Recovers),
            ("reset", None, Fault::Reset, Exp::Recovers),
        ];
        let label = self.fx[probe].label.clone();
        let dl_dir = std::env::temp_dir().join(format!(
            "spec-tests-{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let _ = std::fs::create_dir_all(&dl_dir);
        for (case, status, fault, exp) in cases {
            let name = format!("classification.{case}");
            // permanent answers keep coming; transient ones happen once
            let script = match exp {
                Exp::Failed(_) => vec![fault.clone(); 3],
                Exp::Recovers => vec![fault.clone()],
            };
            let input = Self::jsonl(&self.copies(probe, case, 1));
            let clock = self.clock();
            let dl = dl_dir.join(format!("{case}.jsonl"));
            let Some((result, seen)) = self
                .run_faults(&name, script, input, clock.clone(), Some(&dl))
                .await
            else {
                continue;
            };
            if let Ok(text) = std::fs::read_to_string(&dl) {
                self.outputs
                    .push((format!("the {name} dead-letter file"), text));
            }
            let Some(eo) = result.events.first() else {
                self.push(&name, false, "no outcome for the event".into());
                continue;
            };
            let what = match status {
                Some(s) => format!("the partner answered {s}"),
                None if case == "timeout" => {
                    "the partner did not answer within the attempt timeout".into()
                }
                None => "the partner reset the connection".into(),
            };
            let got = format!(
                "got {} after {} attempt(s) ({} request(s) reached the partner)",
                outcome_text(&eo.outcome),
                eo.attempts,
                seen.len()
            );
            let (ok, expected) = match &exp {
                Exp::Failed(kind) => {
                    let ok_kind = match (&eo.outcome, kind) {
                        (Outcome::Failed { kind: k, .. }, Some(want)) => k == want,
                        (Outcome::Failed { .. }, None) => true,
                        _ => false,
                    };
                    let want = match kind {
                        Some(k) => format!("failed ({k:?}) after exactly 1 attempt, never retried"),
                        None => "failed after exactly 1 attempt, never retried".into(),
                    };
                    (ok_kind && eo.attempts == 1, want)
                }
                Exp::Recovers => (
                    eo.outcome == Outcome::Delivered && eo.attempts == 2,
                    "retried, then delivered after exactly 2 attempts".to_string(),
                ),
            };
            let overridden = status.and_then(|s| {
                self.hints
                    .status_overrides
                    .iter()
                    .find(|(c, _)| *c == s)
                    .map(|(_, why)| *why)
            });
            match overridden {
                Some(why) => self.push(
                    &name,
                    true,
                    format!("declared override ({why}); {label}: {what}; {got}"),
                ),
                None => self.push(
                    &name,
                    ok,
                    format!("{label}: {what}; expected {expected}; {got}"),
                ),
            }
            if case == "429_retry_after" {
                let waited = clock.elapsed();
                let ok = waited >= Duration::from_secs(RETRY_AFTER_SECS);
                self.push(
                    "retry_after",
                    ok,
                    format!(
                        "{label}: the partner answered 429 with Retry-After: {RETRY_AFTER_SECS}; expected the retry at least {RETRY_AFTER_SECS}s later; it came {:.3}s later (virtual clock)",
                        waited.as_secs_f64()
                    ),
                );
            }
        }
        let _ = std::fs::remove_dir_all(&dl_dir);
    }

    fn batch_max(&self) -> usize {
        self.info.batch.events
    }

    async fn split_413(&mut self, probe: Option<usize>) {
        let Some(probe) = probe else { return };
        let n = self.batch_max().min(4);
        if n < 2 {
            self.push(
                "split_413",
                true,
                "one event per request: a 413 fails that event alone (see classification.413)"
                    .into(),
            );
            return;
        }
        let input = Self::jsonl(&self.copies(probe, "split", n));
        let clock = self.clock();
        let Some((result, _)) = self
            .run_faults("split_413", vec![Fault::status(413)], input, clock, None)
            .await
        else {
            return;
        };
        let delivered = result
            .events
            .iter()
            .filter(|e| e.outcome == Outcome::Delivered)
            .count();
        let ok = delivered == n && result.report.requests == 3;
        let d = format!(
            "a batch of {n} copies of {} got 413 once; expected both halves resent and all {n} delivered in 3 requests; got {delivered} delivered in {} request(s)",
            self.fx[probe].label, result.report.requests
        );
        self.push("split_413", ok, d);
    }

    async fn partial_batch(&mut self, probe: Option<usize>) {
        let Some(probe) = probe else { return };
        let n = self.batch_max().min(4);
        if n < 2 {
            self.push(
                "partial_batch",
                true,
                "one event per request: every outcome is already per event".into(),
            );
            return;
        }
        let Some(answer) = self.hints.partial_failure else {
            // a batching destination says how its partner refuses part of a batch, or that it
            // never does: silence would let a lost partial failure pass unchecked
            let (ok, d) = match self.hints.whole_batch_only {
                Some(why) => (
                    true,
                    format!("not applicable: the partner answers a batch as a whole only ({why})"),
                ),
                None => (
                    false,
                    format!(
                        "batches of up to {n} events, and no word on how the partner refuses part of one: declare ConformanceHints::partial_failure (its answer), or ConformanceHints::whole_batch_only (why it has none)"
                    ),
                ),
            };
            self.push("partial_batch", ok, d);
            return;
        };
        // two refused, not adjacent, when the batch has room: a destination that reads only
        // the first index is caught
        let refused: &[usize] = if n >= 4 { &[1, 3] } else { &[1] };
        let (status, body) = answer(n, refused);
        let input = Self::jsonl(&self.copies(probe, "partial", n));
        let clock = self.clock();
        let Some((result, _)) = self
            .run_faults(
                "partial_batch",
                vec![Fault::json(status, body.clone())],
                input,
                clock,
                None,
            )
            .await
        else {
            return;
        };
        let mut fails = Vec::new();
        for i in 0..n {
            let eo = result.events.iter().find(|e| e.line == i + 1);
            let got = eo
                .map(|e| outcome_text(&e.outcome))
                .unwrap_or("no outcome".into());
            let refuse = refused.contains(&i);
            let ok = match (refuse, eo.map(|e| &e.outcome)) {
                (true, Some(Outcome::Failed { .. })) => true,
                (true, _) => false,
                (false, Some(Outcome::Delivered)) => true,
                _ => false,
            };
            if !ok {
                let want = if refuse { "failed" } else { "delivered" };
                fails.push(format!(
                    "event {i} of the batch: expected {want}; got {got}"
                ));
            }
        }
        let mut snippet: String = body.chars().take(200).collect();
        if body.len() > 200 {
            snippet.push('…');
        }
        let d = if fails.is_empty() {
            format!(
                "the partner refused events {refused:?} of a batch of {n} ({status} {snippet}); they alone failed, the others were delivered"
            )
        } else {
            format!(
                "the partner answered {status} {snippet} refusing events {refused:?} of {n}:\n{}",
                lines(&fails)
            )
        };
        self.push("partial_batch", fails.is_empty(), d);
    }

    async fn duplicates(&mut self, probe: Option<usize>) {
        let Some(probe) = probe else { return };
        let mut vs = self.copies(probe, "dup", 2);
        vs.insert(1, vs[0].clone());
        let clock = self.clock();
        let Some((result, _)) = self
            .run_faults("duplicates", Vec::new(), Self::jsonl(&vs), clock, None)
            .await
        else {
            return;
        };
        let got: Vec<&str> = result.events.iter().map(|e| e.outcome.name()).collect();
        let ok = got == ["delivered", "duplicate", "delivered"];
        let d = format!(
            "{} sent twice with the same messageId between two others; expected delivered, duplicate, delivered; got {}",
            self.fx[probe].label,
            got.join(", ")
        );
        self.push("duplicates", ok, d);
    }

    async fn shuffled_time(&mut self) {
        let mut timed: Vec<usize> = (0..self.fx.len())
            .filter(|&i| {
                let f = &self.fx[i];
                f.claimed
                    && !f.edge
                    && matches!(
                        f.msg.call(),
                        CallType::Track | CallType::Page | CallType::Screen
                    )
                    && matches!(&f.mapped, MapResult::Send(p) if !p.is_empty())
                    && !f
                        .kind
                        .is_some_and(|k| self.hints.profile_updates.contains(&k.name))
            })
            .collect();
        // a fixed shuffle: odd positions reversed, then even positions
        type Split = Vec<(usize, usize)>;
        let (odd, even): (Split, Split) = timed
            .iter()
            .copied()
            .enumerate()
            .partition(|(n, _)| n % 2 == 1);
        timed = odd.into_iter().rev().chain(even).map(|(_, i)| i).collect();
        let values: Vec<Value> = timed
            .iter()
            .map(|&i| {
                let v = &self.fx[i].value;
                let id = format!(
                    "shuffled-{}",
                    self.fx[i].msg.message_id().unwrap_or_default()
                );
                with_id(v, &id)
            })
            .collect();
        // the events are hours old: one sent with "now" would not show its own time
        let clock = self.clock();
        let Some((result, seen)) = self
            .run_faults(
                "shuffled_time",
                Vec::new(),
                Self::jsonl(&values),
                clock,
                None,
            )
            .await
        else {
            return;
        };
        let mut ev = Evidence::default();
        for r in &seen {
            ev.add(&r.path);
            ev.add_bytes(&r.body);
        }
        let mut fails = Vec::new();
        // out of order, a session's close may come first: what the destination then filters
        // on session state, as it declares it may, is reported, not failed
        let mut on_state = 0;
        for (n, &i) in timed.iter().enumerate() {
            let f = &self.fx[i];
            let eo = result.events.iter().find(|e| e.line == n + 1);
            if self.hints.filters_on_state.is_some()
                && matches!(eo.map(|e| &e.outcome), Some(Outcome::Filtered { .. }))
            {
                on_state += 1;
            } else if eo.map(|e| &e.outcome) != Some(&Outcome::Delivered) {
                fails.push(format!(
                    "{}: expected delivered; got {}",
                    f.label,
                    eo.map(|e| outcome_text(&e.outcome))
                        .unwrap_or("no outcome".into())
                ));
            } else if !ev.contains_time(f.time, f.msg.timestamp_raw()) {
                fails.push(format!(
                    "{}: expected its own time {} among the {} requests the partner received; not found",
                    f.label,
                    time_forms(f.time),
                    seen.len()
                ));
            }
        }
        if on_state > 0 && on_state == timed.len() {
            fails.push(format!(
                "all {on_state} timed events were filtered on session state: none was delivered"
            ));
        }
        let d = if fails.is_empty() {
            let filtered = if on_state > 0 {
                format!(
                    "; {on_state} filtered on session state, as declared ({})",
                    self.hints.filters_on_state.unwrap_or_default()
                )
            } else {
                String::new()
            };
            format!(
                "{} timed events sent out of order, hours after they happened, each landed with its own time{filtered}",
                timed.len() - on_state
            )
        } else {
            lines(&fails)
        };
        self.push("shuffled_time", fails.is_empty(), d);
    }

    async fn bad_input(&mut self, probe: Option<usize>) {
        let Some(probe) = probe else { return };
        let bad: Vec<_> = fixtures::malformed()
            .into_iter()
            .filter(|m| {
                !m.bytes.trim_ascii().is_empty()
                    && !m.bytes.contains(&b'\n')
                    && !m.errors.is_empty()
            })
            .collect();
        let goods = self.copies(probe, "good", bad.len() + 1);
        let mut input = Vec::new();
        // line -> expected: None = good, Some(error) = must be rejected naming it
        let mut expect: Vec<(Option<&'static str>, String)> = Vec::new();
        for (i, good) in goods.iter().enumerate() {
            input.extend(serde_json::to_vec(good).unwrap_or_default());
            input.push(b'\n');
            expect.push((None, format!("good event {i}")));
            if let Some(m) = bad.get(i) {
                let mut bytes = m.bytes.clone();
                // distinct messageIds, so no malformed event is taken for a duplicate
                if let Ok(mut v) = serde_json::from_slice::<Value>(&bytes)
                    && v.get("messageId").is_some_and(Value::is_string)
                    && !m.path.starts_with("messageId")
                    && let Some(o) = v.as_object_mut()
                {
                    o.insert("messageId".into(), format!("bad-input-{i}").into());
                    bytes = serde_json::to_vec(&v).unwrap_or(bytes);
                }
                input.extend(bytes);
                input.push(b'\n');
                expect.push((Some(m.errors[0]), format!("malformed `{}`", m.name)));
            }
        }
        let clock = self.clock();
        let Some((result, _)) = self
            .run_faults("bad_input", Vec::new(), input, clock, None)
            .await
        else {
            return;
        };
        let mut fails = Vec::new();
        for (n, (want, label)) in expect.iter().enumerate() {
            let outs: Vec<_> = result.events.iter().filter(|e| e.line == n + 1).collect();
            if outs.is_empty() {
                fails.push(format!("line {} ({label}): no outcome", n + 1));
                continue;
            }
            for eo in outs {
                match (want, &eo.outcome) {
                    (None, Outcome::Delivered) => {}
                    (None, o) => fails.push(format!(
                        "line {} ({label}): expected delivered next to the bad input; got {}",
                        n + 1,
                        outcome_text(o)
                    )),
                    (Some(err), Outcome::Rejected { reason }) if reason.contains(err) => {}
                    (Some(_), Outcome::Filtered { .. }) => {}
                    (Some(err), o) => fails.push(format!(
                        "line {} ({label}): expected rejected with an error containing {err:?}; got {}",
                        n + 1,
                        outcome_text(o)
                    )),
                }
            }
        }
        let d = if fails.is_empty() {
            format!(
                "{} malformed events rejected with an error naming the field; the {} good events around them delivered",
                bad.len(),
                goods.len()
            )
        } else {
            lines(&fails)
        };
        self.push("bad_input", fails.is_empty(), d);
    }

    fn accounting(&mut self) {
        let mut fails = Vec::new();
        let mut events = 0;
        for r in &self.runs {
            let rep = &r.result.report;
            events += rep.input;
            if !rep.adds_up() {
                fails.push(format!(
                    "{}: {} input events but {} outcomes",
                    r.label,
                    rep.input,
                    rep.outcomes()
                ));
            }
            if rep.input as usize != r.input || r.result.events.len() != r.input {
                fails.push(format!(
                    "{}: {} input lines, the report counts {}, {} per-event outcomes",
                    r.label,
                    r.input,
                    rep.input,
                    r.result.events.len()
                ));
            }
            if rep.requests as usize > r.proxy_requests {
                fails.push(format!(
                    "{}: the report counts {} requests but the partner received {}",
                    r.label, rep.requests, r.proxy_requests
                ));
            }
        }
        let d = if fails.is_empty() {
            format!(
                "{} runs, {events} events: every event has exactly one outcome and the request counts match what the partner received",
                self.runs.len()
            )
        } else {
            lines(&fails)
        };
        self.push("accounting", fails.is_empty(), d);
    }

    fn secrets(&mut self, logs: Option<String>) {
        if let Some(probe) = self.probe()
            && let MapResult::Send(p) = &self.fx[probe].mapped
        {
            let req = self.dest.request(&p[0].route, &p[..1]);
            self.outputs
                .push(("a partner request's Debug".into(), format!("{req:?}")));
        }
        let logged = logs.is_some();
        if let Some(l) = logs {
            self.outputs.push(("the captured logs".into(), l));
        }
        let mut fails = Vec::new();
        for (where_, text) in &self.outputs {
            for (n, s) in self.secrets.iter().enumerate() {
                if text.contains(s.as_str()) {
                    fails.push(format!("secret setting #{} appears in {where_}", n + 1));
                }
            }
        }
        let d = if self.secrets.is_empty() {
            "the settings hold no secret values".to_string()
        } else if fails.is_empty() {
            format!(
                "{} secret value(s) absent from {} outputs (reports, dead letters, Debug{})",
                self.secrets.len(),
                self.outputs.len(),
                if logged {
                    ", logs"
                } else {
                    "; logs not captured: another subscriber is installed"
                }
            )
        } else {
            lines(&fails)
        };
        self.push("secrets", fails.is_empty(), d);
    }
}
