//! A fault-injecting HTTP proxy: answers the first requests with scripted faults (a status, a
//! hang past the attempt timeout, a connection reset), then forwards every further request to an
//! upstream (the destination's mock partner) and relays its answer. It records every request.
//!
//! The conformance suite points a destination at a fresh proxy per fault case, so the fault is
//! exactly where the case puts it and the recovery is judged by the partner's own mock.
//!
//! ```
//! use spec_tests::fault::{Fault, FaultProxy};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let proxy = FaultProxy::start(None, vec![Fault::status(503)]).await.unwrap();
//! assert!(proxy.uri().starts_with("http://127.0.0.1:"));
//! assert_eq!(proxy.requests().len(), 0);
//! # });
//! ```

use bytes::Bytes;
use destination_kit::{HttpClient, PartnerRequest};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer with this status, headers and body.
    Status {
        /// The status code.
        status: u16,
        /// Extra headers (`Retry-After`).
        headers: Vec<(String, String)>,
        /// The body.
        body: String,
    },
    /// Read the request, then say nothing for this long and close (an attempt timeout).
    Hang(Duration),
    /// Read the request, then reset the connection without an answer.
    Reset,
}

impl Fault {
    /// A status with an empty body.
    pub fn status(status: u16) -> Fault {
        Fault::Status {
            status,
            headers: Vec::new(),
            body: String::new(),
        }
    }
    /// A status with one header.
    pub fn status_with(status: u16, header: &str, value: &str) -> Fault {
        Fault::Status {
            status,
            headers: vec![(header.to_string(), value.to_string())],
            body: String::new(),
        }
    }
    /// A status with a JSON body.
    pub fn json(status: u16, body: impl Into<String>) -> Fault {
        Fault::Status {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.into(),
        }
    }
}

/// One request the proxy received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers as received (names lower case).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Bytes,
}

struct State {
    upstream: Option<String>,
    script: Mutex<VecDeque<Fault>>,
    seen: Mutex<Vec<Recorded>>,
    http: HttpClient,
}

/// A running fault proxy on 127.0.0.1. Stops when dropped.
pub struct FaultProxy {
    uri: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("uri", &self.uri)
            .finish_non_exhaustive()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultProxy {
    /// Start a proxy that answers with `script` first, then forwards to `upstream` (a base URL;
    /// without one it answers `200 {}`).
    pub async fn start(upstream: Option<String>, script: Vec<Fault>) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let uri = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(State {
            upstream: upstream.map(|u| u.trim_end_matches('/').to_string()),
            script: Mutex::new(script.into()),
            seen: Mutex::new(Vec::new()),
            http: HttpClient::new(Duration::from_secs(10)),
        });
        let st = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, st.clone()));
            }
        });
        Ok(FaultProxy { uri, state, task })
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn uri(&self) -> String {
        self.uri.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.seen.lock().expect("proxy lock").clone()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn serve(mut conn: TcpStream, st: Arc<State>) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let head_end = loop {
            if let Some(p) = find(&buf, b"\r\n\r\n") {
                break p;
            }
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or_default().split(' ');
        let method = first.next().unwrap_or("GET").to_string();
        let path = first.next().unwrap_or("/").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let body_start = head_end + 4;
        while buf.len() < body_start + len {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let body = Bytes::copy_from_slice(&buf[body_start..body_start + len]);
        buf.drain(..body_start + len);
        st.seen.lock().expect("proxy lock").push(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body: body.clone(),
        });
        let fault = st.script.lock().expect("proxy lock").pop_front();
        let (status, resp_headers, resp_body) = match fault {
            Some(Fault::Reset) => {
                // a zero linger makes the close a reset (RST) and never blocks
                #[allow(deprecated)]
                let _ = conn.set_linger(Some(Duration::ZERO));
                return;
            }
            Some(Fault::Hang(d)) => {
                tokio::time::sleep(d).await;
                return;
            }
            Some(Fault::Status {
                status,
                headers,
                body,
            }) => (status, headers, Bytes::from(body)),
            None => forward(&st, &method, &path, &headers, body).await,
        };
        let reason = http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Status");
        let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
        for (k, v) in &resp_headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str(&format!("content-length: {}\r\n\r\n", resp_body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&resp_body);
        if conn.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

async fn forward(
    st: &State,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> (u16, Vec<(String, String)>, Bytes) {
    let Some(up) = &st.upstream else {
        return (
            200,
            vec![("content-type".into(), "application/json".into())],
            Bytes::from_static(b"{}"),
        );
    };
    const HOP: [&str; 6] = [
        "host",
        "content-length",
        "connection",
        "accept-encoding",
        "transfer-encoding",
        "keep-alive",
    ];
    let mut req = PartnerRequest::post_json(format!("{up}{path}"), body);
    req.method = http::Method::from_bytes(method.as_bytes()).unwrap_or(http::Method::POST);
    req.headers.clear();
    for (k, v) in headers {
        if HOP.contains(&k.as_str()) {
            continue;
        }
        if let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) {
            req.headers.push((name, v.clone()));
        }
    }
    match st.http.send(&req).await {
        Ok(resp) => {
            let hs = resp
                .headers
                .iter()
                .filter(|(k, _)| !HOP.contains(&k.as_str()) && k.as_str() != "content-encoding")
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect();
            (resp.status, hs, resp.body)
        }
        Err(e) => (
            502,
            Vec::new(),
            Bytes::from(format!("fault proxy: upstream failed: {e}")),
        ),
    }
}
