//! Specced semantic events: Ecommerce v2 (28), Video (17), Live Chat (4) and Email (6).
//!
//! A track call whose `event` is a spec event name (exactly, case included) or one of the
//! Ecommerce v1 aliases the catalog lists is *recognised*: [`SpecEvent::from_message`] gives its
//! [`SpecEvent`], one variant per event, each carrying typed properties. [`ALL`] lists the 55
//! catalog entries ([`SpecEventKind`]: family, name, v1 aliases) in catalog order, so the
//! conformance suite and coverage matrices are computed from it; [`Family::events`] gives one
//! family's slice of it.
//!
//! Typed reads are lenient where clients are sloppy and strict where it matters:
//! - a number may come as a numeric string (`"12.50"` reads as `12.5`); an integer as `3.0`;
//!   a string id as a number (`1234` reads as `"1234"`); a boolean as `"true"`/`"false"`;
//! - an explicit `null` is the same as an absent property; an absent list is empty;
//! - anything else that cannot be read is a [`FieldError`] naming the property path exactly,
//!   `properties.products[2].price: expected a number, got "abc"`, and
//!   [`SpecEvent::from_message`] returns every such error (so does
//!   [`Message::validate`](crate::event::Message::validate)).
//!
//! **Untyped extras.** The typed structs hold only the spec's properties; the message keeps
//! everything else. Read extras through the message ([`Message::properties`]), or list exactly
//! the properties this event does not type with [`SpecEvent::extras`].
//!
//! ```
//! use destination_kit::event::Message;
//! use destination_kit::spec::{Ecommerce, SpecEvent};
//!
//! let msg = Message::from_slice(br#"{"type":"track","event":"Order Completed","userId":"u1",
//!   "messageId":"m1","timestamp":"2026-01-02T03:04:05Z","properties":{"order_id":"o1",
//!   "total":"27.50","currency":"EUR","gift_wrap":true,
//!   "products":[{"product_id":"p1","price":12.5},{"product_id":"p2","price":"7.50","quantity":2}]}}"#).unwrap();
//!
//! match SpecEvent::from_message(&msg) {
//!     Some(Ok(SpecEvent::Ecommerce(Ecommerce::OrderCompleted(o)))) => {
//!         assert_eq!(o.total, Some(27.5));
//!         assert_eq!(o.products[1].price, Some(7.5));
//!         assert_eq!(o.products[1].quantity, Some(2.0));
//!     }
//!     other => panic!("not recognised: {other:?}"),
//! }
//! let spec = SpecEvent::from_message(&msg).unwrap().unwrap();
//! assert_eq!(spec.name(), "Order Completed");
//! let extras: Vec<_> = spec.extras(&msg).map(|(k, _)| k).collect();
//! assert_eq!(extras, ["gift_wrap"]);
//! ```

mod read;

pub mod ecommerce;
pub mod email;
pub mod live_chat;
pub mod video;

pub use ecommerce::{
    CartShared, CartViewed, CheckoutStarted, CheckoutStepCompleted, CheckoutStepViewed,
    CouponApplied, CouponDenied, CouponEntered, CouponRemoved, Filter, OrderCancelled,
    OrderCompleted, OrderRefunded, OrderUpdated, PaymentInfoEntered, Product, ProductAdded,
    ProductAddedToWishlist, ProductClicked, ProductListFiltered, ProductListViewed, ProductRemoved,
    ProductRemovedFromWishlist, ProductReviewed, ProductShared, ProductViewed, ProductsSearched,
    PromotionClicked, PromotionViewed, Query, Sort, WishlistProductAddedToCart,
};
pub use email::{
    EmailBounced, EmailDelivered, EmailLinkClicked, EmailMarkedAsSpam, EmailOpened, Unsubscribed,
};
pub use live_chat::ChatProperties;
pub use video::{Ad, Content, OneOrMany, Playback, QualityUpdated};

