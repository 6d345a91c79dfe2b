//! Adobe Streaming Media through the delivery runtime against its mock: every specced event and
//! call, session start from `Location`, sessions started on demand, 404/410 → new session and
//! one resend, 500 retried on the same session, 400 failed, ts ordering, the real-time bound —
//! asserting per-event outcomes and the requests the mock received.

use destination_kit::runtime::{DeliveryConfig, DeliveryResult, Runtime, TestClock};
use destination_kit::{DynDestination, ErrorKind, Outcome};
use destinations::adobe_media::{self, AdobeMediaMock};
use serde_json::{Value, json};
use spec_tests::fixtures;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

fn clock() -> Arc<TestClock> {
    Arc::new(TestClock::new(
        UNIX_EPOCH + Duration::from_secs(1_773_480_660),
    ))
}

fn dest(settings: Value) -> Arc<dyn DynDestination> {
    adobe_media::configure(settings, None).expect("valid settings")
}

async fn deliver(d: &Arc<dyn DynDestination>, events: &[Value]) -> DeliveryResult {
    let rt = Runtime::new(d.clone(), DeliveryConfig::default().concurrency(1)).with_clock(clock());
    let mut bytes = Vec::new();
    for e in events {
        bytes.extend_from_slice(e.to_string().as_bytes());
        bytes.push(b'\n');
    }
    rt.deliver_bytes(&bytes).await
}

fn video(id: &str, event: &str, at: &str, props: Value) -> Value {
    let mut p = json!({"session_id": "s1"});
    for (k, v) in props.as_object().expect("object") {
        p[k] = v.clone();
    }
    json!({"type": "track", "messageId": id, "userId": "u1", "event": event,
           "properties": p, "timestamp": at})
}

fn started(id: &str) -> Value {
    video(
        id,
        "Video Playback Started",
        "2026-03-14T09:30:00Z",
        json!({"content_asset_id": "asset-9", "total_length": 600, "video_player": "html5",
               "channel": "web", "title": "Pilot", "position": 0}),
    )
}

fn paused(id: &str, at: &str) -> Value {
    video(id, "Video Playback Paused", at, json!({"position": 42}))
}

async fn paths(m: &AdobeMediaMock) -> Vec<String> {
    m.received()
        .await
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

fn outcomes(r: &DeliveryResult) -> Vec<(&Outcome, u32)> {
    r.events.iter().map(|e| (&e.outcome, e.attempts)).collect()
}

#[tokio::test]
async fn every_spec_event_and_call_adds_up_with_no_failures() {
    let m = AdobeMediaMock::start().await;
    let mut input: Vec<Value> = fixtures::all_spec_events()
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(input.len(), 55);
    input.extend(fixtures::calls().into_iter().map(|(_, v)| v));
    let r = deliver(&dest(m.settings()), &input).await;
    let rep = &r.report;
    assert!(rep.adds_up(), "{rep:?}");
    assert_eq!(rep.input, 61);
    assert_eq!((rep.failed, rep.expired, rep.rejected), (0, 0, 0), "{r:#?}");
    assert_eq!(rep.delivered, 16);
    // 44 not video; Exited after Completed has nothing to close (no session opened to end it)
    assert_eq!(rep.filtered, 45);
    let exited = r
        .events
        .iter()
        .find(|e| matches!(&e.outcome, Outcome::Filtered { reason } if reason.contains("already closed")))
        .expect("Exited filtered");
    assert_eq!(
        (exited.attempts, exited.last_status),
        (0, None),
        "{exited:?}"
    );
    // every request the partner received is counted, session starts included
    assert_eq!(rep.requests as usize, m.received().await.len());
    let sessions = m.sessions();
    // vs_…: Started … Completed (sessionComplete) | the content and ad events on a second;
    // Quality Updated (no session_id) on the user's current playback, the second
    let types: Vec<Vec<String>> = sessions.iter().map(|s| s.event_types()).collect();
    assert_eq!(
        types,
        vec![
            vec![
                "sessionStart",
                "pauseStart",
                "pauseStart",
                "bufferStart",
                "play",
                "pauseStart",
                "play",
                "play",
                "sessionComplete"
            ],
            vec![
                "sessionStart",
                "chapterStart",
                "play",
                "ping",
                "chapterComplete",
                "adStart",
                "ping",
                "adComplete",
                "bitrateChange"
            ],
        ]
    );
    // a restart reuses the stored Playback Started params
    assert_eq!(sessions[1].start["params"]["media.id"], "ca_0451");
    assert_eq!(
        sessions[1].start["params"]["media.playerName"],
        "ridgeline-player"
    );
}

#[tokio::test]
async fn session_start_reads_the_sid_from_location_and_events_follow_it() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    let r = deliver(&d, &[started("m1"), paused("m2", "2026-03-14T09:30:10Z")]).await;
    assert_eq!(
        outcomes(&r),
        vec![(&Outcome::Delivered, 1), (&Outcome::Delivered, 1)]
    );
    assert_eq!(r.events[0].last_status, Some(201));
    assert_eq!(r.events[1].last_status, Some(204));
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0001/events"
        ]
    );
    let rec = m.received().await;
    let body: Value = serde_json::from_slice(&rec[1].body).unwrap();
    assert_eq!(
        body,
        json!({"playerTime": {"playhead": 42.0, "ts": 1_773_480_610_000_i64},
               "eventType": "pauseStart"})
    );
    let start: Value = serde_json::from_slice(&rec[0].body).unwrap();
    insta::assert_json_snapshot!(
        "adobe_session_requests",
        json!([
            {"method": "POST", "path": rec[0].url.path(), "content_type": rec[0].headers["content-type"].to_str().unwrap(), "body": start},
            {"method": "POST", "path": rec[1].url.path(), "content_type": rec[1].headers["content-type"].to_str().unwrap(), "body": body},
        ])
    );
}

