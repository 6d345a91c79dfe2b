//! The generic webhook destination: one JSON object per request or a JSON array per batch,
//! headers (secret) sent and never shown, settings errors naming the key, the registry entry.

use destination_kit::runtime::{DeliveryConfig, Runtime};
use destinations::registry;
use destinations::webhook::{self, WebhookSettings};
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const SECRET: &str = "whsec_DO_NOT_SHOW_123";

fn events(n: usize) -> String {
    (0..n)
        .map(|i| {
            json!({"type": "track", "event": "Order Completed", "userId": "u1", "messageId": format!("w{i}"),
                "timestamp": "2026-01-02T03:04:05.678Z", "properties": {"order_id": format!("o{i}"), "total": 10 + i},
                "context": {"ip": "10.0.0.1"}, "extraField": {"kept": true}})
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_registry_mock_receives_each_event_as_sent() {
    let entry = registry::find("webhook").expect("webhook is registered");
    assert_eq!(entry.name, "Webhook");
    let mock = (entry.start_mock)(spec_tests::mock::Recording::On).await;
    let dest = (entry.configure)(mock.settings.clone(), None).unwrap();
    let rt = Runtime::new(dest, DeliveryConfig::default());
    let input = events(3);
    let r = rt.deliver_bytes(input.as_bytes()).await;
    assert!(r.report.adds_up());
    assert_eq!(r.report.delivered, 3);
    let got = mock.received().await;
    assert_eq!(got.len(), 3);
    let mut bodies: Vec<Value> = got
        .iter()
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    bodies.sort_by_key(|b| b["messageId"].as_str().unwrap().to_string());
    for (line, body) in input.lines().zip(bodies) {
        let sent: Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            body, sent,
            "the event arrives whole, unknown fields included"
        );
    }
    assert!(got.iter().all(|q| q.url.path() == "/hook"));
}

#[tokio::test]
async fn batches_are_json_arrays_with_headers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/in"))
        .and(header("x-webhook-token", SECRET))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&server)
        .await;
    let settings = json!({"url": format!("{}/in", server.uri()), "headers": {"X-Webhook-Token": SECRET}, "batch_size": 3});
    let dest = webhook::configure(settings, None).unwrap();
    assert_eq!(dest.info().batch.events, 3);
    let rt = Runtime::new(dest.clone(), DeliveryConfig::default());
    let r = rt.deliver_bytes(events(7).as_bytes()).await;
    assert!(r.report.adds_up());
    assert_eq!(r.report.delivered, 7, "{:?}", r.events);
    let mut sizes: Vec<usize> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|q| {
            serde_json::from_slice::<Value>(&q.body)
                .unwrap()
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    sizes.sort();
    assert_eq!(sizes, vec![1, 3, 3]);
    // the header value never shows
    assert!(!dest.settings_debug().contains(SECRET));
    assert!(!format!("{:?}", dest.request("webhook", &[])).contains(SECRET));
    assert!(!format!("{:?}", r).contains(SECRET));
}

#[tokio::test]
async fn endpoint_replaces_the_url() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/other"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let settings = json!({"url": "https://example.invalid/hook"});
    let endpoint = format!("{}/other", server.uri());
    let dest = webhook::configure(settings, Some(&endpoint)).unwrap();
    let r = Runtime::new(dest, DeliveryConfig::default())
        .deliver_bytes(events(1).as_bytes())
        .await;
    assert_eq!(r.report.delivered, 1);
    assert_eq!(server.received_requests().await.unwrap().len(), 1);
}

#[test]
fn settings_errors_name_the_key() {
    let err = |v: Value| webhook::configure(v, None).err().expect("an error");
    assert_eq!(err(json!({})).key, "url");
    assert_eq!(err(json!({"url": "not a url"})).key, "url");
    assert_eq!(err(json!({"url": "ftp://x/y"})).key, "url");
    assert_eq!(
        err(json!({"url": "http://x/y", "batch_size": 0})).key,
        "batch_size"
    );
    assert_eq!(
        err(json!({"url": "http://x/y", "batch_size": 5000})).key,
        "batch_size"
    );
    assert_eq!(err(json!({"url": "http://x/y", "bogus": 1})).key, "bogus");
    assert_eq!(
        err(json!({"url": "http://x/y", "headers": {"bad header": "v"}})).key,
        "headers.bad header"
    );
    let s: WebhookSettings =
        serde_json::from_value(json!({"url": "http://x/y", "headers": {"Authorization": SECRET}}))
            .unwrap();
    assert!(!format!("{s:?}").contains(SECRET));
    assert_eq!(s.batch_size, 1);
    // a token in the URL's path does not show either
    let s: WebhookSettings = serde_json::from_value(
        json!({"url": format!("https://hooks.example.com/services/{SECRET}")}),
    )
    .unwrap();
    let shown = format!("{s:?}");
    assert!(
        !shown.contains(SECRET) && shown.contains("https://hooks.example.com"),
        "{shown}"
    );
}

#[test]
fn the_registry_lists_webhook_by_slug() {
    assert!(registry::all().iter().any(|e| e.slug == "webhook"));
    assert!(registry::find("no-such-destination").is_none());
    let slugs: Vec<&str> = registry::all().iter().map(|e| e.slug).collect();
    let mut unique = slugs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), slugs.len(), "slugs are unique");
}
