//! Unit and snapshot tests of the Adobe mapping and request building.

use super::mapping::{ONLY_VIDEO, event_types};
use super::request::{SID_PLACEHOLDER, sid_from_location};
use super::*;
use destination_kit::CallType;
use destination_kit::destination::parse_settings;
use destination_kit::spec::{self};
use serde_json::{Value, json};
use spec_tests::fixtures;
use spec_tests::snapshot::{map_json, payloads, show_request as show};

fn settings() -> AdobeMediaSettings {
    parse_settings(json!({
        "endpoint": "https://example.hb-api.omtrdc.net/",
        "tracking_server": mock::TRACKING_SERVER,
        "report_suite": mock::REPORT_SUITE,
        "marketing_cloud_org_id": mock::ORG_ID,
        "now": "2026-03-14T09:31:00Z",
        "max_event_age_secs": 3600,
    }))
    .expect("settings")
}

fn map_with(s: &AdobeMediaSettings, v: Value) -> Mapped {
    map_json(&AdobeMedia::new(), s, v)
}

fn requests_for(v: Value) -> Vec<Value> {
    let s = settings();
    let d = AdobeMedia::new();
    payloads(map_with(&s, v))
        .iter()
        .map(|p| show(&d.request(&s, &p.route, std::slice::from_ref(p))))
        .collect()
}

fn fixture(name: &str) -> Value {
    fixtures::spec_event(spec::recognise(name).expect("a spec event"))
}

#[test]
fn every_video_event_is_native_and_every_other_event_is_unsupported() {
    let s = settings();
    let mut counts = std::collections::BTreeMap::new();
    for (kind, v) in fixtures::all_spec_events() {
        let col = match map_with(&s, v) {
            Mapped::Send(p) => {
                assert_eq!(kind.family, spec::Family::Video, "{}", kind.name);
                assert_eq!(
                    p.len(),
                    event_types(kind.name).expect("video").len(),
                    "{}",
                    kind.name
                );
                assert!(
                    p.iter()
                        .all(|p| p.route == "vs_3c9e0f5a8b21" || p.route == "user:usr_a81d03e6")
                );
                0
            }
            Mapped::Unsupported { reason } => {
                assert!(reason.starts_with(ONLY_VIDEO), "{reason}");
                2
            }
            Mapped::Invalid { reason } => panic!("{}: {reason}", kind.name),
        };
        counts.entry(kind.family.as_str()).or_insert([0; 3])[col] += 1;
    }
    let expected: std::collections::BTreeMap<&str, [i32; 3]> = [
        ("ecommerce", [0, 0, 28]),
        ("video", [17, 0, 0]),
        ("live_chat", [0, 0, 4]),
        ("email", [0, 0, 6]),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, expected);
    for call in CallType::ALL {
        match map_with(&s, fixtures::call(call)) {
            Mapped::Unsupported { reason } => assert!(reason.starts_with(ONLY_VIDEO), "{reason}"),
            other => panic!("{call:?}: {other:?}"),
        }
    }
}

#[test]
fn snapshot_playback_started_is_a_session_start() {
    let r = requests_for(fixture("Video Playback Started"));
    assert_eq!(r.len(), 1);
    assert_eq!(
        r[0]["url"],
        "https://example.hb-api.omtrdc.net/api/v1/sessions"
    );
    insta::assert_json_snapshot!("adobe_session_start", r[0]);
}

#[test]
fn snapshot_content_started_is_chapter_start_then_play() {
    let r = requests_for(fixture("Video Content Started"));
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["body"]["eventType"], "chapterStart");
    assert_eq!(r[1]["body"]["eventType"], "play");
    let ts = |i: usize| r[i]["body"]["playerTime"]["ts"].as_i64().expect("ts");
    assert_eq!(ts(1), ts(0) + 1, "consecutive events differ by 1 ms");
    assert!(
        r[0]["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/api/v1/sessions/{SID_PLACEHOLDER}/events"))
    );
    insta::assert_json_snapshot!("adobe_content_started", r);
}

#[test]
fn snapshot_ad_started_and_quality_updated() {
    insta::assert_json_snapshot!(
        "adobe_ad_started",
        requests_for(fixture("Video Ad Started"))
    );
    let q = requests_for(fixture("Video Quality Updated"));
    assert_eq!(q[0]["body"]["eventType"], "bitrateChange");
    assert!(q[0]["body"]["qoeData"]["media.qoe.bitrate"].is_number());
    insta::assert_json_snapshot!("adobe_quality_updated", q);
}

