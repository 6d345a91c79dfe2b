//! Video: the playback, content and ad property groups the spec's objects describe, plus
//! Video Quality Updated.
//!
//! The ten playback events carry a [`Playback`], the three content events a [`Content`], the
//! three ad events an [`Ad`]. Positions and lengths are whole seconds (`i64`); `total_length` is
//! absent for live streams. On Video Playback Started the asset and pod ids are arrays
//! (`content_asset_ids`, `content_pod_ids`, array-valued `ad_asset_id`/`ad_pod_id`); later
//! events send the single id playing now.

use super::read::{FromProp, Path, props, push_err};
use crate::error::FieldError;
use serde_json::Value;

/// A string or a list of strings (`ad_asset_id` is an array on Video Playback Started, a single
/// id on later events).
#[derive(Debug, Clone, PartialEq)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The single value, or the first of the list.
    pub fn first(&self) -> Option<&str> {
        match self {
            OneOrMany::One(s) => Some(s),
            OneOrMany::Many(v) => v.first().map(String::as_str),
        }
    }
    /// Every value.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let (one, many) = match self {
            OneOrMany::One(s) => (Some(s.as_str()), &[][..]),
            OneOrMany::Many(v) => (None, v.as_slice()),
        };
        one.into_iter().chain(many.iter().map(String::as_str))
    }
}

impl FromProp for OneOrMany {
    fn from_prop(v: &Value, path: &Path<'_>, errs: &mut Vec<FieldError>) -> Option<Self> {
        match v {
            Value::String(_) | Value::Number(_) => {
                String::from_prop(v, path, errs).map(OneOrMany::One)
            }
            Value::Array(_) => Vec::<String>::from_prop(v, path, errs).map(OneOrMany::Many),
            other => {
                push_err(errs, path, "a string or an array of strings", other);
                None
            }
        }
    }
}

impl super::read::FromTree for OneOrMany {
    fn from_tree(v: crate::json::Json<'_>) -> Option<Self> {
        use crate::json::Kind;
        match v.kind() {
            Kind::String | Kind::Number => String::from_tree(v).map(OneOrMany::One),
            Kind::Array => Vec::<String>::from_tree(v).map(OneOrMany::Many),
            _ => None,
        }
    }
}

props! {
    /// The playback group: the properties of every `Video Playback …` event.
    pub struct Playback {
        /// `session_id`: the player session, shared by its playback, content and ad events.
        pub session_id: Option<String> = "session_id",
        /// `content_asset_id`: the content asset playing now (not on Playback Started).
        pub content_asset_id: Option<String> = "content_asset_id",
        /// `content_asset_ids`: every content asset queued (Playback Started only).
        pub content_asset_ids: Vec<String> = "content_asset_ids",
        /// `content_pod_id`: the content pod playing now (not on Playback Started).
        pub content_pod_id: Option<String> = "content_pod_id",
        /// `content_pod_ids`: every content pod queued (Playback Started only).
        pub content_pod_ids: Vec<String> = "content_pod_ids",
        /// `ad_asset_id`: the ad asset playing now; a list on Playback Started.
        pub ad_asset_id: Option<OneOrMany> = "ad_asset_id",
        /// `ad_pod_id`: the ad pod playing now; a list on Playback Started.
        pub ad_pod_id: Option<OneOrMany> = "ad_pod_id",
        /// `ad_type`: `pre-roll`, `mid-roll` or `post-roll` (the spec's Playback Started
        /// example sends a list).
        pub ad_type: Option<OneOrMany> = "ad_type",
        /// `position`: playhead seconds, ads included.
        pub position: Option<i64> = "position",
        /// `total_length`: session seconds including ads; absent or null when live.
        pub total_length: Option<i64> = "total_length",
        /// `bitrate` in kbps.
        pub bitrate: Option<i64> = "bitrate",
        /// `framerate`: average frames per second.
        pub framerate: Option<f64> = "framerate",
        /// `video_player`: the player name (youtube, vimeo…).
        pub video_player: Option<String> = "video_player",
        /// `sound`: volume 0 (mute) to 100.
        pub sound: Option<i64> = "sound",
        /// `full_screen`.
        pub full_screen: Option<bool> = "full_screen",
        /// `ad_enabled`: false when an ad blocker is active.
        pub ad_enabled: Option<bool> = "ad_enabled",
        /// `quality` label (hd1080, 480p…).
        pub quality: Option<String> = "quality",
        /// `method`: why playback was interrupted (Playback Interrupted only).
        pub method: Option<String> = "method",
        /// `livestream`.
        pub livestream: Option<bool> = "livestream",
        /// `seek_position`: the seconds sought to (Playback Seek Started only).
        pub seek_position: Option<i64> = "seek_position",
    }
}

