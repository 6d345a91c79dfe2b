//! One batch's life: send, read the verdicts, resend, split, back off and retry until every
//! payload has a final result. Runs as one task per batch (never one per event).

use super::clock::Clock;
use super::config::RetryPolicy;
use crate::classify::ErrorKind;
use crate::destination::{DynDestination, HttpClient, Payload, TransportError, Verdict, Verdicts};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;

/// A payload resent at once (`Verdict::Resend`) more often than this in a row is treated as a
/// transient failure and backs off: a partner that never processes it cannot spin the runtime.
const MAX_RESENDS: u32 = 5;

/// What a batch task shares with the runtime.
pub(crate) struct Shared {
    pub dest: Arc<dyn DynDestination>,
    pub http: HttpClient,
    pub clock: Arc<dyn Clock>,
    pub retry: RetryPolicy,
    pub inflight: Arc<Semaphore>,
    pub limiter: Option<Pacer>,
    pub slug: &'static str,
    /// Told of every scheduled retry, so a restart resumes the attempt count and the wait.
    pub journal: Option<Arc<dyn super::state::Journal>>,
}

/// The request-rate limit: requests leave at most every `1/rate` seconds, on the runtime's
/// [`Clock`] (so a test proves the pacing on virtual time). No bursts: a request that finds the
/// slot free goes at once, the next one waits one interval after it.
pub(crate) struct Pacer {
    interval: Duration,
    next: std::sync::Mutex<Option<SystemTime>>,
}

impl Pacer {
    /// At most `per_second` requests per second.
    pub fn new(per_second: std::num::NonZeroU32) -> Pacer {
        Pacer {
            interval: Duration::from_secs(1) / per_second.get(),
            next: std::sync::Mutex::new(None),
        }
    }

    /// Wait for this request's slot.
    pub async fn wait(&self, clock: &dyn Clock) {
        let now = clock.now();
        let slot = {
            let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
            let slot = next.map_or(now, |n| n.max(now));
            *next = Some(slot + self.interval);
            slot
        };
        if slot > now {
            clock.sleep_until(slot).await;
        }
    }
}

/// One payload on its way, with its event's slot.
pub(crate) struct Item {
    pub slot: u32,
    /// The event's input position (for the journal).
    pub at: (usize, Option<usize>),
    pub attempts: u32,
    pub resends: u32,
    pub first: Option<SystemTime>,
    /// Not sent before this time (a retry due when an earlier run stopped).
    pub not_before: Option<SystemTime>,
    pub last_status: Option<u16>,
}

impl Item {
    pub fn new(slot: u32) -> Item {
        Item {
            slot,
            at: (0, None),
            attempts: 0,
            resends: 0,
            first: None,
            not_before: None,
            last_status: None,
        }
    }
}

/// A payload's final result.
#[derive(Debug, Clone)]
pub(crate) enum End {
    Delivered,
    Filtered { reason: String },
    Failed { kind: ErrorKind, reason: String },
    Expired { reason: String },
}

/// A payload's final result with its slot and history.
pub(crate) struct Done {
    pub slot: u32,
    pub end: End,
    pub attempts: u32,
    pub last_status: Option<u16>,
}

/// What a finished batch reports back.
#[derive(Default)]
pub(crate) struct BatchDone {
    pub done: Vec<Done>,
    pub requests: u64,
    pub retries: u64,
    pub bytes_sent: u64,
}

struct Group {
    due: SystemTime,
    payloads: Vec<Payload>,
    items: Vec<Item>,
}

/// `t + d`, or a time ~100 years on when that does not fit a `SystemTime` (a budget or a wait
/// that large never comes due anyway).
pub(crate) fn later(t: SystemTime, d: Duration) -> SystemTime {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(t)
}

fn finish(out: &mut BatchDone, item: Item, end: End) {
    out.done.push(Done {
        slot: item.slot,
        end,
        attempts: item.attempts,
        last_status: item.last_status,
    });
}

