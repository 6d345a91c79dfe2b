//! The classification matrix end to end: every row, its outcome and the exact number of requests
//! the partner received.

#[path = "runtime_support.rs"]
mod support;

use destination_kit::ErrorKind;
use destination_kit::Outcome;
use destination_kit::TransportError;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A partner always answering `resp`.
async fn always(resp: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(resp)
        .mount(&server)
        .await;
    server
}

async fn deliver_one(
    url: &str,
) -> (
    destination_kit::runtime::DeliveryResult,
    Arc<destination_kit::runtime::TestClock>,
) {
    let (rt, clock) = runtime(TestDest::default(), url, config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.report.input, 1);
    (r, clock)
}

#[tokio::test]
async fn success_2xx_is_delivered_with_one_request() {
    for status in [200, 201, 202, 204] {
        let server = always(ResponseTemplate::new(status)).await;
        let (r, clock) = deliver_one(&server.uri()).await;
        assert_eq!(r.events[0].outcome, Outcome::Delivered, "status {status}");
        assert_eq!(received(&server).await, 1);
        assert_eq!((r.report.requests, r.report.retries), (1, 0));
        assert_eq!(r.events[0].attempts, 1);
        assert_eq!(r.events[0].last_status, Some(status));
        assert_eq!(clock.elapsed(), Duration::ZERO);
    }
}

/// Transient and server rows: one failure, one backoff wait (≤ the first ceiling), then delivered.
#[tokio::test]
async fn retryable_statuses_back_off_and_deliver_on_the_second_request() {
    for status in [408, 429, 500, 502, 503, 504, 599] {
        let server = once_then_ok(ResponseTemplate::new(status)).await;
        let (r, clock) = deliver_one(&server.uri()).await;
        assert_eq!(r.events[0].outcome, Outcome::Delivered, "status {status}");
        assert_eq!(received(&server).await, 2, "status {status}");
        assert_eq!((r.report.requests, r.report.retries), (2, 1));
        assert_eq!(r.events[0].attempts, 2);
        let sleeps = clock.sleeps();
        assert_eq!(sleeps.len(), 1, "status {status}: one wait");
        assert!(
            sleeps[0] <= Duration::from_secs(1),
            "full jitter under the 1 s ceiling"
        );
    }
}

#[tokio::test]
async fn throttled_429_and_503_wait_for_retry_after() {
    for status in [429, 503] {
        let server =
            once_then_ok(ResponseTemplate::new(status).insert_header("Retry-After", "7")).await;
        let (r, clock) = deliver_one(&server.uri()).await;
        assert_eq!(r.events[0].outcome, Outcome::Delivered);
        assert_eq!(received(&server).await, 2);
        assert_eq!(clock.elapsed(), Duration::from_secs(7), "status {status}");
        assert_eq!(clock.sleeps(), vec![Duration::from_secs(7)]);
    }
}

#[tokio::test]
async fn permanent_statuses_fail_after_exactly_one_request() {
    let rows = [
        (400, ErrorKind::Client),
        (401, ErrorKind::Auth),
        (403, ErrorKind::Auth),
        (404, ErrorKind::Client),
        (409, ErrorKind::Client),
        (422, ErrorKind::Client),
        (501, ErrorKind::Client),
    ];
    for (status, want) in rows {
        let server = always(ResponseTemplate::new(status).set_body_string("nope")).await;
        let (r, clock) = deliver_one(&server.uri()).await;
        match &r.events[0].outcome {
            Outcome::Failed {
                kind,
                status: s,
                reason,
            } => {
                assert_eq!(*kind, want, "status {status}");
                assert_eq!(*s, Some(status));
                assert!(reason.contains(&status.to_string()), "{reason}");
            }
            other => panic!("status {status}: {other:?}"),
        }
        assert_eq!(received(&server).await, 1, "status {status} never retried");
        assert_eq!(r.report.failed, 1);
        assert_eq!(r.report.retries, 0);
        assert!(clock.sleeps().is_empty());
    }
}

#[tokio::test]
async fn a_redirect_is_a_permanent_failure_and_is_not_followed() {
    // Where the redirects point: it must never see the events (a 302 would turn the POST into a
    // bodiless GET there, and its 200 would count the event delivered).
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&elsewhere)
        .await;
    for status in [301, 302, 303, 307, 308] {
        let server = always(
            ResponseTemplate::new(status).insert_header("Location", elsewhere.uri().as_str()),
        )
        .await;
        let (r, clock) = deliver_one(&server.uri()).await;
        match &r.events[0].outcome {
            Outcome::Failed {
                kind, status: s, ..
            } => {
                assert_eq!(*kind, ErrorKind::Client, "status {status}");
                assert_eq!(*s, Some(status));
            }
            other => panic!("status {status}: {other:?}"),
        }
        assert_eq!(received(&server).await, 1, "status {status} never retried");
        assert!(clock.sleeps().is_empty());
    }
    assert_eq!(received(&elsewhere).await, 0, "no redirect was followed");
}

#[tokio::test]
async fn per_attempt_timeout_is_retried() {
    // the first answer takes 4 s, longer than the 1 s attempt timeout; the second is prompt
    // (and has the whole second: a stalled machine must not make it time out as well)
    let server = once_then_ok(ResponseTemplate::new(200).set_delay(Duration::from_secs(4))).await;
    let cfg = short_timeout_config(Duration::from_secs(1));
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.events[0].outcome, Outcome::Delivered);
    assert_eq!(received(&server).await, 2);
    assert_eq!((r.report.requests, r.report.retries), (2, 1));
}

