//! The Tracking API server: axum routes `/v1/{track,identify,page,screen,group,alias,batch}`.
//!
//! Answers (the JSON shape Segment's client libraries read: `success`, `code`, `message`):
//! - 200 `{"success": true}` when every message was accepted;
//! - 200 `{"success": true, "errors": [{"index", "message"}]}` when a batch was partly accepted:
//!   the valid messages go on to the destinations, the invalid ones are listed (a client must not
//!   resend the whole batch, which would duplicate the accepted ones);
//! - 400 when nothing was accepted: malformed JSON, a body that is not a message or batch, or
//!   every message invalid (`errors` lists each);
//! - 401 for a missing or unknown write key (HTTP Basic username, else `writeKey` in the body);
//! - 413 for a call body over 32 KB, a batch body over 500 KB (after gzip decoding), or when
//!   every message of a batch was over 32 KB;
//! - 503 while shutting down, and for a request whose messages were not all handed to every
//!   destination when shutdown began (without `--state`: the client resends; with it, what was
//!   made durable is delivered after a restart).

use super::ingest::{self, Refusal, Route};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use destination_kit::event::Record;
use destination_kit::event::{CallType, Message};
use destination_kit::outcome::DeliveryReport;
use destination_kit::runtime::{RuntimeHandle, StateStore};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::RwLock;

/// Where a source's accepted messages go: the delivery runtime of one of its destinations.
pub struct Sink {
    /// The destination's slug.
    pub destination: String,
    handle: RwLock<Option<RuntimeHandle>>,
    /// `--state`: the store and this sink's stream in it.
    state: Option<(StateStore, String)>,
    /// Set when shutdown begins: a hand-over still waiting for room in the queue gives up
    /// (its request is answered 503 and retried by the client) instead of holding shutdown
    /// past its drain timeout.
    closing: AtomicBool,
    closed: tokio::sync::Notify,
}

impl Sink {
    /// A sink over a started runtime.
    pub fn new(destination: impl Into<String>, handle: RuntimeHandle) -> Self {
        Sink {
            destination: destination.into(),
            handle: RwLock::new(Some(handle)),
            state: None,
            closing: AtomicBool::new(false),
            closed: tokio::sync::Notify::new(),
        }
    }
    /// Make accepted messages durable in `store` under `stream` before they are handed over.
    pub fn with_state(mut self, store: StateStore, stream: String) -> Self {
        self.state = Some((store, stream));
        self
    }
    /// `hand` run until done, or `false` as soon as shutdown begins (a send on the runtime's
    /// queue is cancel-safe: dropped before it completes, the message was not queued).
    async fn unless_closing(&self, hand: impl std::future::Future<Output = bool>) -> bool {
        let closed = self.closed.notified();
        tokio::pin!(closed);
        // registered before the flag is read, so a shutdown between the two is not missed
        closed.as_mut().enable();
        if self.closing.load(Ordering::SeqCst) {
            return false;
        }
        tokio::select! {
            done = hand => done,
            () = closed => false,
        }
    }
    /// Hand a message over under its line in the state's stream.
    pub async fn submit_line(&self, line: usize, msg: Message) -> bool {
        self.unless_closing(async {
            match self.handle.read().await.as_ref() {
                Some(h) => h
                    .submit_record(Record {
                        line,
                        batch_index: None,
                        result: Ok(msg),
                    })
                    .await
                    .is_ok(),
                None => false,
            }
        })
        .await
    }
    /// Hand one accepted message over (waits while the runtime's queue is full). `false` once
    /// shutdown has begun or the runtime has stopped: the message was not handed over.
    pub async fn submit(&self, msg: Message) -> bool {
        self.unless_closing(async {
            match self.handle.read().await.as_ref() {
                Some(h) => h.submit(msg).await.is_ok(),
                None => false,
            }
        })
        .await
    }
    /// Make every hand-over still waiting for room give up (its request is answered 503), and
    /// every later one: the first step of shutdown, taken before open requests are waited for.
    pub fn begin_closing(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.closed.notify_waiters();
    }
    /// Stop the runtime: deliver what is queued within `drain_timeout`, then return the counts.
    /// Hand-overs still waiting for room give up first (their requests are answered 503).
    pub async fn shutdown(&self, drain_timeout: std::time::Duration) -> DeliveryReport {
        self.begin_closing();
        let h = self.handle.write().await.take();
        match h {
            Some(h) => h.shutdown(drain_timeout).await,
            None => DeliveryReport::default(),
        }
    }
}

/// Why accepted messages were not all handed over.
#[derive(Debug)]
pub enum HandOverError {
    /// `--state` could not make them durable.
    State(String),
    /// Shutdown began before every message was handed to every destination.
    Stopping,
}