/// Deliver one batch to the end.
pub(crate) async fn run_batch(
    sh: Arc<Shared>,
    route: Cow<'static, str>,
    payloads: Vec<Payload>,
    items: Vec<Item>,
) -> BatchDone {
    // one result per payload: room for all of them at once
    let mut out = BatchDone {
        done: Vec::with_capacity(items.len()),
        ..BatchDone::default()
    };
    // a retry that an earlier run had scheduled is not sent before its time; the batch's other
    // payloads (new events, retries already due) go now, not with it
    let now = sh.clock.now();
    let mut queue = Vec::with_capacity(2);
    if items.iter().any(|i| i.not_before.is_some_and(|t| t > now)) {
        let (mut wait, mut go) = ((Vec::new(), Vec::new()), (Vec::new(), Vec::new()));
        for (p, i) in payloads.into_iter().zip(items) {
            let side = if i.not_before.is_some_and(|t| t > now) {
                &mut wait
            } else {
                &mut go
            };
            side.0.push(p);
            side.1.push(i);
        }
        let due = wait
            .1
            .iter()
            .filter_map(|i| i.not_before)
            .fold(now, SystemTime::max);
        queue.push(Group {
            due,
            payloads: wait.0,
            items: wait.1,
        });
        if !go.0.is_empty() {
            queue.push(Group {
                due: now,
                payloads: go.0,
                items: go.1,
            });
        }
    } else {
        queue.push(Group {
            due: now,
            payloads,
            items,
        });
    }
    while !queue.is_empty() {
        // earliest due first
        let i = queue
            .iter()
            .enumerate()
            .min_by_key(|(_, g)| g.due)
            .map(|(i, _)| i)
            .unwrap_or(0);
        let Group {
            due,
            payloads,
            mut items,
        } = queue.swap_remove(i);
        if due > sh.clock.now() {
            sh.clock.sleep_until(due).await;
        }
        let started = sh.clock.now();
        let is_retry = items.iter().any(|it| it.attempts > 0);
        for it in &mut items {
            it.first.get_or_insert(started);
            it.attempts += 1;
        }
        let request = sh.dest.request(&route, &payloads);
        let body_len = request.body.len() as u64;
        // only scheme, host and port: a path or query may carry a token (webhook URLs often do);
        // parsed only when the debug lines below are on (it was 3 % of a request's cost)
        let url = tracing::enabled!(tracing::Level::DEBUG)
            .then(|| origin(&request.url))
            .unwrap_or_default();
        let result = {
            let _permit = sh.inflight.acquire().await.expect("semaphore never closed");
            if let Some(p) = &sh.limiter {
                p.wait(sh.clock.as_ref()).await;
            }
            let timeout = sh.retry.attempt_timeout;
            match tokio::time::timeout(timeout, sh.dest.send(&sh.http, request, &payloads)).await {
                Ok(r) => r,
                Err(_) => Err(TransportError::Timeout(timeout)),
            }
        };
        let now = sh.clock.now();
        let (verdicts, status) = match &result {
            Ok(resp) => {
                tracing::debug!(destination = sh.slug, route = %route, url = %url,
                    payloads = payloads.len(), status = resp.status, "partner answered");
                (sh.dest.interpret(resp, &payloads, now), Some(resp.status))
            }
            Err(e) => {
                tracing::debug!(destination = sh.slug, route = %route, url = %url,
                    payloads = payloads.len(), error = %e, "attempt failed");
                let v = match e {
                    // it would fail the same way every time
                    TransportError::Invalid(_) => Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: e.to_string(),
                    },
                    _ => Verdict::Retry {
                        kind: ErrorKind::Transient,
                        after: None,
                        reason: e.to_string(),
                    },
                };
                (Verdicts::all(payloads.len(), v), None)
            }
        };
        let n = payloads.len();
        // `Verdicts::all(n, …)` with the wrong `n` would leave payloads without a result: every
        // payload still gets exactly one (a missing verdict fails it, extra ones are ignored)
        let mut verdicts = verdicts.into_vec();
        if verdicts.len() != n {
            tracing::error!(destination = sh.slug, route = %route, payloads = n,
                verdicts = verdicts.len(), "interpret returned the wrong number of verdicts");
            let reason = format!(
                "internal error: the destination gave {} verdicts for {n} payloads",
                verdicts.len()
            );
            verdicts.resize(
                n,
                Verdict::Failed {
                    kind: ErrorKind::Client,
                    reason,
                },
            );
        }
        // a send hook that sent nothing says so by filtering every payload, and a request that
        // cannot be built never left: no request counted
        if !matches!(result, Err(TransportError::Invalid(_)))
            && !verdicts
                .iter()
                .all(|v| matches!(v, Verdict::Filtered { .. }))
        {
            // and the requests a send hook made besides (Adobe's session starts)
            let extra = match &result {
                Ok(r) => r
                    .header(crate::destination::EXTRA_REQUESTS_HEADER)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0),
                Err(_) => 0,
            };
            out.requests += 1 + extra;
            out.bytes_sent += body_len;
            if is_retry {
                out.retries += 1;
            }
        }
        let mut resend = (Vec::new(), Vec::new());
        let mut split = (Vec::new(), Vec::new());
        let mut retry = (Vec::new(), Vec::new());
        let mut retry_after: Option<Duration> = None;
        let mut retry_reason = String::new();
        for ((payload, mut item), verdict) in payloads.into_iter().zip(items).zip(verdicts) {
            if status.is_some() && !matches!(verdict, Verdict::Filtered { .. }) {
                item.last_status = status;
            }
            let verdict = match verdict {
                Verdict::Resend if item.resends >= MAX_RESENDS => Verdict::Retry {
                    kind: ErrorKind::Transient,
                    after: None,
                    reason: "partner asked to resend too often".into(),
                },
                v => v,
            };
            match verdict {
                Verdict::Delivered => finish(&mut out, item, End::Delivered),
                Verdict::Filtered { reason } => {
                    // not sent: this was no attempt
                    item.attempts = item.attempts.saturating_sub(1);
                    finish(&mut out, item, End::Filtered { reason })
                }
                Verdict::Failed { kind, reason } => {
                    finish(&mut out, item, End::Failed { kind, reason })
                }
                Verdict::Resend => {
                    item.resends += 1;
                    resend.0.push(payload);
                    resend.1.push(item);
                }
                Verdict::Retry {
                    kind: ErrorKind::PayloadTooLarge,
                    reason,
                    ..
                } => {
                    if n == 1 {
                        let reason = format!("payload too large on its own: {reason}");
                        finish(
                            &mut out,
                            item,
                            End::Failed {
                                kind: ErrorKind::PayloadTooLarge,
                                reason,
                            },
                        );
                    } else {
                        item.resends = 0;
                        split.0.push(payload);
                        split.1.push(item);
                    }
                }
                Verdict::Retry { after, reason, .. } => {
                    item.resends = 0;
                    if let Some(a) = after {
                        retry_after = Some(retry_after.map_or(a, |b| b.max(a)));
                    }
                    retry_reason = reason;
                    retry.0.push(payload);
                    retry.1.push(item);
                }
            }
        }
        if !resend.0.is_empty() {
            queue.push(Group {
                due: now,
                payloads: resend.0,
                items: resend.1,
            });
        }
        if !split.0.is_empty() {
            let (mut p, mut it) = split;
            let half = p.len().div_ceil(2);
            let p2 = p.split_off(half);
            let it2 = it.split_off(half);
            queue.push(Group {
                due: now,
                payloads: p,
                items: it,
            });
            if !p2.is_empty() {
                queue.push(Group {
                    due: now,
                    payloads: p2,
                    items: it2,
                });
            }
        }
        if !retry.0.is_empty() {
            let most_attempts = retry.1.iter().map(|i| i.attempts).max().unwrap_or(1);
            // never sooner than the partner asked, never sooner than our own backoff: a
            // partner answering `Retry-After: 0` forever cannot make us spin
            let backoff = sh.retry.backoff(most_attempts);
            let wait = retry_after.map_or(backoff, |a| a.max(backoff));
            let due = later(now, wait);
            let mut keep = (Vec::new(), Vec::new());
            for (p, item) in retry.0.into_iter().zip(retry.1) {
                let deadline = later(item.first.unwrap_or(started), sh.retry.max_retry_duration);
                if due > deadline {
                    let reason = format!(
                        "retry budget of {} ran out after {} attempts; last: {}",
                        humanize(sh.retry.max_retry_duration),
                        item.attempts,
                        retry_reason
                    );
                    finish(&mut out, item, End::Expired { reason });
                } else {
                    keep.0.push(p);
                    keep.1.push(item);
                }
            }
            if let Some(j) = &sh.journal {
                for item in &keep.1 {
                    j.attempted(item.at.0, item.at.1, item.attempts, due);
                }
            }
            if !keep.0.is_empty() {
                queue.push(Group {
                    due,
                    payloads: keep.0,
                    items: keep.1,
                });
            }
        }
    }
    out
}

/// `https://host:port` of a URL, never its path or query.
fn origin(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => "(unparsable URL)".into(),
    }
}

fn humanize(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{:?}", d)
    }
}