use crate::error::FieldError;
use crate::event::{CallType, Message};
use read::Path;
use serde_json::{Map, Value};
use std::fmt;

/// A spec family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Ecommerce v2.
    Ecommerce,
    /// Video.
    Video,
    /// Live Chat.
    LiveChat,
    /// Email.
    Email,
}

impl Family {
    /// All four families.
    pub const ALL: [Family; 4] = [
        Family::Ecommerce,
        Family::Video,
        Family::LiveChat,
        Family::Email,
    ];

    /// `"ecommerce"`, `"video"`, `"live_chat"`, `"email"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ecommerce => "ecommerce",
            Family::Video => "video",
            Family::LiveChat => "live_chat",
            Family::Email => "email",
        }
    }

    /// The family's key under `specs` in the catalog (`"ecommerce_v2"`, `"video"`, …).
    pub fn catalog_key(self) -> &'static str {
        match self {
            Family::Ecommerce => "ecommerce_v2",
            other => other.as_str(),
        }
    }

    /// Parse [`Family::as_str`] or [`Family::catalog_key`].
    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL
            .into_iter()
            .find(|f| f.as_str() == s || f.catalog_key() == s)
    }

    /// The family's events, in catalog order: a contiguous slice of [`ALL`].
    ///
    /// ```
    /// use destination_kit::spec::Family;
    /// assert_eq!(Family::Video.events().len(), 17);
    /// assert_eq!(Family::Email.events()[0].name, "Email Bounced");
    /// ```
    pub fn events(self) -> &'static [SpecEventKind] {
        let start = ALL
            .iter()
            .position(|k| k.family == self)
            .unwrap_or(ALL.len());
        let len = ALL[start..].iter().take_while(|k| k.family == self).count();
        &ALL[start..start + len]
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the catalog: a specced event's family, exact name and v1 aliases.
///
/// Serialises as `{"family": "ecommerce", "event": "Order Completed"}` (the shape `destkit
/// inspect` prints).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SpecEventKind {
    /// Its family.
    pub family: Family,
    /// The exact spec name (`"Order Completed"`).
    pub name: &'static str,
    /// Ecommerce v1 names that also recognise it.
    pub v1_aliases: &'static [&'static str],
}

impl SpecEventKind {
    /// Whether a track `event` name is this event (its exact name or a v1 alias).
    pub fn matches(&self, event_name: &str) -> bool {
        self.name == event_name || self.v1_aliases.contains(&event_name)
    }
}

impl fmt::Display for SpecEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl serde::Serialize for SpecEventKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("family", &self.family)?;
        m.serialize_entry("event", self.name)?;
        m.end()
    }
}

/// The catalog entry for a track event name (exact spec name or v1 alias).
///
/// ```
/// use destination_kit::spec::{recognise, Family};
/// assert_eq!(recognise("Completed Order").unwrap().name, "Order Completed");
/// assert_eq!(recognise("Video Ad Playing").unwrap().family, Family::Video);
/// assert!(recognise("order completed").is_none()); // names are exact
/// ```
pub fn recognise(event_name: &str) -> Option<&'static SpecEventKind> {
    recognise_index(event_name).map(|i| &ALL[i])
}

