//! The generic `webhook` destination: POSTs each event, as the Segment JSON it arrived as, to a
//! URL — one JSON object per request, or a JSON array of up to `batch_size` events.
//!
//! Settings ([`WebhookSettings`]): `{"url": "https://example.com/hook", "headers":
//! {"Authorization": "Bearer …"}, "batch_size": 1}`. Header values may be secrets: they are
//! never shown in `Debug`, logs or reports. Any 2xx is delivered; everything else follows the
//! shared classifier.

pub mod mock;
pub mod settings;

pub use settings::WebhookSettings;

use crate::registry::Entry;
use destination_kit::destination::{json_array_bytes, parse_settings};
use destination_kit::{
    BatchLimits, Configured, Destination, DestinationInfo, DynDestination, Event, Mapped,
    PartnerRequest, Payload, Settings, SettingsError,
};
use std::sync::Arc;

/// The route every webhook payload takes.
const ROUTE: &str = "webhook";

/// Most payload bytes per request.
const MAX_BYTES: usize = 4 << 20;

/// The webhook destination. Its batch size comes from the settings.
#[derive(Debug, Clone, Copy)]
pub struct Webhook {
    batch_size: usize,
}

impl Webhook {
    /// A webhook sending up to `batch_size` events per request.
    pub fn new(batch_size: usize) -> Self {
        Webhook {
            batch_size: batch_size.max(1),
        }
    }
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook::new(1)
    }
}

#[async_trait::async_trait]
impl Destination for Webhook {
    type Settings = WebhookSettings;

    fn info(&self) -> DestinationInfo {
        DestinationInfo::new("Webhook", "webhook").batch(BatchLimits {
            events: self.batch_size,
            bytes: MAX_BYTES,
        })
    }

    fn map(&self, _s: &WebhookSettings, event: &Event<'_>) -> Mapped {
        Mapped::one(Payload::json(ROUTE, event.message()))
    }

    fn request(&self, s: &WebhookSettings, _route: &str, batch: &[Payload]) -> PartnerRequest {
        let body = if s.batch_size == 1 && batch.len() == 1 {
            batch[0].body.get().as_bytes().to_vec().into()
        } else {
            json_array_bytes(batch)
        };
        // the URL path and every configured header may carry a token: masked when shown
        let mut req = PartnerRequest::post_json(s.url.clone(), body).with_secret_path();
        for (k, v) in &s.headers {
            if let Ok(name) = http::HeaderName::from_bytes(k.as_bytes()) {
                req = req.secret_header(name, v.expose().clone());
            }
        }
        req
    }
}

/// Parse settings, point them at `endpoint` when given, and build the destination.
pub fn configure(
    settings: serde_json::Value,
    endpoint: Option<&str>,
) -> Result<Arc<dyn DynDestination>, SettingsError> {
    let mut settings = settings;
    // with an endpoint, `url` may be left out of the settings
    if let (Some(e), serde_json::Value::Object(m)) = (endpoint, &mut settings) {
        m.entry("url").or_insert_with(|| e.into());
    }
    let mut s: WebhookSettings = parse_settings(settings)?;
    if let Some(e) = endpoint {
        s.set_endpoint(e);
        s.validate()?;
    }
    Ok(Configured::new(Webhook::new(s.batch_size), s).into_dyn())
}

fn start_mock(
    recording: spec_tests::mock::Recording,
) -> futures::future::BoxFuture<'static, spec_tests::mock::MockPartner> {
    Box::pin(mock::start_with(recording))
}

/// The registry entry.
pub const ENTRY: Entry = Entry {
    slug: "webhook",
    name: "Webhook",
    configure,
    start_mock,
};
