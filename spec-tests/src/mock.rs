//! The mock-partner toolkit: a running server on 127.0.0.1 standing in for a partner API.
//!
//! A mock is a [`Partner`]: it reads a request and gives an [`Answer`]. [`MockPartner::start`]
//! serves it either on a wiremock server that keeps every request (tests and the conformance
//! suite read them back, [`Recording::On`]) or on a lean server that keeps nothing
//! ([`Recording::Off`]), for an embedded partner taking a real stream (`destkit deliver` without
//! `--endpoint`, `destkit mock`, `serve`'s mock): wiremock keeps a copy of every request it
//! matched, about a kilobyte per event, for as long as the server runs.

use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// What a mock partner answers: a status, headers, a body and an optional delay. The builder
/// reads like wiremock's `ResponseTemplate`, whose contents cannot be read back.
///
/// ```
/// use spec_tests::mock::Answer;
/// let a = Answer::new(429).insert_header("retry-after", "30").set_body_json(serde_json::json!({"error": "slow down"}));
/// assert_eq!(a.status(), 429);
/// ```
#[derive(Debug, Clone)]
pub struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    mime: Option<&'static str>,
    delay: Option<Duration>,
}

impl Answer {
    /// An answer with this status and no body.
    pub fn new(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            mime: None,
            delay: None,
        }
    }
    /// Set a header (replacing one of the same name).
    pub fn insert_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Answer {
        let name = name.as_ref();
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers
            .push((name.to_string(), value.as_ref().to_string()));
        self
    }
    /// A JSON body (`application/json`).
    pub fn set_body_json(mut self, body: impl serde::Serialize) -> Answer {
        self.body = serde_json::to_vec(&body).unwrap_or_default();
        self.mime = Some("application/json");
        self
    }
    /// A text body (`text/plain`).
    pub fn set_body_string(mut self, body: impl Into<String>) -> Answer {
        self.body = body.into().into_bytes();
        self.mime = Some("text/plain");
        self
    }
    /// Answer only after `delay`.
    pub fn set_delay(mut self, delay: Duration) -> Answer {
        self.delay = Some(delay);
        self
    }
    /// The status.
    pub fn status(&self) -> u16 {
        self.status
    }
    /// The body.
    pub fn body(&self) -> &[u8] {
        &self.body
    }
}

impl From<Answer> for wiremock::ResponseTemplate {
    fn from(a: Answer) -> wiremock::ResponseTemplate {
        let mut t = wiremock::ResponseTemplate::new(a.status);
        for (k, v) in &a.headers {
            t = t.insert_header(k.as_str(), v.as_str());
        }
        t = match a.mime {
            Some(mime) => t.set_body_raw(a.body, mime),
            None if !a.body.is_empty() => t.set_body_bytes(a.body),
            None => t,
        };
        match a.delay {
            Some(d) => t.set_delay(d),
            None => t,
        }
    }
}

/// A mock partner's behaviour: an answer to every request it routes to itself.
pub trait Partner: Send + Sync + 'static {
    /// Answer `req`.
    fn answer(&self, req: &wiremock::Request) -> Answer;
}

/// Which requests go to a [`Partner`]: a method and an exact path, or anything (`None`).
/// The first route that takes a request answers it; none: 404, as wiremock does.
#[derive(Clone)]
pub struct Route {
    method: Option<http::Method>,
    path: Option<String>,
    partner: Arc<dyn Partner>,
}

impl Route {
    /// Every request.
    pub fn any(partner: impl Partner) -> Route {
        Route {
            method: None,
            path: None,
            partner: Arc::new(partner),
        }
    }
    /// Requests with this method (any path).
    pub fn method(method: http::Method, partner: impl Partner) -> Route {
        Route {
            method: Some(method),
            ..Route::any(partner)
        }
    }
    /// `POST` requests to exactly this path.
    pub fn post(path: &str, partner: impl Partner) -> Route {
        Route {
            method: Some(http::Method::POST),
            path: Some(path.to_string()),
            partner: Arc::new(partner),
        }
    }
    fn takes(&self, method: &http::Method, path: &str) -> bool {
        self.method.as_ref().is_none_or(|m| m == method)
            && self.path.as_deref().is_none_or(|p| p == path)
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("method", &self.method)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// The answer of the first route that takes `req`; none: 404, as wiremock does. Both servers
/// route through here.
fn route(routes: &[Route], req: &wiremock::Request) -> Answer {
    routes
        .iter()
        .find(|r| r.takes(&req.method, req.url.path()))
        .map(|r| r.partner.answer(req))
        .unwrap_or_else(|| Answer::new(404))
}

struct Served(Arc<Vec<Route>>);

impl wiremock::Respond for Served {
    fn respond(&self, req: &wiremock::Request) -> wiremock::ResponseTemplate {
        route(&self.0, req).into()
    }
}

/// Whether a mock partner keeps what it receives.
///
/// Tests and the conformance suite read back every request ([`MockPartner::received`]) and every
/// accepted payload (each mock's own accessors), so they keep them. An embedded partner that
/// takes a real stream must not: a copy of every request is memory that grows with the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Recording {
    /// Keep every request and accepted payload (a wiremock server).
    #[default]
    On,
    /// Keep none (a lean server); answers, the state the partner's behaviour needs (ids it
    /// de-duplicates, users it knows) and counts are unchanged.
    Off,
}

impl Recording {
    /// Whether requests and payloads are kept.
    pub fn is_on(self) -> bool {
        self == Recording::On
    }
}

enum Server {
    Wiremock(wiremock::MockServer),
    Lean {
        uri: String,
        stop: Option<tokio::sync::oneshot::Sender<()>>,
    },
}

impl Server {
    fn uri(&self) -> String {
        match self {
            Server::Wiremock(s) => s.uri(),
            Server::Lean { uri, .. } => uri.clone(),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Server::Lean { stop, .. } = self
            && let Some(stop) = stop.take()
        {
            let _ = stop.send(());
        }
    }
}

/// A running mock partner and the settings that point a destination at it.
///
/// Built by each destination's `mock` module; used by the conformance suite, by
/// `destkit deliver`'s embedded default and by `destkit mock`.
pub struct MockPartner {
    server: Server,
    /// Destination settings (fake credentials, endpoint = this server) as JSON.
    pub settings: Value,
}

impl MockPartner {
    /// A mock partner on a wiremock server the caller has set up, with `settings` (it keeps
    /// every request, as wiremock does).
    pub fn new(server: wiremock::MockServer, settings: Value) -> Self {
        MockPartner {
            server: Server::Wiremock(server),
            settings,
        }
    }

