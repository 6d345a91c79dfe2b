//! Intercom through the delivery runtime against its mock: every specced event and call, and
//! each quirk (202 empty body, 429 + `X-RateLimit-Reset`, 409 on contacts retried, 404 user not
//! found, 401 auth), asserting per-event outcomes and the requests the mock received.

use destination_kit::runtime::{DeliveryConfig, DeliveryResult, Runtime, TestClock};
use destination_kit::{ErrorKind, Outcome};
use destinations::intercom::{self, IntercomMock, mock::TOKEN};
use serde_json::{Value, json};
use spec_tests::fixtures;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

const T0: u64 = 1_773_489_600; // 2026-03-14T12:00:00Z

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock::new(UNIX_EPOCH + Duration::from_secs(T0)))
}

async fn deliver(settings: Value, clock: &Arc<TestClock>, events: &[Value]) -> DeliveryResult {
    let dest = intercom::configure(settings, None).expect("valid settings");
    let rt = Runtime::new(dest, DeliveryConfig::default().concurrency(1)).with_clock(clock.clone());
    let mut bytes = Vec::new();
    for e in events {
        bytes.extend_from_slice(e.to_string().as_bytes());
        bytes.push(b'\n');
    }
    rt.deliver_bytes(&bytes).await
}

fn track(id: &str, user: &str, event: &str, props: Value) -> Value {
    json!({"type": "track", "messageId": id, "userId": user, "event": event,
           "properties": props, "timestamp": "2026-03-14T10:00:00Z"})
}

fn identify(id: &str, user: &str, email: &str) -> Value {
    json!({"type": "identify", "messageId": id, "userId": user,
           "traits": {"email": email, "name": "Ann Lee", "plan": "pro"},
           "timestamp": "2026-03-14T10:00:00Z"})
}

fn only(r: &DeliveryResult) -> &destination_kit::runtime::EventOutcome {
    assert_eq!(r.events.len(), 1, "{:?}", r.events);
    &r.events[0]
}