/// Generates [`ALL`], the name lookup and the four family enums from one table.
///
/// Each row: index in `ALL`, variant, properties type, exact name, v1 aliases. Rows are in
/// catalog order; the index is checked against `ALL` by a test.
macro_rules! catalog {
    (
        $(
            $(#[$fm:meta])*
            $fam:ident {
                $( $idx:literal $var:ident($ty:ty) $name:literal [$($alias:literal),*] ),* $(,)?
            }
        )*
    ) => {
        /// Every specced event (55), in catalog order: Ecommerce v2, Video, Live Chat, Email.
        pub static ALL: &[SpecEventKind] = &[
            $( $( SpecEventKind {
                family: Family::$fam,
                name: $name,
                v1_aliases: &[$($alias),*],
            }, )* )*
        ];

        fn recognise_index(name: &str) -> Option<usize> {
            match name {
                $( $( $name $(| $alias)* => Some($idx), )* )*
                _ => None,
            }
        }

        $(
            $(#[$fm])*
            #[derive(Debug, Clone, PartialEq)]
            pub enum $fam {
                $(
                    #[doc = concat!("`", $name, "`.")]
                    $var($ty),
                )*
            }

            impl $fam {
                /// Its catalog entry.
                pub fn kind(&self) -> &'static SpecEventKind {
                    match self {
                        $( $fam::$var(_) => &ALL[$idx], )*
                    }
                }

                /// Whether `key` is a property the event's struct types.
                pub fn is_typed_key(&self, key: &str) -> bool {
                    match self {
                        $( $fam::$var(_) => <$ty>::is_typed_key(key), )*
                    }
                }

                /// From the tree: `None` when `idx` is not in this family, `Some(None)` when
                /// the exact reader must read it.
                fn read_tree(idx: usize, props: Option<crate::json::Obj<'_>>) -> Option<Option<$fam>> {
                    match idx {
                        $( $idx => Some(<$ty>::read_tree(props).map($fam::$var)), )*
                        _ => None,
                    }
                }

                /// Whether [`Self::read_tree`] reads `props` (building nothing): `None` when
                /// `idx` is not in this family.
                fn tree_check(idx: usize, props: Option<crate::json::Obj<'_>>) -> Option<bool> {
                    match idx {
                        $( $idx => Some(<$ty>::tree_check(props)), )*
                        _ => None,
                    }
                }

                fn read(
                    idx: usize,
                    props: Option<&Map<String, Value>>,
                    errs: &mut Vec<FieldError>,
                ) -> Option<$fam> {
                    let root = Path::Root("properties");
                    match idx {
                        $( $idx => Some($fam::$var(<$ty>::read(props, &root, errs))), )*
                        _ => None,
                    }
                }
            }
        )*
    };
}

catalog! {
    /// An Ecommerce v2 event, with its typed properties.
    Ecommerce {
        0 ProductsSearched(ProductsSearched) "Products Searched" [],
        1 ProductListViewed(ProductListViewed) "Product List Viewed" ["Viewed Product Category"],
        2 ProductListFiltered(ProductListFiltered) "Product List Filtered" [],
        3 PromotionViewed(PromotionViewed) "Promotion Viewed" ["Viewed Promotion"],
        4 PromotionClicked(PromotionClicked) "Promotion Clicked" ["Clicked Promotion"],
        5 ProductClicked(ProductClicked) "Product Clicked" ["Clicked Product"],
        6 ProductViewed(ProductViewed) "Product Viewed" ["Viewed Product"],
        7 ProductAdded(ProductAdded) "Product Added" ["Added Product"],
        8 ProductRemoved(ProductRemoved) "Product Removed" ["Removed Product"],
        9 CartViewed(CartViewed) "Cart Viewed" [],
        10 CheckoutStarted(CheckoutStarted) "Checkout Started" ["Started Order"],
        11 CheckoutStepViewed(CheckoutStepViewed) "Checkout Step Viewed" ["Viewed Checkout Step"],
        12 CheckoutStepCompleted(CheckoutStepCompleted) "Checkout Step Completed" ["Completed Checkout Step"],
        13 PaymentInfoEntered(PaymentInfoEntered) "Payment Info Entered" [],
        14 OrderUpdated(OrderUpdated) "Order Updated" ["Updated Order"],
        15 OrderCompleted(OrderCompleted) "Order Completed" ["Completed Order"],
        16 OrderRefunded(OrderRefunded) "Order Refunded" [],
        17 OrderCancelled(OrderCancelled) "Order Cancelled" [],
        18 CouponEntered(CouponEntered) "Coupon Entered" [],
        19 CouponApplied(CouponApplied) "Coupon Applied" [],
        20 CouponDenied(CouponDenied) "Coupon Denied" [],
        21 CouponRemoved(CouponRemoved) "Coupon Removed" [],
        22 ProductAddedToWishlist(ProductAddedToWishlist) "Product Added to Wishlist" [],
        23 ProductRemovedFromWishlist(ProductRemovedFromWishlist) "Product Removed from Wishlist" [],
        24 WishlistProductAddedToCart(WishlistProductAddedToCart) "Wishlist Product Added to Cart" [],
        25 ProductShared(ProductShared) "Product Shared" [],
        26 CartShared(CartShared) "Cart Shared" [],
        27 ProductReviewed(ProductReviewed) "Product Reviewed" [],
    }
    /// A Video event. The playback events carry a [`Playback`], the content events a
    /// [`Content`], the ad events an [`Ad`] (the spec's shared objects).
    Video {
        28 PlaybackStarted(Playback) "Video Playback Started" [],
        29 PlaybackPaused(Playback) "Video Playback Paused" [],
        30 PlaybackInterrupted(Playback) "Video Playback Interrupted" [],
        31 PlaybackBufferStarted(Playback) "Video Playback Buffer Started" [],
        32 PlaybackBufferCompleted(Playback) "Video Playback Buffer Completed" [],
        33 PlaybackSeekStarted(Playback) "Video Playback Seek Started" [],
        34 PlaybackSeekCompleted(Playback) "Video Playback Seek Completed" [],
        35 PlaybackResumed(Playback) "Video Playback Resumed" [],
        36 PlaybackCompleted(Playback) "Video Playback Completed" [],
        37 PlaybackExited(Playback) "Video Playback Exited" [],
        38 ContentStarted(Content) "Video Content Started" [],
        39 ContentPlaying(Content) "Video Content Playing" [],
        40 ContentCompleted(Content) "Video Content Completed" [],
        41 AdStarted(Ad) "Video Ad Started" [],
        42 AdPlaying(Ad) "Video Ad Playing" [],
        43 AdCompleted(Ad) "Video Ad Completed" [],
        44 QualityUpdated(QualityUpdated) "Video Quality Updated" [],
    }
    /// A Live Chat event (all four share [`ChatProperties`]).
    LiveChat {
        45 ConversationStarted(ChatProperties) "Live Chat Conversation Started" [],
        46 ConversationEnded(ChatProperties) "Live Chat Conversation Ended" [],
        47 MessageSent(ChatProperties) "Live Chat Message Sent" [],
        48 MessageReceived(ChatProperties) "Live Chat Message Received" [],
    }
    /// An Email event.
    Email {
        49 Bounced(EmailBounced) "Email Bounced" [],
        50 Delivered(EmailDelivered) "Email Delivered" [],
        51 LinkClicked(EmailLinkClicked) "Email Link Clicked" [],
        52 MarkedAsSpam(EmailMarkedAsSpam) "Email Marked as Spam" [],
        53 Opened(EmailOpened) "Email Opened" [],
        54 Unsubscribed(Unsubscribed) "Unsubscribed" [],
    }
}

/// The catalog index of a track message's specced event.
fn track_index(msg: &Message) -> Option<usize> {
    if msg.call() != CallType::Track {
        return None;
    }
    recognise_index(msg.event()?)
}

/// `properties` on the message's tree (`Some(None)`: a tree without them), `None` without a tree.
fn tree_properties(msg: &Message) -> Option<Option<crate::json::Obj<'_>>> {
    msg.tree()?;
    Some(msg.tree_field("properties").and_then(|p| p.as_object()))
}

