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

/// Whether a mock partner keeps what it receives.
///
/// Tests and the conformance suite read back every request ([`MockPartner::received`]) and every
/// accepted payload (each mock's own accessors), so they keep them. An embedded partner that
/// takes a real stream (`destkit deliver` without `--endpoint`, `destkit mock`) must not: a
/// copy of every request is memory that grows with the stream, about a kilobyte per event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recording {
    /// Keep every request and accepted payload.
    #[default]
    On,
    /// Keep none; answers, state the partner's behaviour needs (ids it de-duplicates, users it
    /// knows) and counts are unchanged.
    Off,
}

impl Recording {
    /// Whether requests and payloads are kept.
    pub fn is_on(self) -> bool {
        self == Recording::On
    }
}

/// A wiremock server on 127.0.0.1 that records requests or not.
///
/// ```
/// use spec_tests::mock::{server, Recording};
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let s = server(Recording::Off).await;
///     assert!(s.received_requests().await.is_none(), "nothing is kept");
/// });
/// ```
pub async fn server(recording: Recording) -> wiremock::MockServer {
    match recording {
        Recording::On => wiremock::MockServer::start().await,
        Recording::Off => {
            wiremock::MockServer::builder()
                .disable_request_recording()
                .start()
                .await
        }
    }
}