async fn paths(m: &IntercomMock) -> Vec<String> {
    m.received()
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

#[tokio::test]
async fn every_spec_event_and_call_adds_up_with_no_failures() {
    let m = IntercomMock::start().await;
    let mut input: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(input.len(), 55);
    input.extend(fixtures::calls().into_iter().map(|(_, v)| v));
    let r = deliver(m.settings(), &clock(), &input).await;
    let rep = &r.report;
    assert!(rep.adds_up(), "{rep:?}");
    assert_eq!(rep.input, 61);
    assert_eq!((rep.failed, rep.expired, rep.rejected), (0, 0, 0), "{r:#?}");
    // 7 video events unsupported + page, screen, alias
    assert_eq!(rep.filtered, 10, "{r:#?}");
    assert_eq!(rep.delivered, 51);
    // 48 data events (55 − 7 unsupported; Unsubscribed also updates its contact) + the track
    let events = m.events();
    assert_eq!(events.len(), 49);
    assert!(
        events
            .iter()
            .all(|e| e["created_at"].as_i64().unwrap() < 100_000_000_000)
    );
    // identify created its contact, Unsubscribed created another (no identify for that user)
    let contacts = m.contacts();
    let unsub = contacts
        .iter()
        .find(|c| c.fields["unsubscribed_from_emails"] == json!(true))
        .expect("the unsubscribed contact");
    assert_eq!(unsub.external_id.as_deref(), Some("usr_e2b6f418"));
    assert_eq!(m.companies().len(), 1);
}

#[tokio::test]
async fn accepted_is_202_with_an_empty_body_and_the_request_is_exact() {
    let m = IntercomMock::start().await;
    let r = deliver(
        m.settings(),
        &clock(),
        &[track(
            "m1",
            "u1",
            "Live Chat Conversation Started",
            json!({"conversation_id": "c1", "agent_id": "a1"}),
        )],
    )
    .await;
    let e = only(&r);
    assert_eq!(
        (&e.outcome, e.attempts, e.last_status),
        (&Outcome::Delivered, 1, Some(202))
    );
    let rec = m.received().await;
    assert_eq!(rec.len(), 1);
    let req = &rec[0];
    assert_eq!(
        req.headers["authorization"].to_str().unwrap(),
        format!("Bearer {TOKEN}")
    );
    assert_eq!(req.headers["intercom-version"], "2.14");
    assert_eq!(
        serde_json::from_slice::<Value>(&req.body).unwrap(),
        json!({"event_name": "Live Chat Conversation Started", "created_at": 1_773_482_400,
               "user_id": "u1", "metadata": {"conversation_id": "c1", "agent_id": "a1"}})
    );
}

#[tokio::test]
async fn rate_limit_waits_until_x_ratelimit_reset() {
    let m = IntercomMock::start().await.rate_limit_next(2, T0 + 20);
    let c = clock();
    let r = deliver(
        m.settings(),
        &c,
        &[track("m1", "u1", "Email Opened", json!({"email_id": "e1"}))],
    )
    .await;
    let e = only(&r);
    assert_eq!((&e.outcome, e.attempts), (&Outcome::Delivered, 3));
    // first wait: until the reset 20 s away; the second 429 names the same, now-past reset, so
    // the second wait is the runtime's own jittered backoff (retry 2: at most 2 s)
    let waited = c.elapsed();
    assert!(
        waited >= Duration::from_secs(20) && waited <= Duration::from_secs(22),
        "{waited:?}"
    );
    assert_eq!(c.sleeps()[0], Duration::from_secs(20));
    assert_eq!(paths(&m).await, vec!["POST /events"; 3]);
    assert_eq!(m.events().len(), 1);
}

#[tokio::test]
async fn conflict_on_contact_create_is_retried_until_the_search_catches_up() {
    // the contact exists, but the first search does not see it yet
    let m = IntercomMock::start()
        .await
        .with_contact(Some("u1"), Some("old@example.com"))
        .search_lag(1);
    let r = deliver(
        m.settings(),
        &clock(),
        &[identify("m1", "u1", "ann@example.com")],
    )
    .await;
    let e = only(&r);
    assert_eq!((&e.outcome, e.attempts), (&Outcome::Delivered, 2), "{e:?}");
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /contacts/search",
            "POST /contacts",
            "POST /contacts/search",
            "PUT /contacts/c1"
        ]
    );
    let contacts = m.contacts();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email.as_deref(), Some("ann@example.com"));
}

#[tokio::test]
async fn identify_creates_then_updates_and_group_attaches_the_user() {
    let m = IntercomMock::start().await;
    let group = json!({"type": "group", "messageId": "m3", "userId": "u1", "groupId": "g1",
        "traits": {"name": "Acme", "employees": "12", "plan": "pro"},
        "timestamp": "2026-03-14T10:00:00Z"});
    let r = deliver(
        m.settings(),
        &clock(),
        &[
            identify("m1", "u1", "a@example.com"),
            identify("m2", "u1", "b@example.com"),
            group,
        ],
    )
    .await;
    assert_eq!(r.report.delivered, 3, "{r:#?}");
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /contacts/search",
            "POST /contacts",
            "POST /contacts/search",
            "PUT /contacts/c1",
            "POST /companies",
            "POST /contacts/search",
            "POST /contacts/c1/companies",
        ]
    );
    let c = &m.contacts()[0];
    assert_eq!(c.email.as_deref(), Some("b@example.com"));
    assert_eq!(c.companies, vec!["co2".to_string()]);
    assert_eq!(m.companies()[0]["size"], json!(12));
}