impl From<String> for HandOverError {
    fn from(e: String) -> Self {
        HandOverError::State(e)
    }
}

/// Counters of what one source's requests brought.
#[derive(Debug, Default)]
pub struct IngestStats {
    /// HTTP requests with this source's write key.
    pub requests: AtomicU64,
    /// Messages accepted (and handed to every destination).
    pub accepted: AtomicU64,
    /// Messages refused (invalid or too large), answered in the response.
    pub refused: AtomicU64,
    /// Requests whose body came gzip-compressed.
    pub gzip_requests: AtomicU64,
}

/// One source as the server sees it.
pub struct Source {
    /// Its name.
    pub name: String,
    /// One sink per destination.
    pub sinks: Vec<Arc<Sink>>,
    /// What its requests brought.
    pub stats: IngestStats,
}

impl Source {
    /// Hand accepted messages to every destination. With `--state` they are committed first,
    /// in one transaction for the whole request; `Err` when that commit failed (nothing was
    /// handed over: answer 503 so the client retries).
    pub async fn hand_over(&self, msgs: Vec<Message>) -> Result<(), HandOverError> {
        let store = self
            .sinks
            .iter()
            .find_map(|k| k.state.as_ref().map(|s| s.0.clone()));
        let Some(store) = store else {
            // without --state a message not handed over is lost unless the client resends
            // it: any such one makes the answer 503 (what was handed over is then a duplicate
            // of the resend, dropped by the destination's dedup)
            let mut all = true;
            for msg in msgs {
                if let Some((last, rest)) = self.sinks.split_last() {
                    for s in rest {
                        all &= s.submit(msg.clone()).await;
                    }
                    all &= last.submit(msg).await;
                }
            }
            return if all {
                Ok(())
            } else {
                Err(HandOverError::Stopping)
            };
        };
        let raws = msgs
            .iter()
            .map(|m| serde_json::value::to_raw_value(m).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let streams: Vec<String> = self
            .sinks
            .iter()
            .filter_map(|k| k.state.as_ref().map(|s| s.1.clone()))
            .collect();
        let ids: Vec<String> = msgs
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_string())
            .collect();
        let lines = tokio::task::spawn_blocking(move || {
            let events: Vec<(&str, &serde_json::value::RawValue)> = ids
                .iter()
                .zip(&raws)
                .map(|(i, r)| (i.as_str(), r.as_ref()))
                .collect();
            let per: Vec<(&str, &[(&str, &serde_json::value::RawValue)])> = streams
                .iter()
                .map(|s| (s.as_str(), events.as_slice()))
                .collect();
            store.enqueue(&per, std::time::SystemTime::now())
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        for (k, lines) in self.sinks.iter().filter(|k| k.state.is_some()).zip(lines) {
            for (msg, line) in msgs.iter().zip(lines) {
                k.submit_line(line, msg.clone()).await;
            }
        }
        Ok(())
    }
}

/// The server's shared state.
pub struct AppState {
    by_key: HashMap<String, Arc<Source>>,
    accepting: AtomicBool,
    /// Requests refused with 401.
    pub unauthorized: AtomicU64,
}

impl AppState {
    /// State over `(write_key, source)` pairs.
    pub fn new(sources: impl IntoIterator<Item = (String, Arc<Source>)>) -> Self {
        AppState {
            by_key: sources.into_iter().collect(),
            accepting: AtomicBool::new(true),
            unauthorized: AtomicU64::new(0),
        }
    }
    /// Stop accepting: later requests get 503.
    pub fn stop_accepting(&self) {
        self.accepting.store(false, Ordering::SeqCst);
    }
}

/// The router, with the request body capped a little above the batch limit (larger bodies get
/// axum's own 413 without being read).
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/{call}", post(handle))
        .layer(DefaultBodyLimit::max(4 * ingest::MAX_BATCH_BYTES))
        .with_state(state)
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn refuse(r: Refusal) -> Response {
    answer(r.status, r.body())
}

async fn handle(
    State(st): State<Arc<AppState>>,
    Path(call): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let route = if call == "batch" {
        Route::Batch
    } else {
        match CallType::parse(&call) {
            Some(c) if c.as_str() == call => Route::Call(c),
            _ => {
                return answer(
                    StatusCode::NOT_FOUND,
                    json!({"success": false, "code": "not_found",
                       "message": format!("no endpoint /v1/{call}; use track, identify, page, screen, group, alias or batch")}),
                );
            }
        }
    };
    if !st.accepting.load(Ordering::SeqCst) {
        let mut r = answer(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({"success": false, "code": "shutting_down", "message": "the server is shutting down"}),
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("5"),
        );
        return r;
    }
    let unknown = |st: &AppState| {
        st.unauthorized.fetch_add(1, Ordering::Relaxed);
        refuse(Refusal::unauthorized("unknown write key"))
    };
    // A key in the Authorization header is checked before the body is read.
    let header_key = match ingest::basic_write_key(&headers) {
        Ok(k) => k,
        Err(r) => {
            st.unauthorized.fetch_add(1, Ordering::Relaxed);
            return refuse(r);
        }
    };
    let mut source = None;
    if let Some(k) = &header_key {
        match st.by_key.get(k) {
            Some(s) => {
                s.stats.requests.fetch_add(1, Ordering::Relaxed);
                source = Some(s.clone())
            }
            None => return unknown(&st),
        }
    }
    let decoded = match ingest::decode_body(&headers, &body, route.limit()) {
        Ok(b) => b,
        Err(r) => return refuse(r),
    };
    let gzipped = ingest::is_gzip(&headers);
    let parsed = match ingest::parse_body(route, &decoded) {
        Ok(p) => p,
        Err(r) => return refuse(r),
    };
    let source = match source {
        Some(s) => s,
        None => match parsed.write_key.as_deref().and_then(|k| st.by_key.get(k)) {
            Some(s) => {
                s.stats.requests.fetch_add(1, Ordering::Relaxed);
                s.clone()
            }
            None if parsed.write_key.is_none() => {
                st.unauthorized.fetch_add(1, Ordering::Relaxed);
                return refuse(Refusal::unauthorized(
                    "no write key: send it as the HTTP Basic username or as writeKey in the body",
                ));
            }
            None => return unknown(&st),
        },
    };
    if gzipped {
        source.stats.gzip_requests.fetch_add(1, Ordering::Relaxed);
    }
    let now = chrono::Utc::now();
    let batch = route == Route::Batch;
    let mut errors = Vec::new();
    let mut all_too_large = true;
    let mut accepted = 0u64;
    let mut msgs = Vec::new();
    for (i, raw) in parsed.messages.into_iter().enumerate() {
        match ingest::accept(raw, batch.then_some(i), now) {
            Ok(msg) => {
                accepted += 1;
                msgs.push(msg);
            }
            Err(e) => {
                all_too_large &= e.too_large;
                errors.push(json!({"index": i, "message": e.message}));
            }
        }
    }
    match source.hand_over(msgs).await {
        Ok(()) => {}
        Err(HandOverError::State(e)) => {
            tracing::error!("state: {e}");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"success": false, "code": "state_error",
                       "message": "the server could not make the events durable; retry"}),
            );
        }
        Err(HandOverError::Stopping) => {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"success": false, "code": "shutting_down",
                       "message": "the server is shutting down; retry"}),
            );
        }
    }
    source.stats.accepted.fetch_add(accepted, Ordering::Relaxed);
    source
        .stats
        .refused
        .fetch_add(errors.len() as u64, Ordering::Relaxed);
    if errors.is_empty() {
        return answer(StatusCode::OK, json!({"success": true}));
    }
    if accepted > 0 {
        return answer(StatusCode::OK, json!({"success": true, "errors": errors}));
    }
    let first = errors[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, code) = if all_too_large {
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large")
    } else {
        (StatusCode::BAD_REQUEST, "invalid_request")
    };
    let message = if errors.len() == 1 {
        first
    } else {
        format!("no message accepted; first problem: {first}")
    };
    answer(
        status,
        json!({"success": false, "code": code, "message": message, "errors": errors}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn start(state: Arc<AppState>) -> String {
        let l = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, router(state)).await });
        format!("http://{addr}")
    }

    fn state() -> Arc<AppState> {
        let src = Arc::new(Source {
            name: "web".into(),
            sinks: Vec::new(),
            stats: IngestStats::default(),
        });
        Arc::new(AppState::new([("wk".to_string(), src)]))
    }

    #[tokio::test]
    async fn unknown_endpoints_are_404_and_shutdown_answers_503() {
        let st = state();
        let base = start(st.clone()).await;
        let c = reqwest::Client::new();
        let body = r#"{"event":"x","userId":"u"}"#;
        let r = c
            .post(format!("{base}/v1/tracks"))
            .basic_auth("wk", Some(""))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 404);
        let r = c
            .post(format!("{base}/v1/track"))
            .basic_auth("wk", Some(""))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        st.stop_accepting();
        let r = c
            .post(format!("{base}/v1/track"))
            .basic_auth("wk", Some(""))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 503);
        assert_eq!(r.headers()["retry-after"], "5");
    }
}
