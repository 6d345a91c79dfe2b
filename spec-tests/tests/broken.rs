//! The suite can fail: a small, correct destination passes every check, and each deliberately
//! broken copy of it is caught by the right named check.

use async_trait::async_trait;
use destination_kit::destination::{ConformanceHints, json_array};
use destination_kit::spec::Family;
use destination_kit::{
    BatchLimits, CallType, Destination, DestinationInfo, ErrorKind, Event, Mapped, PartnerRequest,
    PartnerResponse, Payload, Secret, Settings, Verdict, Verdicts,
};
use serde::Deserialize;
use serde_json::{Value, json};
use spec_tests::mock::MockPartner;
use spec_tests::{Report, Suite};
use std::time::SystemTime;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const KEY: &str = "sk_test_8d1f0c2b9a";

/// The key of the copy that logs it: logs are captured process-wide, so it differs from `KEY`
/// to keep the other tests of this binary clean.
const LOGGED_KEY: &str = "sk_test_logged_41c7e2";

/// What is wrong with a copy of the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flaw {
    None,
    /// `interpret` turns a 400 into a retry.
    RetriesBadRequest,
    /// `map` leaves the event time out.
    DropsTimestamp,
    /// `interpret` ignores the partner's list of refused events.
    LosesPartialFailure,
    /// `map` reads the first product without looking.
    PanicsOnEmptyProducts,
    /// `interpret` drops the partner's Retry-After.
    IgnoresRetryAfter,
    /// The settings show the API key in `Debug`.
    LeaksKey,
    /// `request` logs the API key.
    LogsKey,
    /// `interpret` fails only the first event the partner refuses.
    ReadsFirstRefusalOnly,
    /// `interpret` fails a 502 or 504 as permanent.
    FailsBadGateway,
    /// `map` sends `{messageId}:0` as the dedup key (the partner would then not de-duplicate
    /// against a key it got from another source of the same event).
    SuffixesDedupKey,
    /// Batches, but tells the suite nothing about partial failures.
    SilentOnPartialFailure,
}

#[derive(Debug, Clone)]
struct Demo {
    flaw: Flaw,
}

#[derive(Clone, Deserialize)]
struct DemoSettings {
    api_key: Secret<String>,
    endpoint: String,
    /// Only the `LeaksKey` copy sets this.
    #[serde(default)]
    leak: bool,
}

impl std::fmt::Debug for DemoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key: &dyn std::fmt::Debug = if self.leak {
            self.api_key.expose()
        } else {
            &self.api_key
        };
        f.debug_struct("DemoSettings")
            .field("api_key", key)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl Settings for DemoSettings {
    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = base_url.to_string();
    }
}

fn refused(n: usize, bad: &[usize]) -> (u16, String) {
    let _ = n;
    (200, json!({ "rejected": bad }).to_string())
}

