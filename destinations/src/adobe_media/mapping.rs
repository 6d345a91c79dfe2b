//! Adobe mapping: one Video event → one or two Media Collection events on the route of its
//! Segment session.
//!
//! A payload is an envelope `{"event": <Media Collection event>, "start": <sessionStart>?}`:
//! `event` is the body sent; `start` is the sessionStart the send hook uses when the session has
//! no Adobe session yet and its Playback Started was never seen (built from the event's own
//! properties and the settings). [`super::request::build`] unwraps `event`.

use super::settings::AdobeMediaSettings;
use chrono::Timelike;
use destination_kit::event::lenient_f64;
use destination_kit::{CallType, Event, Mapped, Payload};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The reason every non-video event is unsupported.
pub const ONLY_VIDEO: &str = "Adobe Media Collection takes only video events";

/// How a specced (or Segment-Adobe) video event maps: the Media Collection event types sent.
pub fn event_types(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        "Video Playback Started" => &["sessionStart"],
        "Video Content Started" => &["chapterStart", "play"],
        "Video Content Playing" | "Video Ad Playing" => &["ping"],
        "Video Content Completed" => &["chapterComplete"],
        "Video Playback Paused" | "Video Playback Seek Started" | "Video Playback Interrupted" => {
            &["pauseStart"]
        }
        "Video Playback Resumed"
        | "Video Playback Seek Completed"
        | "Video Playback Buffer Completed" => &["play"],
        "Video Playback Buffer Started" => &["bufferStart"],
        "Video Ad Break Started" => &["adBreakStart"],
        "Video Ad Break Completed" => &["adBreakComplete"],
        "Video Ad Started" => &["adStart"],
        "Video Ad Completed" => &["adComplete"],
        "Video Ad Skipped" => &["adSkip"],
        "Video Quality Updated" => &["bitrateChange"],
        "Video Playback Completed" => &["sessionComplete"],
        "Video Playback Exited" => &["sessionEnd"],
        _ => return None,
    })
}

/// A param value: borrowed from the event where possible.
#[derive(Debug, Clone)]
pub(crate) enum PVal<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Int(i64),
}

impl Serialize for PVal<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PVal::Str(v) => s.serialize_str(v),
            PVal::Int(i) => s.serialize_i64(*i),
            PVal::Num(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => s.serialize_i64(*n as i64),
            PVal::Num(n) => s.serialize_f64(*n),
        }
    }
}

/// An ordered map of params (`media.id`, …), `qoeData` or `customMetadata`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params<'a>(Vec<(Cow<'a, str>, PVal<'a>)>);

impl<'a> Params<'a> {
    fn put(&mut self, k: &'static str, v: PVal<'a>) {
        self.0.push((Cow::Borrowed(k), v));
    }
    fn put_opt(&mut self, k: &'static str, v: Option<PVal<'a>>) {
        if let Some(v) = v {
            self.put(k, v);
        }
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Params<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct PlayerTime {
    pub playhead: f64,
    pub ts: i64,
}

/// One Media Collection event (`POST /api/v1/sessions` or `…/{sid}/events` body).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct MediaEvent<'a> {
    #[serde(rename = "playerTime")]
    pub player_time: PlayerTime,
    #[serde(rename = "eventType")]
    pub event_type: &'static str,
    #[serde(skip_serializing_if = "Params::is_empty")]
    pub params: Params<'a>,
    #[serde(rename = "qoeData", skip_serializing_if = "Params::is_empty")]
    pub qoe_data: Params<'a>,
    #[serde(rename = "customMetadata", skip_serializing_if = "Params::is_empty")]
    pub custom_metadata: Params<'a>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    event: MediaEvent<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    start: Option<MediaEvent<'a>>,
    /// The user's session key (`user:<id>`) when the event's own session is its `session_id`:
    /// the send hook then knows the user's current playback, for the user's events that carry
    /// no `session_id` (the spec's Video Quality Updated has none).
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
}

fn text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) if !s.is_empty() => Some(Cow::Borrowed(s.as_str())),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                })
                .collect();
            (!parts.is_empty()).then(|| Cow::Owned(parts.join(",")))
        }
        _ => None,
    }
}

struct Props<'a>(&'a Map<String, Value>);

impl<'a> Props<'a> {
    fn s(&self, k: &str) -> Option<Cow<'a, str>> {
        self.0.get(k).and_then(text)
    }
    fn sv(&self, k: &str) -> Option<PVal<'a>> {
        self.s(k).map(PVal::Str)
    }
    fn n(&self, k: &str) -> Option<f64> {
        self.0
            .get(k)
            .and_then(lenient_f64)
            .filter(|f| f.is_finite())
    }
    fn first_str(&self, k: &str) -> Option<Cow<'a, str>> {
        match self.0.get(k)? {
            Value::Array(items) => items.first().and_then(text),
            v => text(v),
        }
    }
    fn live(&self) -> bool {
        self.0
            .get("livestream")
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"))
    }
}