/// [`SpecEvent::check_message`]'s answer.
pub(crate) enum Checked {
    /// A specced event whose typed properties read cleanly from the tree: building it can wait
    /// until a destination asks ([`crate::destination::Event::spec`]).
    Reads(&'static SpecEventKind),
    /// What [`SpecEvent::from_message`] gives, read now (boxed: a spec event is ~400 bytes,
    /// and most answers are the other variant).
    Read(Option<Result<Box<SpecEvent>, Vec<FieldError>>>),
}

/// A recognised specced event with typed properties.
#[derive(Debug, Clone, PartialEq)]
pub enum SpecEvent {
    /// Ecommerce v2.
    Ecommerce(Ecommerce),
    /// Video.
    Video(Video),
    /// Live Chat.
    LiveChat(LiveChat),
    /// Email.
    Email(Email),
}

impl SpecEvent {
    /// Recognise a track message: `None` when it is not a track call of a specced event,
    /// `Some(Err)` with every problem when it is but typed properties cannot be read.
    ///
    /// A `properties` that is not an object reads as empty here (that is
    /// [`Message::validate`]'s error to report).
    pub fn from_message(msg: &Message) -> Option<Result<SpecEvent, Vec<FieldError>>> {
        let idx = track_index(msg)?;
        // from the tree when the message has one; the exact reader when that gives up
        if let Some(props) = tree_properties(msg)
            && let Some(ev) = Self::read_index_tree(idx, props)
        {
            return Some(Ok(ev));
        }
        Some(Self::read_index(idx, msg.properties()))
    }