#[async_trait]
impl Destination for Demo {
    type Settings = DemoSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Demo", "demo")
            .calls([CallType::Track, CallType::Page, CallType::Screen])
            .families([Family::Ecommerce])
            .batch(BatchLimits {
                events: 10,
                bytes: 1 << 20,
            })
    }

    fn map(&self, _s: &DemoSettings, ev: &Event<'_>) -> Mapped {
        let name = match ev.call() {
            CallType::Track => ev.event().unwrap_or_default().to_string(),
            _ => "page_view".to_string(),
        };
        let products = ev.props().get("products").and_then(Value::as_array);
        if self.flaw == Flaw::PanicsOnEmptyProducts
            && let Some(p) = products
        {
            let _first = &p[0];
        }
        let items: Vec<Value> = products
            .into_iter()
            .flatten()
            .map(|p| json!({ "id": p["product_id"], "price": p["price"] }))
            .collect();
        let mut body = json!({
            "event": name,
            "insert_id": if self.flaw == Flaw::SuffixesDedupKey {
                format!("{}:0", ev.message_id())
            } else {
                ev.message_id().to_string()
            },
            "user": ev.user_or_anonymous_id(),
            "items": items,
        });
        if self.flaw != Flaw::DropsTimestamp {
            body["time"] = json!(ev.timestamp_millis());
        }
        Mapped::one(Payload::json("events", &body))
    }

    fn request(&self, s: &DemoSettings, _route: &str, batch: &[Payload]) -> PartnerRequest {
        if self.flaw == Flaw::LogsKey {
            tracing::debug!(key = s.api_key.expose().as_str(), "building a request");
        }
        PartnerRequest::post_json(format!("{}/v1/events", s.endpoint), json_array(batch))
            .bearer(s.api_key.expose())
    }

    fn interpret(
        &self,
        _s: &DemoSettings,
        resp: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        let mut v = Verdicts::default_for(resp, batch.len(), now);
        match self.flaw {
            Flaw::RetriesBadRequest if resp.status == 400 => {
                return Verdicts::all(
                    batch.len(),
                    Verdict::Retry {
                        kind: ErrorKind::Server,
                        after: None,
                        reason: "HTTP 400".into(),
                    },
                );
            }
            Flaw::IgnoresRetryAfter if resp.status == 429 => {
                return Verdicts::all(
                    batch.len(),
                    Verdict::Retry {
                        kind: ErrorKind::Throttling,
                        after: None,
                        reason: "HTTP 429".into(),
                    },
                );
            }
            Flaw::LosesPartialFailure => return v,
            Flaw::FailsBadGateway if matches!(resp.status, 502 | 504) => {
                return Verdicts::all(
                    batch.len(),
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: format!("HTTP {}", resp.status),
                    },
                );
            }
            _ => {}
        }
        let most = if self.flaw == Flaw::ReadsFirstRefusalOnly {
            1
        } else {
            usize::MAX
        };
        if resp.status == 200
            && let Some(bad) = resp.json().and_then(|j| j.get("rejected").cloned())
        {
            for i in bad
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .take(most)
            {
                v = v.set(
                    i as usize,
                    Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason: format!("event {i} refused"),
                    },
                );
            }
        }
        v
    }

    fn conformance_hints(&self) -> ConformanceHints {
        if self.flaw == Flaw::SilentOnPartialFailure {
            return ConformanceHints::default();
        }
        ConformanceHints::default().partial_failure(refused)
    }
}

/// The demo partner: `POST /v1/events` with the bearer key and a JSON array of events that
/// each have an event name and an insert_id; 200 `{"rejected": []}`, else 400.
struct Validate;

impl Respond for Validate {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let Ok(Value::Array(events)) = serde_json::from_slice::<Value>(&req.body) else {
            return ResponseTemplate::new(400).set_body_string("body is not a JSON array");
        };
        for (i, e) in events.iter().enumerate() {
            if !e["event"].is_string() || !e["insert_id"].is_string() {
                return ResponseTemplate::new(400)
                    .set_body_string(format!("events[{i}] is incomplete"));
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({ "rejected": [] }))
    }
}

async fn mock(key: &str) -> MockPartner {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/events"))
        .and(header("authorization", format!("Bearer {key}").as_str()))
        .respond_with(Validate)
        .mount(&server)
        .await;
    let settings = json!({ "api_key": key, "endpoint": server.uri() });
    MockPartner::new(server, settings)
}

async fn run(flaw: Flaw) -> Report {
    let mut suite = Suite::new(Demo { flaw }, Value::Null);
    if flaw == Flaw::LeaksKey {
        // a leaking Debug hides the secret from the automatic detection: name it
        let settings = json!({ "api_key": KEY, "endpoint": "http://replaced", "leak": true });
        suite = Suite::new(Demo { flaw }, settings).secret(KEY);
    }
    let key = if flaw == Flaw::LogsKey {
        LOGGED_KEY
    } else {
        KEY
    };
    let suite = suite.against(mock(key).await);
    let report = suite.run().await;
    println!("{report}");
    report
}

/// `name` failed, with a detail containing every one of `words`.
fn assert_caught(r: &Report, name: &str, words: &[&str]) {
    let c = r
        .check(name)
        .unwrap_or_else(|| panic!("no check named {name}"));
    assert!(!c.passed, "{name} should have failed:\n{r}");
    for w in words {
        assert!(c.detail.contains(w), "{name}: {w:?} not in {:?}", c.detail);
    }
    assert!(!r.passed());
    let res = std::panic::catch_unwind(|| r.assert_conformant());
    let msg = res.expect_err("assert_conformant panics");
    let msg = msg.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains(&format!("- {name}:")), "{msg}");
}