/// The Segment session an event belongs to: `properties.session_id`, else one session per
/// user (`user:<userId or anonymousId>`; the send hook sends such an event on the user's
/// current playback when there is one open).
pub fn session_key(ev: &Event<'_>) -> String {
    match ev.props().get("session_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => user_key(ev),
    }
}

/// `user:<userId or anonymousId>`.
fn user_key(ev: &Event<'_>) -> String {
    format!("user:{}", ev.user_or_anonymous_id().unwrap_or("unknown"))
}

/// The sessionStart of an event's session, from its properties and the settings.
fn session_start<'a>(
    s: &'a AdobeMediaSettings,
    p: &Props<'a>,
    key: &str,
    time: PlayerTime,
) -> MediaEvent<'a> {
    let live = p.live();
    let mut params = Params::default();
    params.put(
        "analytics.trackingServer",
        PVal::Str(Cow::Borrowed(&s.tracking_server)),
    );
    params.put(
        "analytics.reportSuite",
        PVal::Str(Cow::Borrowed(&s.report_suite)),
    );
    params.put(
        "visitor.marketingCloudOrgId",
        PVal::Str(Cow::Borrowed(&s.marketing_cloud_org_id)),
    );
    let id = p
        .first_str("content_asset_id")
        .or_else(|| p.first_str("content_asset_ids"))
        .or_else(|| p.s("asset_id"))
        .unwrap_or_else(|| Cow::Owned(key.to_string()));
    params.put("media.id", PVal::Str(id));
    params.put_opt("media.name", p.sv("title"));
    params.put(
        "media.length",
        PVal::Num(
            p.n("total_length")
                .unwrap_or(if live { 86_400.0 } else { 0.0 }),
        ),
    );
    params.put(
        "media.contentType",
        PVal::Str(Cow::Borrowed(if live { "Live" } else { "VOD" })),
    );
    params.put(
        "media.playerName",
        PVal::Str(
            p.s("video_player")
                .unwrap_or(Cow::Borrowed(s.player_name.as_str())),
        ),
    );
    params.put(
        "media.channel",
        PVal::Str(p.s("channel").unwrap_or(Cow::Borrowed(s.channel.as_str()))),
    );
    // standard video metadata (Segment's Adobe doc)
    params.put_opt("media.show", p.sv("program"));
    params.put_opt("media.season", p.sv("season"));
    params.put_opt("media.episode", p.sv("episode"));
    params.put_opt("media.genre", p.sv("genre"));
    params.put_opt("media.network", p.sv("channel"));
    params.put_opt("media.firstAirDate", p.sv("airdate"));
    params.put_opt("media.originator", p.sv("publisher"));
    params.put_opt("media.assetId", p.sv("asset_id"));
    MediaEvent {
        player_time: time,
        event_type: "sessionStart",
        params,
        qoe_data: Params::default(),
        custom_metadata: Params::default(),
    }
}

fn event_of<'a>(event_type: &'static str, time: PlayerTime) -> MediaEvent<'a> {
    MediaEvent {
        player_time: time,
        event_type,
        params: Params::default(),
        qoe_data: Params::default(),
        custom_metadata: Params::default(),
    }
}