    /// Read the typed properties of `kind` from a `properties` object (`None` = no properties).
    /// Error paths start at `properties`. A `kind` that is not in [`ALL`] gives one error at
    /// `event`.
    pub fn from_properties(
        kind: &SpecEventKind,
        properties: Option<&Map<String, Value>>,
    ) -> Result<SpecEvent, Vec<FieldError>> {
        let idx = recognise_index(kind.name).unwrap_or(usize::MAX);
        Self::read_index(idx, properties)
    }

    /// What validation needs to know of a track message without building its typed event:
    /// whether it is a specced event, and when its typed properties read from the tree (so
    /// [`SpecEvent::from_message`] will give `Some(Ok)` whenever it is asked), its catalog
    /// entry. Anything else — no tree, or properties only the exact reader decides — is read
    /// whole, as `from_message` reads it.
    pub(crate) fn check_message(msg: &Message) -> Checked {
        let Some(idx) = track_index(msg) else {
            return Checked::Read(None);
        };
        if let Some(props) = tree_properties(msg)
            && Self::tree_check_index(idx, props)
        {
            return Checked::Reads(&ALL[idx]);
        }
        // the tree reader would give up as the check did: straight to the exact reader
        Checked::Read(Some(Self::read_index(idx, msg.properties()).map(Box::new)))
    }

    fn tree_check_index(idx: usize, props: Option<crate::json::Obj<'_>>) -> bool {
        Ecommerce::tree_check(idx, props)
            .or_else(|| Video::tree_check(idx, props))
            .or_else(|| LiveChat::tree_check(idx, props))
            .or_else(|| Email::tree_check(idx, props))
            .unwrap_or(false)
    }

    fn read_index_tree(idx: usize, props: Option<crate::json::Obj<'_>>) -> Option<SpecEvent> {
        if let Some(e) = Ecommerce::read_tree(idx, props) {
            return e.map(SpecEvent::Ecommerce);
        }
        if let Some(e) = Video::read_tree(idx, props) {
            return e.map(SpecEvent::Video);
        }
        if let Some(e) = LiveChat::read_tree(idx, props) {
            return e.map(SpecEvent::LiveChat);
        }
        Email::read_tree(idx, props)?.map(SpecEvent::Email)
    }