#[tokio::test]
async fn unknown_user_fails_once_with_intercoms_reason() {
    let m = IntercomMock::start().await.unknown_users(["ghost"]);
    let r = deliver(
        m.settings(),
        &clock(),
        &[
            track("m1", "ghost", "Live Chat Message Sent", json!({})),
            track("m2", "u2", "Live Chat Message Sent", json!({})),
        ],
    )
    .await;
    assert_eq!(r.events.len(), 2);
    match &r.events[0].outcome {
        Outcome::Failed {
            kind,
            reason,
            status,
        } => {
            assert_eq!((*kind, *status), (ErrorKind::Client, Some(404)));
            assert_eq!(reason, "HTTP 404: not_found: User Not Found");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.events[0].attempts, 1);
    assert_eq!(r.events[1].outcome, Outcome::Delivered);
    assert_eq!(m.received().await.len(), 2);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_failure_never_retried() {
    let m = IntercomMock::start().await;
    let mut s = m.settings();
    s["access_token"] = json!("wrong");
    let r = deliver(s, &clock(), &[track("m1", "u1", "Email Opened", json!({}))]).await;
    let e = only(&r);
    assert!(
        matches!(&e.outcome, Outcome::Failed { kind: ErrorKind::Auth, reason, .. }
            if reason == "HTTP 401: unauthorized: Access Token Invalid"),
        "{e:?}"
    );
    assert_eq!(m.received().await.len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried() {
    let m = IntercomMock::start().await.fail_next(2, 503);
    let r = deliver(
        m.settings(),
        &clock(),
        &[track("m1", "u1", "Email Opened", json!({}))],
    )
    .await;
    assert_eq!(
        (&only(&r).outcome, only(&r).attempts),
        (&Outcome::Delivered, 3)
    );
}

// ---- the mock validates like Intercom ----------------------------------------------------------

async fn post(m: &IntercomMock, path: &str, version: Option<&str>, body: Value) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut rb = client
        .post(format!("{}{path}", m.uri()))
        .bearer_auth(TOKEN)
        .json(&body);
    if let Some(v) = version {
        rb = rb.header("Intercom-Version", v);
    }
    let resp = rb.send().await.expect("mock answers");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn mock_refuses_what_intercom_refuses() {
    let m = IntercomMock::start().await;
    let ok = json!({"event_name": "x", "created_at": 1_773_482_400, "user_id": "u"});
    assert_eq!(
        post(&m, "/events", Some("2.14"), ok.clone()).await,
        (202, Value::Null)
    );
    let code = |v: &Value| v["errors"][0]["code"].as_str().unwrap_or("").to_string();
    // milliseconds
    let mut ms = ok.clone();
    ms["created_at"] = json!(1_773_482_400_000_i64);
    let (s, b) = post(&m, "/events", Some("2.14"), ms).await;
    assert_eq!(
        (s, code(&b), b["type"].clone()),
        (400, "parameter_invalid".into(), json!("error.list"))
    );
    // missing event_name, missing identifier, nested metadata, 11 keys, no version
    let mut no_name = ok.clone();
    no_name.as_object_mut().unwrap().remove("event_name");
    assert_eq!(post(&m, "/events", Some("2.14"), no_name).await.0, 400);
    let mut no_id = ok.clone();
    no_id.as_object_mut().unwrap().remove("user_id");
    assert_eq!(post(&m, "/events", Some("2.14"), no_id).await.0, 400);
    let mut nested = ok.clone();
    nested["metadata"] = json!({"a": {"b": 1}});
    assert_eq!(post(&m, "/events", Some("2.14"), nested).await.0, 400);
    let mut many = ok.clone();
    many["metadata"] = Value::Object((0..11).map(|i| (format!("k{i}"), json!(i))).collect());
    assert_eq!(post(&m, "/events", Some("2.14"), many).await.0, 400);
    let mut price = ok.clone();
    price["metadata"] = json!({"price": {"amount": 1999, "currency": "EUR"}});
    assert_eq!(post(&m, "/events", Some("2.14"), price).await.0, 202);
    let (s, b) = post(&m, "/events", None, ok.clone()).await;
    assert_eq!((s, code(&b)), (400, "intercom_version_invalid".into()));
    assert_eq!(m.events().len(), 2);
}