    /// Serve `routes` on 127.0.0.1, keeping requests or not, with the settings that
    /// `settings(uri)` gives for the server's base URL.
    ///
    /// ```
    /// use spec_tests::mock::{Answer, MockPartner, Partner, Recording, Route};
    /// struct Ok204;
    /// impl Partner for Ok204 {
    ///     fn answer(&self, _req: &wiremock::Request) -> Answer { Answer::new(204) }
    /// }
    /// let rt = tokio::runtime::Runtime::new().unwrap();
    /// rt.block_on(async {
    ///     let m = MockPartner::start(Recording::Off, vec![Route::post("/track", Ok204)], |uri| {
    ///         serde_json::json!({ "endpoint": uri })
    ///     }).await;
    ///     let http = destination_kit::HttpClient::new(std::time::Duration::from_secs(5));
    ///     let req = destination_kit::PartnerRequest::post_json(format!("{}/track", m.uri()), "{}");
    ///     assert_eq!(http.send(&req).await.unwrap().status, 204);
    ///     let elsewhere = destination_kit::PartnerRequest::post_json(format!("{}/other", m.uri()), "{}");
    ///     assert_eq!(http.send(&elsewhere).await.unwrap().status, 404);
    ///     assert!(m.received().await.is_empty(), "nothing is kept");
    /// });
    /// ```
    pub async fn start(
        recording: Recording,
        routes: Vec<Route>,
        settings: impl FnOnce(&str) -> Value,
    ) -> MockPartner {
        let routes = Arc::new(routes);
        let server = match recording {
            Recording::On => {
                let server = wiremock::MockServer::start().await;
                wiremock::Mock::given(wiremock::matchers::any())
                    .respond_with(Served(routes))
                    .mount(&server)
                    .await;
                Server::Wiremock(server)
            }
            Recording::Off => lean(routes).await,
        };
        MockPartner {
            settings: settings(&server.uri()),
            server,
        }
    }
    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn uri(&self) -> String {
        self.server.uri()
    }
    /// Every request the mock received so far, in order (none when it keeps none).
    pub async fn received(&self) -> Vec<wiremock::Request> {
        match &self.server {
            Server::Wiremock(s) => s.received_requests().await.unwrap_or_default(),
            Server::Lean { .. } => Vec::new(),
        }
    }
}

/// The lean server: axum on 127.0.0.1, each request read whole, routed, answered, forgotten.
async fn lean(routes: Arc<Vec<Route>>) -> Server {
    use axum::body::{Body, to_bytes};
    use axum::response::Response;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("a bound address");
    let uri = format!("http://{addr}");
    let base = url::Url::parse(&uri).expect("a loopback URL parses");
    let handler = move |req: axum::extract::Request| {
        let routes = routes.clone();
        let mut url = base.clone();
        async move {
            let (parts, body) = req.into_parts();
            let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
            url.set_path(parts.uri.path());
            url.set_query(parts.uri.query());
            let request = wiremock::Request {
                url,
                method: parts.method,
                headers: parts.headers,
                body: body.to_vec(),
            };
            let answer = route(&routes, &request);
            if let Some(d) = answer.delay {
                tokio::time::sleep(d).await;
            }
            let mut resp = Response::builder().status(answer.status);
            for (k, v) in &answer.headers {
                // the body's type wins over a content-type header, as in wiremock
                if answer.mime.is_some() && k.eq_ignore_ascii_case("content-type") {
                    continue;
                }
                resp = resp.header(k.as_str(), v.as_str());
            }
            if let Some(mime) = answer.mime {
                resp = resp.header(http::header::CONTENT_TYPE, mime);
            }
            resp.body(Body::from(answer.body))
                .unwrap_or_else(|_| Response::new(Body::empty()))
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new().fallback(handler);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Server::Lean {
        uri,
        stop: Some(stop),
    }
}