    fn read_index(
        idx: usize,
        props: Option<&Map<String, Value>>,
    ) -> Result<SpecEvent, Vec<FieldError>> {
        let mut errs = Vec::new();
        let ev = Ecommerce::read(idx, props, &mut errs)
            .map(SpecEvent::Ecommerce)
            .or_else(|| Video::read(idx, props, &mut errs).map(SpecEvent::Video))
            .or_else(|| LiveChat::read(idx, props, &mut errs).map(SpecEvent::LiveChat))
            .or_else(|| Email::read(idx, props, &mut errs).map(SpecEvent::Email));
        match ev {
            Some(ev) if errs.is_empty() => Ok(ev),
            Some(_) => Err(errs),
            None => Err(vec![FieldError::new("event", "not a specced event")]),
        }
    }

    /// Its catalog entry.
    pub fn kind(&self) -> &'static SpecEventKind {
        match self {
            SpecEvent::Ecommerce(e) => e.kind(),
            SpecEvent::Video(e) => e.kind(),
            SpecEvent::LiveChat(e) => e.kind(),
            SpecEvent::Email(e) => e.kind(),
        }
    }

    /// Its family.
    pub fn family(&self) -> Family {
        match self {
            SpecEvent::Ecommerce(_) => Family::Ecommerce,
            SpecEvent::Video(_) => Family::Video,
            SpecEvent::LiveChat(_) => Family::LiveChat,
            SpecEvent::Email(_) => Family::Email,
        }
    }

    /// Its exact spec name (`"Order Completed"`, also when it was sent under a v1 alias).
    pub fn name(&self) -> &'static str {
        self.kind().name
    }

    /// Whether `key` is a property this event's struct types.
    pub fn is_typed_key(&self, key: &str) -> bool {
        match self {
            SpecEvent::Ecommerce(e) => e.is_typed_key(key),
            SpecEvent::Video(e) => e.is_typed_key(key),
            SpecEvent::LiveChat(e) => e.is_typed_key(key),
            SpecEvent::Email(e) => e.is_typed_key(key),
        }
    }

    /// The properties of `msg` (the message this event was read from) that this event does not
    /// type: custom properties a destination may pass through.
    pub fn extras<'m>(&self, msg: &'m Message) -> impl Iterator<Item = (&'m str, &'m Value)> {
        msg.properties()
            .into_iter()
            .flatten()
            .filter(move |(k, _)| !self.is_typed_key(k))
            .map(|(k, v)| (k.as_str(), v))
    }
}