fn fill<'a>(e: &mut MediaEvent<'a>, s: &'a AdobeMediaSettings, p: &Props<'a>, ev: &Event<'a>) {
    match e.event_type {
        "chapterStart" => {
            let idx = p.n("chapter_index").or_else(|| p.n("pod_position"));
            e.params.put(
                "media.chapter.index",
                PVal::Int(idx.map(|f| f as i64).unwrap_or(1).max(1)),
            );
            e.params.put(
                "media.chapter.offset",
                PVal::Num(p.n("position").unwrap_or(0.0)),
            );
            e.params.put(
                "media.chapter.length",
                PVal::Num(p.n("total_length").unwrap_or(0.0)),
            );
            e.params
                .put_opt("media.chapter.friendlyName", p.sv("title"));
            for key in [
                "asset_id",
                "pod_id",
                "program",
                "season",
                "episode",
                "genre",
                "publisher",
                "channel",
                "airdate",
                "keywords",
                "full_episode",
            ] {
                if let Some(v) = p.s(key) {
                    e.custom_metadata.0.push((Cow::Borrowed(key), PVal::Str(v)));
                }
            }
        }
        "adBreakStart" => {
            e.params.put(
                "media.ad.podIndex",
                PVal::Int(p.n("pod_index").map(|f| f as i64).unwrap_or(0)),
            );
            e.params.put(
                "media.ad.podSecond",
                PVal::Num(p.n("position").unwrap_or(0.0)),
            );
            e.params
                .put_opt("media.ad.podFriendlyName", p.sv("pod_id").or(p.sv("title")));
        }
        "adStart" => {
            let id = p
                .s("asset_id")
                .or_else(|| p.first_str("ad_asset_id"))
                .unwrap_or(Cow::Borrowed(ev.message_id()));
            e.params.put("media.ad.id", PVal::Str(id));
            e.params.put(
                "media.ad.length",
                PVal::Num(p.n("total_length").unwrap_or(0.0)),
            );
            e.params.put(
                "media.ad.podPosition",
                PVal::Int(p.n("pod_position").map(|f| f as i64).unwrap_or(1).max(1)),
            );
            e.params.put(
                "media.ad.playerName",
                PVal::Str(
                    p.s("video_player")
                        .unwrap_or(Cow::Borrowed(s.player_name.as_str())),
                ),
            );
            e.params.put_opt("media.ad.name", p.sv("title"));
            e.params.put_opt("media.ad.advertiser", p.sv("publisher"));
            for key in ["type", "load_type", "pod_id"] {
                if let Some(v) = p.s(key) {
                    e.custom_metadata.0.push((Cow::Borrowed(key), PVal::Str(v)));
                }
            }
        }
        "bitrateChange" => {
            let q = &mut e.qoe_data;
            q.put_opt("media.qoe.bitrate", p.n("bitrate").map(PVal::Num));
            q.put_opt(
                "media.qoe.droppedFrames",
                p.n("droppedFrames")
                    .or_else(|| p.n("dropped_frames"))
                    .map(|f| PVal::Int(f as i64)),
            );
            q.put_opt("media.qoe.framesPerSecond", p.n("framerate").map(PVal::Num));
            q.put_opt(
                "media.qoe.timeToStart",
                p.n("startupTime")
                    .or_else(|| p.n("startup_time"))
                    .map(PVal::Num),
            );
        }
        _ => {}
    }
}

/// The canonical spec name (v1 aliases resolved) or the track's own name.
fn track_name<'a>(ev: &Event<'a>) -> Option<&'a str> {
    ev.spec_kind()
        .map(|k| k.name)
        .or_else(|| ev.message().event())
}

/// Map one event (see the module docs for the table).
pub fn map_event(s: &AdobeMediaSettings, ev: &Event<'_>) -> Mapped {
    if ev.call() != CallType::Track {
        return Mapped::unsupported(format!(
            "{ONLY_VIDEO}: a {} call has no Media Collection equivalent",
            ev.call().as_str()
        ));
    }
    let name = track_name(ev).unwrap_or_default();
    let Some(types) = event_types(name) else {
        return Mapped::unsupported(format!("{ONLY_VIDEO}; {name:?} is not one"));
    };
    let age = s.now().signed_duration_since(ev.time());
    if age.num_seconds() > s.max_event_age_secs as i64 {
        return Mapped::invalid(format!(
            "historical: the event is {}s old, over the {}s bound of the real-time Media \
             Collection API (sessions close after 10 minutes idle); send whole past sessions to \
             /api/v1/downloaded instead",
            age.num_seconds(),
            s.max_event_age_secs
        ));
    }
    let p = Props(ev.props());
    let live = p.live();
    // live content's playhead is the second of the day (0–86399), whatever position says
    let playhead = if live {
        f64::from(ev.time().num_seconds_from_midnight())
    } else {
        p.n("position").unwrap_or(0.0)
    };
    let ts = ev.timestamp_millis();
    let key = session_key(ev);
    let user = user_key(ev);
    let user = (user != key).then_some(user.as_str());
    let mut out = Vec::with_capacity(types.len());
    for (i, t) in types.iter().enumerate() {
        let time = PlayerTime {
            playhead,
            ts: ts + i as i64,
        };
        let (event, start) = if *t == "sessionStart" {
            (session_start(s, &p, &key, time), None)
        } else {
            let mut e = event_of(t, time);
            fill(&mut e, s, &p, ev);
            let st = session_start(
                s,
                &p,
                &key,
                PlayerTime {
                    playhead,
                    ts: ts - 1,
                },
            );
            (e, Some(st))
        };
        out.push(Payload::json(key.clone(), &Envelope { event, start, user }));
    }
    Mapped::Send(out)
}