#[tokio::test]
async fn a_partner_that_never_answers_in_time_expires() {
    let server = always(ResponseTemplate::new(200).set_delay(Duration::from_secs(5))).await;
    // budget: a few seconds of virtual time; each attempt costs 250 ms of real time
    let cfg =
        short_timeout_config(Duration::from_millis(250)).max_retry_duration(Duration::from_secs(3));
    let (rt, _clock) = runtime(TestDest::default(), &server.uri(), cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    match &r.events[0].outcome {
        Outcome::Expired { reason, status } => {
            assert!(reason.contains("timed out"), "{reason}");
            assert_eq!(*status, None);
        }
        other => panic!("{other:?}"),
    }
    let n = received(&server).await;
    assert!(n >= 2, "retried: {n}");
    assert_eq!(r.report.requests as usize, n);
    assert_eq!(r.events[0].attempts as usize, n);
}

/// A raw TCP server that drops the first `drop_first` connections without a word, then answers
/// every request with 200. Returns its URL and the number of connections accepted.
async fn resetting_server(drop_first: usize) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let acc = accepted.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = acc.fetch_add(1, Ordering::SeqCst);
            if n < drop_first {
                // read a little of the request, then reset the connection
                let mut buf = [0u8; 64];
                let _ = sock.read(&mut buf).await;
                #[allow(deprecated)] // zero linger: an RST, no blocking
                let _ = sock.set_linger(Some(Duration::ZERO));
                drop(sock);
                continue;
            }
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65536];
                let mut seen = Vec::new();
                loop {
                    let Ok(k) = sock.read(&mut buf).await else {
                        return;
                    };
                    if k == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..k]);
                    // one request per connection is enough for the test: answer once the
                    // headers and the declared body are in
                    if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if seen.len() >= end + 4 + len {
                            let _ = sock
                                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                                .await;
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

#[tokio::test]
async fn connection_reset_is_retried() {
    let (url, accepted) = resetting_server(1).await;
    let (r, clock) = deliver_one(&url).await;
    assert_eq!(r.events[0].outcome, Outcome::Delivered, "{:?}", r.events[0]);
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    assert_eq!((r.report.requests, r.report.retries), (2, 1));
    assert_eq!(clock.sleeps().len(), 1);
}

#[tokio::test]
async fn connection_refused_is_retried_until_the_budget() {
    // a port nobody listens on
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let cfg = config().max_retry_duration(Duration::from_secs(60));
    let (rt, clock) = runtime(TestDest::default(), &url, cfg);
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    match &r.events[0].outcome {
        Outcome::Expired { reason, .. } => {
            assert!(reason.contains("connection failed"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(r.report.requests >= 2);
    assert_eq!(r.events[0].attempts as u64, r.report.requests);
    assert_eq!(r.report.retries, r.report.requests - 1);
    assert!(clock.elapsed() <= Duration::from_secs(60));
}

/// DNS failure is never looked up for real: a destination's transport reports it (as reqwest
/// does, a connect error) and the runtime retries it like any transport error.
#[tokio::test]
async fn dns_failure_is_a_transient_transport_error() {
    let server = always(ResponseTemplate::new(200)).await;
    let dest = TestDest {
        send_hook: Some(Arc::new(|n| {
            (n == 0).then(|| {
                TransportError::Connect("dns error: failed to lookup address information".into())
            })
        })),
        ..TestDest::default()
    };
    let sends = dest.sends.clone();
    let (rt, clock) = runtime(dest, &server.uri(), config());
    let r = rt.deliver_bytes(&events(1)).await;
    check(&r);
    assert_eq!(r.events[0].outcome, Outcome::Delivered);
    assert_eq!(sends.load(Ordering::SeqCst), 2, "two attempts");
    assert_eq!(
        received(&server).await,
        1,
        "the first never reached the partner"
    );
    assert_eq!(clock.sleeps().len(), 1, "backed off once");
}

#[tokio::test]
async fn payload_too_large_on_a_single_event_fails_after_one_request() {
    let server = always(ResponseTemplate::new(413)).await;
    let (r, _clock) = deliver_one(&server.uri()).await;
    match &r.events[0].outcome {
        Outcome::Failed { kind, status, .. } => {
            assert_eq!(*kind, ErrorKind::PayloadTooLarge);
            assert_eq!(*status, Some(413));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(received(&server).await, 1);
}

/// A request that cannot be built (a header value HTTP cannot carry: a token pasted with a
/// newline) fails its events at once, naming the header and not its value; it is never retried
/// for the four-hour budget, and no request is counted.
#[tokio::test]
async fn a_request_that_cannot_be_built_fails_at_once_never_retried() {
    use destination_kit::Configured;
    let server = partner_answering(200).await;
    let settings = serde_json::json!({"url": server.uri(), "api_key": "tok-123\n"});
    let configured = Configured::from_json(TestDest::default(), settings, None).expect("settings");
    let rt = destination_kit::runtime::Runtime::new(configured.into_dyn(), config());
    let r = rt.deliver_bytes(&events(2)).await;
    check(&r);
    assert_eq!((r.report.failed, r.report.requests), (2, 0), "{r:#?}");
    for e in &r.events {
        match &e.outcome {
            destination_kit::Outcome::Failed { reason, .. } => {
                assert!(reason.contains("x-api-key"), "{reason}");
                assert!(!reason.contains("tok-123"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(e.attempts, 1);
    }
    assert_eq!(received(&server).await, 0);
}
