//! A fast local partner for `destkit bench`: answers every request like the partner's success
//! response and counts requests and body bytes. It runs on its own thread with its own
//! single-threaded runtime, so it does not share the pipeline's scheduler.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of a running sink.
#[derive(Default, Debug)]
pub struct SinkStats {
    /// Requests answered.
    pub requests: AtomicU64,
    /// Request body bytes received.
    pub bytes: AtomicU64,
}

/// A running sink on 127.0.0.1.
pub struct Sink {
    /// Base URL (`http://127.0.0.1:PORT`).
    pub url: String,
    /// Its counters.
    pub stats: Arc<SinkStats>,
}

#[derive(Clone)]
struct AppState {
    stats: Arc<SinkStats>,
    no_content: bool,
}

async fn answer(State(s): State<AppState>, body: Body) -> Response {
    // count the body as it arrives instead of collecting it: a batch body is megabytes, and
    // gathering it into one buffer (a copy and a fresh allocation per request) is work the
    // partner's side would do, not the pipeline's — it only inflated the pipeline's CPU figure
    let mut stream = body.into_data_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => bytes += c.len() as u64,
            Err(_) => return StatusCode::BAD_REQUEST.into_response(),
        }
    }
    s.stats.requests.fetch_add(1, Ordering::Relaxed);
    s.stats.bytes.fetch_add(bytes, Ordering::Relaxed);
    if s.no_content {
        StatusCode::NO_CONTENT.into_response()
    } else {
        (
            StatusCode::OK,
            [("content-type", "application/json")],
            r#"{"code":200,"status":"OK","message":"success","events_ingested":0}"#,
        )
            .into_response()
    }
}

/// Start a sink. `no_content` answers 204 with no body (GA4's production endpoint); otherwise
/// 200 with a JSON body that reads as success to Amplitude, Mixpanel, Braze and webhook.
pub fn start(no_content: bool) -> std::io::Result<Sink> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let url = format!("http://{}", listener.local_addr()?);
    let stats = Arc::new(SinkStats::default());
    let state = AppState {
        stats: stats.clone(),
        no_content,
    };
    std::thread::Builder::new()
        .name("bench-sink".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("sink runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = Router::new().fallback(answer).with_state(state);
                let _ = axum::serve(listener, app).await;
            });
        })?;
    Ok(Sink { url, stats })
}
