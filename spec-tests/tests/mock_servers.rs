//! A mock partner answers the same on both servers: wiremock (keeps every request) and the
//! lean one (keeps none).

use destination_kit::{HttpClient, PartnerRequest};
use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Echoes the body length and the path; counts requests.
struct Echo(Arc<AtomicUsize>);

impl Partner for Echo {
    fn answer(&self, req: &wiremock::Request) -> Answer {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        Answer::new(if n == 0 { 429 } else { 200 })
            .insert_header("retry-after", "7")
            .insert_header("x-path", req.url.path())
            .insert_header("x-query", req.url.query().unwrap_or(""))
            .set_body_json(
                serde_json::json!({"len": req.body.len(), "method": req.method.as_str()}),
            )
    }
}

struct Slow;

impl Partner for Slow {
    fn answer(&self, _req: &wiremock::Request) -> Answer {
        Answer::new(503)
            .set_body_string("busy")
            .set_delay(Duration::from_millis(150))
    }
}

#[tokio::test]
async fn both_servers_answer_alike_and_only_wiremock_keeps_requests() {
    let http = HttpClient::new(Duration::from_secs(5));
    for recording in [Recording::On, Recording::Off] {
        let count = Arc::new(AtomicUsize::new(0));
        let routes = vec![
            Route::post("/v1/track", Echo(count.clone())),
            Route::any(Slow),
        ];
        let m =
            MockPartner::start(recording, routes, |uri| serde_json::json!({ "url": uri })).await;
        assert_eq!(m.settings["url"], m.uri());
        let track = PartnerRequest::post_json(format!("{}/v1/track?k=1", m.uri()), "abcde");
        let first = http.send(&track).await.unwrap();
        assert_eq!(first.status, 429, "{recording:?}");
        let r = http.send(&track).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["retry-after"], "7");
        assert_eq!(r.headers["x-path"], "/v1/track");
        assert_eq!(r.headers["x-query"], "k=1");
        assert_eq!(r.headers["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body, serde_json::json!({"len": 5, "method": "POST"}));
        // another path falls through to the catch-all, which waits before answering
        let t = Instant::now();
        let slow = http
            .send(&PartnerRequest::post_json(
                format!("{}/other", m.uri()),
                "x",
            ))
            .await
            .unwrap();
        assert_eq!((slow.status, &slow.body[..]), (503, &b"busy"[..]));
        assert_eq!(slow.headers["content-type"], "text/plain");
        assert!(t.elapsed() >= Duration::from_millis(150), "{recording:?}");
        let kept = m.received().await.len();
        assert_eq!(kept, if recording.is_on() { 3 } else { 0 });
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }
}

#[tokio::test]
async fn a_request_no_route_takes_is_a_404_on_both() {
    let http = HttpClient::new(Duration::from_secs(5));
    for recording in [Recording::On, Recording::Off] {
        let m = MockPartner::start(recording, vec![Route::post("/only", Slow)], |_| {
            serde_json::Value::Null
        })
        .await;
        let r = http
            .send(&PartnerRequest::post_json(format!("{}/nope", m.uri()), "x"))
            .await
            .unwrap();
        assert_eq!(r.status, 404, "{recording:?}");
    }
}
