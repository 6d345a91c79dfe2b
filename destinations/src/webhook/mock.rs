//! The webhook's mock partner: accepts any POST with 200.

use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};

/// Takes every POST.
struct Accept;

impl Partner for Accept {
    fn answer(&self, _req: &wiremock::Request) -> Answer {
        Answer::new(200)
    }
}

/// Start a mock webhook receiver on 127.0.0.1 and settings pointing at it (`/hook`).
pub async fn start() -> MockPartner {
    start_with(Recording::On).await
}

/// [`start`], recording requests or not (see [`Recording`]).
pub async fn start_with(recording: Recording) -> MockPartner {
    let routes = vec![Route::method(http::Method::POST, Accept)];
    MockPartner::start(recording, routes, |uri| {
        serde_json::json!({
            "url": format!("{uri}/hook"),
            "headers": {},
            "batch_size": 1,
        })
    })
    .await
}