props! {
    /// The content group: the properties of the `Video Content …` events (and an ad's nested
    /// `content`).
    pub struct Content {
        /// `session_id`.
        pub session_id: Option<String> = "session_id",
        /// `asset_id`: the content asset.
        pub asset_id: Option<String> = "asset_id",
        /// `pod_id`: the content pod.
        pub pod_id: Option<String> = "pod_id",
        /// `title`.
        pub title: Option<String> = "title",
        /// `description`.
        pub description: Option<String> = "description",
        /// `keywords`.
        pub keywords: Vec<String> = "keywords",
        /// `season` (a string in the spec; a number is read as its text).
        pub season: Option<String> = "season",
        /// `episode` (a string in the spec; a number is read as its text).
        pub episode: Option<String> = "episode",
        /// `genre`.
        pub genre: Option<String> = "genre",
        /// `program`: the show.
        pub program: Option<String> = "program",
        /// `publisher`.
        pub publisher: Option<String> = "publisher",
        /// `position`: playhead seconds within the content, ads excluded.
        pub position: Option<i64> = "position",
        /// `total_length`: content seconds, ads excluded; absent or null when live.
        pub total_length: Option<i64> = "total_length",
        /// `channel`: the network airing it.
        pub channel: Option<String> = "channel",
        /// `full_episode`.
        pub full_episode: Option<bool> = "full_episode",
        /// `livestream`.
        pub livestream: Option<bool> = "livestream",
        /// `airdate`: the original air date, ISO-8601 as sent (a date alone is common).
        pub airdate: Option<String> = "airdate",
        /// `bitrate` in kbps.
        pub bitrate: Option<i64> = "bitrate",
        /// `framerate`: frames per second.
        pub framerate: Option<f64> = "framerate",
    }
}

props! {
    /// The ad group: the properties of the `Video Ad …` events.
    pub struct Ad {
        /// `session_id`.
        pub session_id: Option<String> = "session_id",
        /// `asset_id`: the ad asset.
        pub asset_id: Option<String> = "asset_id",
        /// `pod_id`: the ad pod (break).
        pub pod_id: Option<String> = "pod_id",
        /// `pod_position`: the ad's place in its pod.
        pub pod_position: Option<i64> = "pod_position",
        /// `pod_length`: how many ads the pod has.
        pub pod_length: Option<i64> = "pod_length",
        /// `type`: `pre-roll`, `mid-roll` or `post-roll`.
        pub ad_type: Option<String> = "type",
        /// `title`.
        pub title: Option<String> = "title",
        /// `publisher`: who made the ad.
        pub publisher: Option<String> = "publisher",
        /// `position`: playhead seconds within the ad.
        pub position: Option<i64> = "position",
        /// `total_length`: ad seconds.
        pub total_length: Option<i64> = "total_length",
        /// `load_type`: `linear` (same for everyone) or `dynamic` (per viewer).
        pub load_type: Option<String> = "load_type",
        /// `content`: the content the ad runs in, nested for destinations that need it.
        pub content: Option<Box<Content>> = "content",
        /// `quartile`: 1–3, the quartile reached (Ad Playing only).
        pub quartile: Option<i64> = "quartile",
    }
}

props! {
    /// Video Quality Updated.
    pub struct QualityUpdated {
        /// `bitrate` in kbps.
        pub bitrate: Option<i64> = "bitrate",
        /// `framerate`: frames per second.
        pub framerate: Option<f64> = "framerate",
        /// `startupTime` (camelCase in the spec), seconds.
        pub startup_time: Option<f64> = "startupTime",
        /// `droppedFrames` (camelCase in the spec).
        pub dropped_frames: Option<i64> = "droppedFrames",
    }
}
