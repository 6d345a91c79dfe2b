//! Every destination by slug: how to configure it from JSON settings and how to start its mock
//! partner. `destkit` looks destinations up here.
//!
//! To add a destination: a `pub const ENTRY: Entry` in its module and one line in [`ALL`].

use destination_kit::{DynDestination, SettingsError};
use futures::future::BoxFuture;
use spec_tests::mock::{MockPartner, Recording};
use std::sync::Arc;

/// Parse and validate settings JSON, optionally replacing the base URL, into a destination.
pub type ConfigureFn =
    fn(serde_json::Value, Option<&str>) -> Result<Arc<dyn DynDestination>, SettingsError>;

/// One destination in the registry.
#[derive(Clone, Copy)]
pub struct Entry {
    /// Slug (**contract**: `webhook`, `ga4`, `amplitude`, …).
    pub slug: &'static str,
    /// Display name (also the `integrations` key).
    pub name: &'static str,
    /// Parse and validate settings JSON, optionally replacing the base URL (`--endpoint`).
    pub configure: ConfigureFn,
    /// Start the destination's mock partner on 127.0.0.1 (with settings pointing at it),
    /// keeping what it receives or not ([`Recording::Off`] for a partner that takes a real
    /// stream, such as `destkit deliver`'s embedded one).
    pub start_mock: fn(Recording) -> BoxFuture<'static, MockPartner>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("slug", &self.slug)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Every destination, one line each.
pub static ALL: &[Entry] = &[
    crate::webhook::ENTRY,
    crate::ga4::ENTRY,
    crate::mixpanel::ENTRY,
    crate::amplitude::ENTRY,
    crate::braze::ENTRY,
    crate::intercom::ENTRY,
    crate::adobe_media::ENTRY,
];

/// Every destination.
pub fn all() -> &'static [Entry] {
    ALL
}

/// The destination with this slug.
pub fn find(slug: &str) -> Option<&'static Entry> {
    ALL.iter().find(|e| e.slug == slug)
}

/// The slugs, comma-separated (for error messages).
pub fn slugs() -> String {
    ALL.iter().map(|e| e.slug).collect::<Vec<_>>().join(", ")
}