impl fmt::Display for SpecEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    mod checked_alike {
        //! Validation's check of the typed properties ([`SpecEvent::check_message`]) answers
        //! exactly when the tree reader reads, so an event whose typed event is built later
        //! gets the one [`SpecEvent::from_message`] gives now.
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn leaf() -> impl Strategy<Value = Value> {
            prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                (-1e6f64..1e6).prop_map(Value::from),
                "[0-9a-z. -]{0,8}".prop_map(Value::from),
                Just(json!("12.50")),
                Just(json!("true")),
            ]
        }

        /// Every key some spec struct types (and a few it does not), so that a case sets a
        /// typed field of its event often enough to tell a wrong check from a right one.
        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                6 => prop::sample::select(vec![
                    "ad_asset_id", "ad_enabled", "ad_pod_id", "ad_type", "affiliation",
                    "agent_id", "agent_name", "agent_username", "airdate", "asset_id", "bitrate",
                    "brand", "campaign_id", "campaign_name", "cart_id", "category", "channel",
                    "checkout_id", "content", "content_asset_id", "content_asset_ids",
                    "content_pod_id", "content_pod_ids", "conversation_duration",
                    "conversation_id", "coupon", "coupon_id", "coupon_name", "creative",
                    "currency", "description", "discount", "droppedFrames", "email_id",
                    "email_subject", "episode", "filters", "framerate", "full_episode",
                    "full_screen", "genre", "image_url", "keywords", "link_id", "link_url",
                    "list_id", "list_name", "livestream", "load_type", "message_body",
                    "message_id", "method", "name", "order_id", "payment_method", "pod_id",
                    "pod_length", "pod_position", "position", "price", "product_id", "products",
                    "program", "promotion_id", "publisher", "quality", "quantity", "quartile",
                    "query", "rating", "reason", "recipient", "revenue", "review_body",
                    "review_id", "season", "seek_position", "session_id", "share_message",
                    "share_via", "shipping", "shipping_method", "sku", "sorts", "sound",
                    "startupTime", "step", "subtotal", "tax", "title", "total", "total_length",
                    "type", "url", "value", "variant", "video_player", "wishlist_id",
                    "wishlist_name",
                ])
                .prop_map(String::from),
                // the lists of nested structs, so their fields are checked often too
                3 => prop::sample::select(vec!["products", "filters", "sorts"])
                    .prop_map(String::from),
                1 => "[a-z_]{1,6}",
            ]
        }

        /// Leaves, lists of leaves, and lists of small objects (products, filters, sorts).
        fn value() -> impl Strategy<Value = Value> {
            let object = prop::collection::btree_map(key(), leaf(), 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect()));
            prop_oneof![
                6 => leaf(),
                1 => prop::collection::vec(leaf(), 0..3).prop_map(Value::from),
                3 => prop::collection::vec(prop_oneof![4 => object, 1 => leaf()], 0..3)
                    .prop_map(Value::from),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2048))]
            #[test]
            fn the_check_answers_as_the_tree_reader_reads(
                idx in 0..ALL.len(),
                props in prop::collection::btree_map(key(), value(), 0..4),
            ) {
                let props: Map<String, Value> = props.into_iter().collect();
                let line = json!({"type": "track", "event": ALL[idx].name, "userId": "u",
                    "messageId": "m", "properties": props}).to_string();
                let msg = Message::from_slice(line.as_bytes()).unwrap();
                let tree = msg.tree_field("properties").and_then(|p| p.as_object());
                let reads = SpecEvent::read_index_tree(idx, tree);
                prop_assert_eq!(SpecEvent::tree_check_index(idx, tree), reads.is_some());
                match SpecEvent::check_message(&msg) {
                    Checked::Reads(kind) => {
                        prop_assert!(std::ptr::eq(kind, &ALL[idx]));
                        let later = SpecEvent::from_message(&msg).unwrap().unwrap();
                        prop_assert_eq!(Some(later), reads);
                    }
                    Checked::Read(now) => {
                        prop_assert!(reads.is_none());
                        prop_assert_eq!(now.map(|r| r.map(|b| *b)), SpecEvent::from_message(&msg));
                    }
                }
            }
        }
    }

    #[test]
    fn catalog_indices_agree_with_the_table() {
        assert_eq!(ALL.len(), 55);
        for (i, k) in ALL.iter().enumerate() {
            assert_eq!(recognise_index(k.name), Some(i), "{}", k.name);
            for a in k.v1_aliases {
                assert_eq!(recognise_index(a), Some(i), "{a}");
            }
            let ev = SpecEvent::from_properties(k, None).unwrap();
            assert_eq!(ev.kind(), k);
            assert_eq!(ev.family(), k.family);
            assert!(std::ptr::eq(ev.kind(), k));
        }
        let counts: Vec<usize> = Family::ALL.iter().map(|f| f.events().len()).collect();
        assert_eq!(counts, [28, 17, 4, 6]);
        let joined: Vec<&SpecEventKind> = Family::ALL.iter().flat_map(|f| f.events()).collect();
        assert!(joined.iter().zip(ALL).all(|(a, b)| std::ptr::eq(*a, b)));
        assert_eq!(joined.len(), ALL.len());
    }

    #[test]
    fn paths_render_exactly() {
        let root = Path::Root("properties");
        let p = Path::Key(&root, "products");
        let i = Path::Index(&p, 2);
        let f = Path::Key(&i, "price");
        assert_eq!(f.to_string(), "properties.products[2].price");
    }
}
