//! "Acme Analytics": a made-up partner, implemented from scratch as a destination-kit
//! destination, with a mock of its API, run through the conformance suite.
//!
//! ```text
//! cargo run -p spec-tests --example acme
//! ```
//!
//! The Acme API (invented for this walk-through):
//! - `POST {base}/v2/events` with `{"events": [...]}` (at most 100), each event
//!   `{"type", "name", "id", "user_id", "at_ms", "props", "items"}`; `POST {base}/v2/profiles`
//!   with `{"profiles": [{"user_id", "traits"}]}`.
//! - `Authorization: Bearer <api key>`; base `https://api.<region>.acme.example`.
//! - `id` is Acme's dedup key; `at_ms` the event time in Unix milliseconds.
//! - Its quirk: a batch answer is `200 {"accepted": n, "rejected": [{"index": i, "error": "..."}]}`
//!   even when some events were refused.

use async_trait::async_trait;
use destination_kit::destination::ConformanceHints;
use destination_kit::spec::{Ecommerce, Family, Product, SpecEvent};
use destination_kit::{
    BatchLimits, CallType, Destination, DestinationInfo, ErrorKind, Event, Mapped, PartnerRequest,
    PartnerResponse, Payload, Secret, Settings, SettingsError, Verdict, Verdicts,
};
use serde::Deserialize;
use serde_json::{Value, json};
use spec_tests::mock::MockPartner;
use spec_tests::{Report, Suite};
use std::time::SystemTime;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// ---- 1. settings ------------------------------------------------------------------------------

/// Acme's settings: `{"api_key": "...", "region": "us"}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeSettings {
    /// The API key: a `Secret`, so Debug, logs and reports show `[redacted]`.
    pub api_key: Secret<String>,
    /// `us` or `eu`.
    #[serde(default = "us")]
    pub region: String,
    /// Overrides the base URL (mock partners, `destkit deliver --endpoint`).
    #[serde(default)]
    pub endpoint: Option<String>,
}

fn us() -> String {
    "us".into()
}

impl Settings for AcmeSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        if self.api_key.expose().trim().is_empty() {
            return Err(SettingsError::new("api_key", "must not be empty"));
        }
        if !["us", "eu"].contains(&self.region.as_str()) {
            return Err(SettingsError::new("region", "must be `us` or `eu`"));
        }
        Ok(())
    }
    fn set_endpoint(&mut self, base_url: &str) {
        self.endpoint = Some(base_url.trim_end_matches('/').to_string());
    }
}

impl AcmeSettings {
    fn base(&self) -> String {
        self.endpoint
            .clone()
            .unwrap_or_else(|| format!("https://api.{}.acme.example", self.region))
    }
}

// ---- 2. the destination -----------------------------------------------------------------------

/// The Acme Analytics destination.
#[derive(Debug, Clone, Copy, Default)]
pub struct Acme;

/// Spec events Acme has its own event type for.
const NATIVE: &[&str] = &["Order Completed", "Product Viewed", "Product Added"];

fn item(p: &Product) -> Value {
    json!({ "id": p.id(), "name": p.name, "price": p.price, "quantity": p.quantity_or_one() })
}

/// Items from a `products` array that the typed event does not read (custom events).
fn raw_items(ev: &Event<'_>) -> Vec<Value> {
    ev.props()
        .get("products")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| json!({ "id": p.get("product_id").or(p.get("sku")), "price": p.get("price") }))
        .collect()
}

fn event(ev: &Event<'_>, kind: &str, name: &str, items: Vec<Value>) -> Mapped {
    Mapped::one(Payload::json(
        "events",
        &json!({
            "type": kind,
            "name": name,
            "id": ev.message_id(),
            "user_id": ev.user_or_anonymous_id(),
            "at_ms": ev.timestamp_millis(),
            "props": ev.props(),
            "items": items,
        }),
    ))
}

