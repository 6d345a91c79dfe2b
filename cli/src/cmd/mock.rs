//! `destkit mock NAME --port P`: a destination's mock partner as a standalone server.
//!
//! The destination's built-in mock partner (a wiremock server on a random port) is started and
//! fronted by a small proxy on `127.0.0.1:P`, which prints every request as it arrives — method,
//! path, query and body, with secret query parameters and secret JSON fields (`api_key`,
//! `token`, …) masked — forwards it to the mock and prints the answer's status. It prints the
//! mock's settings pointing at the proxy first, so `destkit deliver --endpoint` can be aimed at
//! it. Runs until Ctrl-C or SIGTERM, then exits 0.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use destination_kit::{HttpClient, PartnerRequest};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `destkit mock`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Destination slug (`webhook`, `ga4`, `amplitude`, `mixpanel`, `braze`, `intercom`, `adobe-media`).
    pub name: String,
    /// Port on 127.0.0.1 (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
}

/// Run `destkit mock`.
pub fn run(args: Args) -> ExitCode {
    let Some(entry) = destinations::registry::find(&args.name) else {
        let known: Vec<&str> = destinations::registry::all()
            .iter()
            .map(|e| e.slug)
            .collect();
        eprintln!(
            "destkit mock: unknown destination {:?}; known: {}",
            args.name,
            known.join(", ")
        );
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("destkit mock: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", args.port)).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!(
                    "destkit mock: cannot listen on 127.0.0.1:{}: {e}",
                    args.port
                );
                return ExitCode::from(2);
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("destkit mock: {e}");
                return ExitCode::from(2);
            }
        };
        let stop = crate::cmd::replay::stop_signal();
        let mock = (entry.start_mock)(spec_tests::mock::Recording::Off).await;
        let front = format!("http://{addr}");
        let settings = repoint(&mock.settings, &mock.uri(), &front);
        println!("mock partner for {} listening on {front}", entry.slug);
        println!("settings: {settings}");
        println!("(Ctrl-C to stop)");
        let _ = std::io::stdout().flush();
        let proxy = Arc::new(Proxy {
            target: mock.uri(),
            http: HttpClient::new(Duration::from_secs(60)),
        });
        let app = Router::new().fallback(forward).with_state(proxy);
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await;
        drop(mock);
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("destkit mock: {e}");
                ExitCode::from(1)
            }
        }
    })
}

struct Proxy {
    target: String,
    http: HttpClient,
}

async fn forward(
    State(p): State<Arc<Proxy>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_q = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    let mut out = format!("{method} {}\n", mask_query(path_q));
    if !body.is_empty() {
        out.push_str(&show_body(&body));
        out.push('\n');
    }
    let req = PartnerRequest {
        method: method.clone(),
        url: format!("{}{path_q}", p.target),
        headers: headers
            .iter()
            .filter(|(k, _)| {
                !matches!(
                    k.as_str(),
                    "host" | "content-length" | "connection" | "transfer-encoding"
                )
            })
            .filter_map(|(k, v)| Some((k.clone(), v.to_str().ok()?.to_string())))
            .collect(),
        secret_query: Vec::new(),
        secret_headers: Vec::new(),
        secret_path: false,
        body: body.clone(),
    };
    let resp = match p.http.send(&req).await {
        Ok(r) => r,
        Err(e) => {
            out.push_str(&format!("-> mock unreachable: {e}\n"));
            print_now(&out);
            return (StatusCode::BAD_GATEWAY, "mock partner unreachable").into_response();
        }
    };
    out.push_str(&format!("-> {}\n", resp.status));
    print_now(&out);
    let mut r = (
        StatusCode::from_u16(resp.status).unwrap_or(StatusCode::BAD_GATEWAY),
        resp.body,
    )
        .into_response();
    for (k, v) in resp.headers.iter() {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    r
}

fn print_now(s: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(s.as_bytes());
    let _ = o.flush();
}

/// Whether a query parameter or JSON field name looks like it holds a secret.
pub fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["key", "secret", "token", "password", "auth", "signature"]
        .iter()
        .any(|w| n.contains(w))
}

/// `path?query` with the values of secret-looking parameters replaced by `[redacted]`.
pub fn mask_query(path_q: &str) -> String {
    let Some((path, q)) = path_q.split_once('?') else {
        return path_q.to_string();
    };
    let parts: Vec<String> = q
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if secret_name(k) => format!("{k}={}", destination_kit::secret::REDACTED),
            _ => kv.to_string(),
        })
        .collect();
    format!("{path}?{}", parts.join("&"))
}

fn mask_json(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if secret_name(k) && (x.is_string() || x.is_number()) {
                    *x = Value::String(destination_kit::secret::REDACTED.into());
                } else {
                    mask_json(x);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask_json),
        _ => {}
    }
}

/// A request body for printing: JSON with secret fields masked, else the text (at most 64 KB).
pub fn show_body(body: &[u8]) -> String {
    if let Ok(mut v) = serde_json::from_slice::<Value>(body) {
        mask_json(&mut v);
        return v.to_string();
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(64 * 1024)]).into_owned();
    if body.len() > 64 * 1024 {
        format!("{text}… ({} bytes)", body.len())
    } else {
        text
    }
}

/// The settings with every string that starts with `from` (the mock's URL) pointing at `to`.
fn repoint(v: &Value, from: &str, to: &str) -> Value {
    match v {
        Value::String(s) if s.starts_with(from) => {
            Value::String(format!("{to}{}", &s[from.len()..]))
        }
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), repoint(x, from, to)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| repoint(x, from, to)).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_in_printed_requests() {
        assert_eq!(
            mask_query("/mp/collect?measurement_id=G-1&api_secret=abc"),
            "/mp/collect?measurement_id=G-1&api_secret=[redacted]"
        );
        let shown = show_body(br#"{"api_key":"k123","events":[{"token":"t1","event_type":"x"}]}"#);
        assert!(!shown.contains("k123") && !shown.contains("t1"), "{shown}");
        assert!(shown.contains("event_type"));
        assert_eq!(show_body(b"a=b"), "a=b");
    }

    #[test]
    fn settings_are_repointed_at_the_proxy() {
        let s = serde_json::json!({"url": "http://127.0.0.1:5/hook", "n": 1});
        assert_eq!(
            repoint(&s, "http://127.0.0.1:5", "http://127.0.0.1:9")["url"],
            "http://127.0.0.1:9/hook"
        );
    }
}