#[tokio::test]
async fn the_correct_destination_passes_everything() {
    let r = run(Flaw::None).await;
    r.assert_conformant();
    assert_eq!(r.destination, "demo");
    // the checks that matter here ran for real, not as "not applicable"
    assert!(
        r.check("partial_batch")
            .unwrap()
            .detail
            .contains("they alone failed")
    );
    assert!(
        r.check("split_413")
            .unwrap()
            .detail
            .contains("in 3 request(s)")
    );
    assert!(
        r.check("secrets")
            .unwrap()
            .detail
            .contains("1 secret value(s)")
    );
    assert!(r.checks.len() >= 27, "{}", r.checks.len());
    // the runtime's debug logs were captured and searched
    let logs = spec_tests::logs::capture().expect("no other subscriber in this test binary");
    assert!(logs.text().contains("partner answered"));
    assert!(r.check("secrets").unwrap().detail.contains("logs)"));
}

#[tokio::test]
async fn retrying_a_400_is_caught() {
    let r = run(Flaw::RetriesBadRequest).await;
    assert_caught(
        &r,
        "classification.400",
        &[
            "answered 400",
            "expected failed (Client) after exactly 1 attempt",
            "got ",
        ],
    );
    // the other statuses are still judged right
    assert!(r.check("classification.401").unwrap().passed);
}

#[tokio::test]
async fn a_dropped_timestamp_is_caught() {
    let r = run(Flaw::DropsTimestamp).await;
    assert_caught(
        &r,
        "wire.timestamp",
        &["Products Searched: expected the event time", "it carried:"],
    );
    assert_caught(&r, "shuffled_time", &["expected its own time"]);
    assert!(r.check("wire.accepted").unwrap().passed);
}

#[tokio::test]
async fn a_lost_partial_failure_is_caught() {
    let r = run(Flaw::LosesPartialFailure).await;
    assert_caught(
        &r,
        "partial_batch",
        &["event 1 of the batch: expected failed; got delivered"],
    );
}

#[tokio::test]
async fn reading_only_the_first_refused_event_is_caught() {
    let r = run(Flaw::ReadsFirstRefusalOnly).await;
    assert_caught(
        &r,
        "partial_batch",
        &["event 3 of the batch: expected failed; got delivered"],
    );
}

#[tokio::test]
async fn a_dedup_key_that_only_contains_the_message_id_is_caught() {
    let r = run(Flaw::SuffixesDedupKey).await;
    assert_caught(&r, "wire.dedup_key", &["expected the dedup key"]);
}

#[tokio::test]
async fn a_batching_destination_silent_on_partial_failures_is_caught() {
    let r = run(Flaw::SilentOnPartialFailure).await;
    assert_caught(
        &r,
        "partial_batch",
        &["no word on how the partner refuses part of one"],
    );
}

#[tokio::test]
async fn failing_a_bad_gateway_for_good_is_caught() {
    let r = run(Flaw::FailsBadGateway).await;
    assert_caught(
        &r,
        "classification.502",
        &["answered 502", "expected retried"],
    );
    assert_caught(
        &r,
        "classification.504",
        &["answered 504", "expected retried"],
    );
    assert!(r.check("classification.503").unwrap().passed);
}

#[tokio::test]
async fn a_panic_on_empty_products_is_caught() {
    let r = run(Flaw::PanicsOnEmptyProducts).await;
    assert_caught(
        &r,
        "edge_cases",
        &["edge case `empty_products`: map() panicked"],
    );
    // the panic did not take the rest of the suite down
    assert!(r.check("accounting").unwrap().passed);
}

#[tokio::test]
async fn an_ignored_retry_after_is_caught() {
    let r = run(Flaw::IgnoresRetryAfter).await;
    assert_caught(
        &r,
        "retry_after",
        &["Retry-After: 7", "expected the retry at least 7s later"],
    );
}

#[tokio::test]
async fn a_leaked_key_is_caught() {
    let r = run(Flaw::LeaksKey).await;
    assert_caught(&r, "secrets", &["appears in the settings' Debug"]);
    // and the report itself never shows it
    assert!(!r.to_json().to_string().contains(KEY));
    assert!(!r.to_string().contains(LOGGED_KEY));
}

#[tokio::test]
async fn a_logged_key_is_caught() {
    let r = run(Flaw::LogsKey).await;
    assert_caught(&r, "secrets", &["appears in the captured logs"]);
    assert!(!r.to_string().contains(KEY));
}