#[tokio::test]
async fn an_event_without_a_seen_playback_started_starts_its_own_session() {
    let m = AdobeMediaMock::start().await;
    let r = deliver(
        &dest(m.settings()),
        &[video(
            "m1",
            "Video Content Playing",
            "2026-03-14T09:30:00Z",
            json!({"asset_id": "a-7", "position": 30, "total_length": 90}),
        )],
    )
    .await;
    assert_eq!(outcomes(&r), vec![(&Outcome::Delivered, 1)]);
    let s = &m.sessions()[0];
    assert_eq!(s.event_types(), vec!["sessionStart", "ping"]);
    assert_eq!(s.start["params"]["media.id"], "a-7");
    assert_eq!(s.start["params"]["media.playerName"], "unknown");
    assert_eq!(s.start["params"]["media.length"], 90);
    assert_eq!(
        s.start["playerTime"]["ts"].as_i64().unwrap() + 1,
        s.events[0]["playerTime"]["ts"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn gone_410_starts_a_new_session_and_resends_once() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    deliver(&d, &[started("m1")]).await;
    m.close_session("sid-0001");
    let r = deliver(&d, &[paused("m2", "2026-03-14T09:30:20Z")]).await;
    assert_eq!(outcomes(&r), vec![(&Outcome::Delivered, 1)]);
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0001/events",
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0002/events",
        ]
    );
    let s = m.sessions();
    assert_eq!(
        s[1].start["params"]["media.id"], "asset-9",
        "stored Playback Started reused"
    );
    assert_eq!(s[1].event_types(), vec!["sessionStart", "pauseStart"]);
}

#[tokio::test]
async fn unknown_404_starts_a_new_session_too() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    deliver(&d, &[started("m1")]).await;
    m.forget_session("sid-0001");
    let r = deliver(&d, &[paused("m2", "2026-03-14T09:30:20Z")]).await;
    assert_eq!(outcomes(&r), vec![(&Outcome::Delivered, 1)]);
    assert_eq!(m.sessions()[0].sid, "sid-0002");
    assert_eq!(
        m.sessions()[0].event_types(),
        vec!["sessionStart", "pauseStart"]
    );
    assert_eq!(m.received().await.len(), 4);
}

#[tokio::test]
async fn the_resend_after_a_restart_happens_once_then_the_classifier_decides() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    deliver(&d, &[started("m1")]).await;
    // event → 404, restart → 201 (sid-0002), resend → 410: final
    let m = m.script([Some(404), None, Some(410)]);
    let r = deliver(&d, &[paused("m2", "2026-03-14T09:30:20Z")]).await;
    match &r.events[0].outcome {
        Outcome::Failed { kind, status, .. } => {
            assert_eq!((*kind, *status), (ErrorKind::Client, Some(410)))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.events[0].attempts, 1);
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0001/events",
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0002/events",
        ]
    );
}

#[tokio::test]
async fn server_error_is_retried_on_the_same_session() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    deliver(&d, &[started("m1")]).await;
    let m = m.fail_next(2, 500);
    let r = deliver(&d, &[paused("m2", "2026-03-14T09:30:20Z")]).await;
    assert_eq!(outcomes(&r), vec![(&Outcome::Delivered, 3)]);
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0001/events",
            "POST /api/v1/sessions/sid-0001/events",
            "POST /api/v1/sessions/sid-0001/events",
        ]
    );
    assert_eq!(m.sessions().len(), 1);
}