#[async_trait]
impl Destination for Acme {
    type Settings = AcmeSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Acme Analytics", "acme")
            .calls([
                CallType::Track,
                CallType::Identify,
                CallType::Page,
                CallType::Screen,
            ])
            .families([Family::Ecommerce, Family::Email])
            .batch(BatchLimits {
                events: 100,
                bytes: 512 * 1024,
            })
    }

    fn map(&self, _s: &AcmeSettings, ev: &Event<'_>) -> Mapped {
        match (ev.call(), ev.spec()) {
            (CallType::Identify, _) => Mapped::one(Payload::json(
                "profiles",
                &json!({ "user_id": ev.user_or_anonymous_id(), "traits": ev.traits() }),
            )),
            (CallType::Page | CallType::Screen, _) => {
                let name = ev.name().unwrap_or("page");
                event(ev, "page_view", name, Vec::new())
            }
            (_, Some(SpecEvent::Ecommerce(Ecommerce::OrderCompleted(o)))) => event(
                ev,
                "purchase",
                "Order Completed",
                o.products.iter().map(item).collect(),
            ),
            (_, Some(SpecEvent::Ecommerce(Ecommerce::ProductViewed(p)))) => {
                event(ev, "view_item", "Product Viewed", vec![item(&p.product)])
            }
            (_, Some(SpecEvent::Ecommerce(Ecommerce::ProductAdded(p)))) => {
                event(ev, "add_to_cart", "Product Added", vec![item(&p.product)])
            }
            (_, Some(SpecEvent::Email(_))) => {
                Mapped::unsupported("Acme has no email events; send them to your ESP")
            }
            (_, _) => {
                let name = ev.event().unwrap_or_default();
                event(ev, "custom", name, raw_items(ev))
            }
        }
    }

    fn request(&self, s: &AcmeSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
        let items: Vec<&serde_json::value::RawValue> = batch.iter().map(|p| &*p.body).collect();
        let body = serde_json::to_vec(&json!({ route: items })).unwrap_or_default();
        PartnerRequest::post_json(format!("{}/v2/{route}", s.base()), body)
            .bearer(s.api_key.expose())
    }

    /// Acme's quirk: 200 with a `rejected` list. Everything else: the shared classifier.
    fn interpret(
        &self,
        _s: &AcmeSettings,
        resp: &PartnerResponse,
        batch: &[Payload],
        now: SystemTime,
    ) -> Verdicts {
        let mut v = Verdicts::default_for(resp, batch.len(), now);
        if resp.status == 200
            && let Some(body) = resp.json()
        {
            for r in body["rejected"].as_array().into_iter().flatten() {
                if let Some(i) = r["index"].as_u64() {
                    let reason = r["error"].as_str().unwrap_or("refused by Acme").to_string();
                    let failed = Verdict::Failed {
                        kind: ErrorKind::Client,
                        reason,
                    };
                    v = v.set(i as usize, failed);
                }
            }
        }
        v
    }

    fn conformance_hints(&self) -> ConformanceHints {
        ConformanceHints::default()
            .native_events(NATIVE)
            .partial_failure(acme_partial_answer)
    }
}

/// How Acme answers a batch of `n` in which the events at `bad` are refused.
fn acme_partial_answer(n: usize, bad: &[usize]) -> (u16, String) {
    let rejected: Vec<Value> = bad
        .iter()
        .map(|i| json!({ "index": i, "error": "props.price: not a number" }))
        .collect();
    let body = json!({ "accepted": n - bad.len(), "rejected": rejected });
    (200, body.to_string())
}

// ---- 3. the mock partner ----------------------------------------------------------------------

/// The test API key the mock accepts.
pub const MOCK_KEY: &str = "acme_test_5b1e77c04d";

/// Validates like the real Acme API: the bearer key, then every event's fields.
struct AcmeApi;

fn check_event(e: &Value) -> Result<(), String> {
    const TYPES: [&str; 5] = [
        "purchase",
        "view_item",
        "add_to_cart",
        "custom",
        "page_view",
    ];
    if !e["type"].as_str().is_some_and(|t| TYPES.contains(&t)) {
        return Err("type: unknown".into());
    }
    if !e["id"]
        .as_str()
        .is_some_and(|id| !id.is_empty() && id.len() <= 100)
    {
        return Err("id: required, at most 100 characters".into());
    }
    if !e["user_id"].is_string() {
        return Err("user_id: required".into());
    }
    if !e["at_ms"].is_i64() {
        return Err("at_ms: must be an integer (Unix milliseconds)".into());
    }
    for (i, it) in e["items"].as_array().into_iter().flatten().enumerate() {
        if !it["id"].is_string() {
            return Err(format!("items[{i}].id: required"));
        }
    }
    Ok(())
}

impl Respond for AcmeApi {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let auth = req
            .headers
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if auth != Some(format!("Bearer {MOCK_KEY}").as_str()) {
            return ResponseTemplate::new(401).set_body_json(json!({ "error": "invalid API key" }));
        }
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return ResponseTemplate::new(400).set_body_json(json!({ "error": "not JSON" }));
        };
        let profiles = req.url.path().ends_with("/profiles");
        let key = if profiles { "profiles" } else { "events" };
        let Some(list) = body[key]
            .as_array()
            .filter(|l| !l.is_empty() && l.len() <= 100)
        else {
            return ResponseTemplate::new(400)
                .set_body_json(json!({ "error": format!("{key}: 1 to 100 entries") }));
        };
        for (i, e) in list.iter().enumerate() {
            let ok = if profiles {
                e["user_id"]
                    .is_string()
                    .then_some(())
                    .ok_or("user_id: required".to_string())
            } else {
                check_event(e)
            };
            if let Err(msg) = ok {
                return ResponseTemplate::new(400)
                    .set_body_json(json!({ "error": format!("{key}[{i}].{msg}") }));
            }
        }
        ResponseTemplate::new(200).set_body_json(json!({ "accepted": list.len(), "rejected": [] }))
    }
}

/// Start the mock Acme API on 127.0.0.1, with settings pointing at it.
pub async fn acme_mock() -> MockPartner {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/events"))
        .respond_with(AcmeApi)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/profiles"))
        .respond_with(AcmeApi)
        .mount(&server)
        .await;
    let settings = json!({ "api_key": MOCK_KEY, "region": "us", "endpoint": server.uri() });
    MockPartner::new(server, settings)
}

// ---- 4. the suite -----------------------------------------------------------------------------

/// Run the conformance suite for Acme against its mock.
pub async fn run_suite() -> Report {
    Suite::new(Acme, Value::Null)
        .against(acme_mock().await)
        .run()
        .await
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let report = run_suite().await;
    print!("{report}");
    if report.passed() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::from(1)
    }
}
