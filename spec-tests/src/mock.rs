//! The mock-partner toolkit: a running wiremock server standing in for a partner API.

use serde_json::Value;

/// A running mock partner and the settings that point a destination at it.
///
/// Built by each destination's `mock` module; used by the conformance suite, by
/// `destkit deliver`'s embedded default and by `destkit mock`.
pub struct MockPartner {
    /// The wiremock server on 127.0.0.1.
    pub server: wiremock::MockServer,
    /// Destination settings (fake credentials, endpoint = this server) as JSON.
    pub settings: Value,
}

impl MockPartner {
    /// A mock partner on `server` with `settings`.
    pub fn new(server: wiremock::MockServer, settings: Value) -> Self {
        MockPartner { server, settings }
    }
    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }
    /// Every request the mock received so far, in order.
    pub async fn received(&self) -> Vec<wiremock::Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}