#[tokio::test]
async fn a_failed_session_start_decides_the_event_and_schema_errors_fail() {
    let m = AdobeMediaMock::start().await.fail_next(1, 400);
    let d = dest(m.settings());
    let r = deliver(&d, &[paused("m1", "2026-03-14T09:30:20Z")]).await;
    match &r.events[0].outcome {
        Outcome::Failed {
            kind,
            status,
            reason,
        } => {
            assert_eq!((*kind, *status), (ErrorKind::Client, Some(400)));
            assert_eq!(reason, "HTTP 400: Scripted fault");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(paths(&m).await, vec!["POST /api/v1/sessions"]);
}

#[tokio::test]
async fn events_in_the_same_millisecond_get_distinct_ts() {
    let m = AdobeMediaMock::start().await;
    let at = "2026-03-14T09:30:30Z";
    let r = deliver(
        &dest(m.settings()),
        &[
            started("m1"),
            paused("m2", at),
            video("m3", "Video Playback Resumed", at, json!({"position": 42})),
            video(
                "m4",
                "Video Playback Buffer Started",
                at,
                json!({"position": 42}),
            ),
        ],
    )
    .await;
    assert_eq!(r.report.delivered, 4, "{r:#?}");
    let ts: Vec<i64> = m.sessions()[0]
        .events
        .iter()
        .map(|e| e["playerTime"]["ts"].as_i64().unwrap())
        .collect();
    let base = 1_773_480_630_000_i64;
    assert_eq!(ts, vec![base, base + 1, base + 2]);
}

#[tokio::test]
async fn events_past_the_real_time_bound_are_rejected_never_sent() {
    let m = AdobeMediaMock::start().await;
    let mut s = m.settings();
    s["now"] = json!("2026-03-14T12:00:00Z");
    s["max_event_age_secs"] = json!(600);
    let r = deliver(&dest(s), &[started("m1")]).await;
    match &r.events[0].outcome {
        Outcome::Rejected { reason } => {
            assert!(reason.contains("/api/v1/downloaded"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    assert!(m.received().await.is_empty());
}

// ---- the mock validates like Adobe -------------------------------------------------------------

async fn post(m: &AdobeMediaMock, path: &str, body: Value) -> (u16, String, Option<String>) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", m.uri()))
        .json(&body)
        .send()
        .await
        .expect("mock answers");
    let status = resp.status().as_u16();
    let loc = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string());
    (status, resp.text().await.unwrap_or_default(), loc)
}

#[tokio::test]
async fn mock_refuses_what_adobe_refuses() {
    let m = AdobeMediaMock::start().await;
    let start = json!({"playerTime": {"playhead": 0, "ts": 1_773_480_600_000_i64},
        "eventType": "sessionStart",
        "params": {"analytics.trackingServer": "t", "analytics.reportSuite": "r",
            "visitor.marketingCloudOrgId": "o", "media.id": "i", "media.length": 10,
            "media.contentType": "VOD", "media.playerName": "p", "media.channel": "c"}});
    let (s, _, loc) = post(&m, "/api/v1/sessions", start.clone()).await;
    assert_eq!(
        (s, loc.as_deref()),
        (201, Some("/api/v1/sessions/sid-0001"))
    );
    let mut no_channel = start.clone();
    no_channel["params"]
        .as_object_mut()
        .unwrap()
        .remove("media.channel");
    let (s, msg, _) = post(&m, "/api/v1/sessions", no_channel).await;
    assert_eq!(
        (s, msg.as_str()),
        (400, "params.media.channel: required for sessionStart")
    );
    let ev = |ts: i64, t: &str| json!({"playerTime": {"playhead": 1.5, "ts": ts}, "eventType": t});
    let path = "/api/v1/sessions/sid-0001/events";
    assert_eq!(post(&m, path, ev(1_773_480_601_000, "play")).await.0, 204);
    // seconds instead of milliseconds, same ts again, unknown type, adStart without params
    assert_eq!(post(&m, path, ev(1_773_480_602, "play")).await.0, 400);
    assert_eq!(post(&m, path, ev(1_773_480_601_000, "ping")).await.0, 400);
    assert_eq!(post(&m, path, ev(1_773_480_603_000, "seek")).await.0, 400);
    assert_eq!(
        post(&m, path, ev(1_773_480_604_000, "adStart")).await.0,
        400
    );
    let mut cm = ev(1_773_480_605_000, "ping");
    cm["customMetadata"] = json!({"a": "b"});
    assert_eq!(post(&m, path, cm).await.0, 400);
    assert_eq!(
        post(
            &m,
            "/api/v1/sessions/nope/events",
            ev(1_773_480_606_000, "play")
        )
        .await
        .0,
        404
    );
    m.close_session("sid-0001");
    assert_eq!(post(&m, path, ev(1_773_480_607_000, "play")).await.0, 410);
    assert_eq!(m.sessions()[0].events.len(), 1);
}

#[tokio::test]
async fn a_session_start_without_location_fails_the_event_instead_of_counting_it() {
    use wiremock::{Mock, MockServer, ResponseTemplate, matchers::any};
    let server = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&server)
        .await;
    let m = AdobeMediaMock::start().await;
    let mut s = m.settings();
    s["endpoint"] = json!(server.uri());
    let r = deliver(&dest(s), &[paused("m1", "2026-03-14T09:30:20Z")]).await;
    match &r.events[0].outcome {
        Outcome::Failed { kind, reason, .. } => {
            assert_eq!(*kind, ErrorKind::Client);
            assert!(reason.contains("without a Location"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    let rec = server.received_requests().await.unwrap();
    assert_eq!(rec.len(), 1, "only the session start, never the event");
    assert_eq!(rec[0].url.path(), "/api/v1/sessions");
}

#[tokio::test]
async fn throttling_waits_for_retry_after_on_the_same_session() {
    let m = AdobeMediaMock::start().await;
    let d = dest(m.settings());
    deliver(&d, &[started("m1")]).await;
    let m = m.retry_after_next(1, 9);
    let c = clock();
    let rt =
        Runtime::new(d.clone(), DeliveryConfig::default().concurrency(1)).with_clock(c.clone());
    let line = paused("m2", "2026-03-14T09:30:20Z").to_string();
    let r = rt.deliver_bytes(line.as_bytes()).await;
    assert_eq!(outcomes(&r), vec![(&Outcome::Delivered, 2)]);
    assert_eq!(c.elapsed(), Duration::from_secs(9));
    assert_eq!(
        paths(&m).await,
        vec![
            "POST /api/v1/sessions",
            "POST /api/v1/sessions/sid-0001/events",
            "POST /api/v1/sessions/sid-0001/events",
        ]
    );
}

/// Exited after Completed: the playback's Adobe session is already closed, so the Exited ends
/// `filtered` (nothing sent, no attempt) instead of opening a second session only to end it.
#[tokio::test]
async fn exited_after_completed_opens_no_second_session() {
    let m = AdobeMediaMock::start().await;
    let r = deliver(
        &dest(m.settings()),
        &[
            started("m1"),
            video(
                "m2",
                "Video Playback Completed",
                "2026-03-14T09:30:10Z",
                json!({"position": 600}),
            ),
            video(
                "m3",
                "Video Playback Exited",
                "2026-03-14T09:30:11Z",
                json!({"position": 600}),
            ),
        ],
    )
    .await;
    let o = outcomes(&r);
    assert_eq!((o[0].0, o[1].0), (&Outcome::Delivered, &Outcome::Delivered));
    match o[2] {
        (Outcome::Filtered { reason }, 0) => assert!(reason.contains("already closed"), "{reason}"),
        other => panic!("{other:?}"),
    }
    let types: Vec<Vec<String>> = m.sessions().iter().map(|s| s.event_types()).collect();
    assert_eq!(types, vec![vec!["sessionStart", "sessionComplete"]]);
    assert_eq!(r.report.requests, 2);
    // a new Playback Started of the same Segment session opens a session again
    let r = deliver(&dest(m.settings()), &[started("m4")]).await;
    assert_eq!(r.report.delivered, 1);
}

/// The spec's Video Quality Updated has no session_id: it goes on the user's current playback,
/// not on a session of its own (which would count a media start with no media).
#[tokio::test]
async fn quality_updated_goes_on_the_users_current_playback() {
    let m = AdobeMediaMock::start().await;
    let quality = json!({"type": "track", "messageId": "m2", "userId": "u1",
        "event": "Video Quality Updated", "timestamp": "2026-03-14T09:30:05Z",
        "properties": {"bitrate": 2500, "framerate": 29.97, "startupTime": 0.4, "droppedFrames": 2}});
    let r = deliver(&dest(m.settings()), &[started("m1"), quality.clone()]).await;
    assert_eq!(r.report.delivered, 2);
    let sessions = m.sessions();
    let types: Vec<Vec<String>> = sessions.iter().map(|s| s.event_types()).collect();
    assert_eq!(types, vec![vec!["sessionStart", "bitrateChange"]]);
    assert_eq!(sessions[0].start["params"]["media.id"], "asset-9");
    // with no playback of the user open, it still goes, on a session of the user's own
    let m = AdobeMediaMock::start().await;
    let r = deliver(&dest(m.settings()), &[quality]).await;
    assert_eq!(r.report.delivered, 1);
    assert_eq!(m.sessions()[0].start["params"]["media.id"], "user:u1");
}