#[test]
fn every_video_event_has_its_event_type() {
    for (name, want) in [
        ("Video Playback Paused", "pauseStart"),
        ("Video Playback Interrupted", "pauseStart"),
        ("Video Playback Seek Started", "pauseStart"),
        ("Video Playback Seek Completed", "play"),
        ("Video Playback Resumed", "play"),
        ("Video Playback Buffer Started", "bufferStart"),
        ("Video Playback Buffer Completed", "play"),
        ("Video Playback Completed", "sessionComplete"),
        ("Video Playback Exited", "sessionEnd"),
        ("Video Content Playing", "ping"),
        ("Video Ad Playing", "ping"),
        ("Video Content Completed", "chapterComplete"),
        ("Video Ad Completed", "adComplete"),
    ] {
        let r = requests_for(fixture(name));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0]["body"]["eventType"], want, "{name}");
        assert!(r[0]["body"].get("customMetadata").is_none(), "{name}");
        let playhead = r[0]["body"]["playerTime"]["playhead"].as_f64();
        let position = fixture(name)["properties"]["position"].as_f64();
        assert_eq!(playhead, position, "{name}");
    }
}

#[test]
fn segment_adobe_ad_break_and_skip_names_map_too() {
    let ev = |name: &str| {
        json!({"type": "track", "event": name, "userId": "u1", "messageId": "m1",
               "timestamp": "2026-03-14T09:30:00Z",
               "properties": {"session_id": "s1", "position": 12.5, "pod_id": "mid"}})
    };
    let r = requests_for(ev("Video Ad Break Started"));
    assert_eq!(
        r[0]["body"],
        json!({"playerTime": {"playhead": 12.5, "ts": 1_773_480_600_000_i64},
               "eventType": "adBreakStart",
               "params": {"media.ad.podIndex": 0, "media.ad.podSecond": 12.5,
                          "media.ad.podFriendlyName": "mid"}})
    );
    assert_eq!(
        requests_for(ev("Video Ad Break Completed"))[0]["body"]["eventType"],
        "adBreakComplete"
    );
    assert_eq!(
        requests_for(ev("Video Ad Skipped"))[0]["body"]["eventType"],
        "adSkip"
    );
}

#[test]
fn events_older_than_the_bound_are_rejected_with_a_pointer_to_downloaded() {
    let mut s = settings();
    s.max_event_age_secs = 600;
    // Playback Started is at 09:19:08.836, 11m51s before the settings' now
    match map_with(&s, fixture("Video Playback Started")) {
        Mapped::Invalid { reason } => {
            assert!(
                reason.starts_with("historical: the event is 711s old"),
                "{reason}"
            );
            assert!(reason.contains("/api/v1/downloaded"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Quality Updated at 09:30:04 is fresh
    assert!(matches!(
        map_with(&s, fixture("Video Quality Updated")),
        Mapped::Send(_)
    ));
    // non-video stays unsupported whatever its age
    assert!(matches!(
        map_with(&s, fixture("Order Completed")),
        Mapped::Unsupported { .. }
    ));
}

/// Live content's playhead is the second of the day (partners.md: 0 to 86399), with or without
/// a `position` (which for live streams counts from the viewer's start, not the day's).
#[test]
fn live_content_uses_the_second_of_the_day_as_its_playhead() {
    for props in [
        json!({"session_id": "s1", "livestream": true}),
        json!({"session_id": "s1", "livestream": true, "position": 30}),
    ] {
        let v = json!({"type": "track", "event": "Video Content Playing", "userId": "u1",
            "messageId": "m1", "timestamp": "2026-03-14T09:30:05Z", "properties": props});
        let r = requests_for(v);
        assert_eq!(
            r[0]["body"]["playerTime"]["playhead"],
            json!(9.0 * 3600.0 + 30.0 * 60.0 + 5.0)
        );
    }
}

#[test]
fn location_header_gives_the_sid() {
    let mut h = http::HeaderMap::new();
    h.insert("location", "/api/v1/sessions/abc-123".parse().unwrap());
    let r = PartnerResponse {
        status: 201,
        headers: h,
        body: Default::default(),
    };
    assert_eq!(sid_from_location(&r).as_deref(), Some("abc-123"));
    let mut h = http::HeaderMap::new();
    h.insert("location", "/elsewhere".parse().unwrap());
    let r = PartnerResponse {
        status: 201,
        headers: h,
        body: Default::default(),
    };
    assert_eq!(sid_from_location(&r), None);
}

#[test]
fn settings_are_checked() {
    let err = parse_settings::<AdobeMediaSettings>(json!({"endpoint": "x"})).unwrap_err();
    assert_eq!(err.key, "tracking_server");
    let err = parse_settings::<AdobeMediaSettings>(json!({"endpoint": "not a url",
        "tracking_server": "t", "report_suite": "r", "marketing_cloud_org_id": "o"}))
    .unwrap_err();
    assert_eq!(err.key, "endpoint");
    let err = parse_settings::<AdobeMediaSettings>(json!({"endpoint": "http://h",
        "tracking_server": "t", "report_suite": "r", "marketing_cloud_org_id": "o",
        "now": "yesterday"}))
    .unwrap_err();
    assert_eq!(err.key, "now");
    let ok: AdobeMediaSettings = parse_settings(json!({"endpoint": "http://h",
        "tracking_server": "t", "report_suite": "r", "marketing_cloud_org_id": "o"}))
    .expect("defaults");
    assert_eq!(
        (ok.max_event_age_secs, ok.player_name.as_str()),
        (600, "unknown")
    );
}
