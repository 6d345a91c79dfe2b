//! The webhook's mock partner: accepts any POST with 200.

use spec_tests::mock::{MockPartner, Recording};
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

/// Start a mock webhook receiver on 127.0.0.1 and settings pointing at it (`/hook`).
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], recording requests or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    let server = spec_tests::mock::server(recording).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let settings = serde_json::json!({
        "url": format!("{}/hook", server.uri()),
        "headers": {},
        "batch_size": 1,
    });
    MockPartner::new(server, settings)
}
