//! Intercom requests and answers: one request per payload, Bearer auth, `Intercom-Version`;
//! the contact upsert (search, then update or create) and the company attachment; and the
//! quirks of reading answers (202, `X-RateLimit-Reset`, 409 retried, `error.list` reasons).

use super::mapping::{ROUTE_COMPANIES, ROUTE_CONTACTS};
use super::settings::IntercomSettings;
use destination_kit::{
    ErrorKind, HttpClient, PartnerRequest, PartnerResponse, Payload, TransportError, Verdict,
    Verdicts,
};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `Intercom-Version` header name.
pub const VERSION_HEADER: &str = "intercom-version";

/// A request with Intercom's headers (Bearer token, version, JSON accept).
pub fn authed(
    settings: &IntercomSettings,
    method: http::Method,
    path: &str,
    body: String,
) -> PartnerRequest {
    let mut req = PartnerRequest::post_json(format!("{}{path}", settings.base_url()), body)
        .bearer(settings.access_token.expose())
        .header(http::header::ACCEPT, "application/json")
        .header(
            http::HeaderName::from_static(VERSION_HEADER),
            settings.api_version.clone(),
        );
    req.method = method;
    req
}

#[derive(Deserialize)]
struct CompanyEnvelope<'a> {
    #[serde(borrow)]
    company: &'a RawValue,
    #[serde(default)]
    attach_user_id: Option<String>,
}

/// Assemble the request of one payload. Contacts: this is the create (`POST /contacts`) that
/// [`send`] falls back to when the search finds nobody.
pub fn build(settings: &IntercomSettings, route: &str, batch: &[Payload]) -> PartnerRequest {
    let Some(p) = batch.first() else {
        return authed(settings, http::Method::POST, "/events", "{}".to_string());
    };
    match route {
        ROUTE_CONTACTS => authed(
            settings,
            http::Method::POST,
            "/contacts",
            p.body.get().to_owned(),
        ),
        ROUTE_COMPANIES => {
            let inner = serde_json::from_str::<CompanyEnvelope<'_>>(p.body.get())
                .map(|e| e.company.get().to_owned())
                .unwrap_or_else(|_| p.body.get().to_owned());
            authed(settings, http::Method::POST, "/companies", inner)
        }
        _ => authed(
            settings,
            http::Method::POST,
            "/events",
            p.body.get().to_owned(),
        ),
    }
}

/// Send one payload. Data events go as built. Contacts are upserted: `POST /contacts/search` by
/// `external_id` (else `email`); one match → `PUT /contacts/{id}`; none → `POST /contacts`
/// (a 409 there means the search index lags: [`interpret`] retries it). Companies are created or
/// updated, then the user (if known to Intercom) is attached with `POST /contacts/{id}/companies`;
/// a failed attachment does not fail the group call (the company is recorded).
pub async fn send(
    settings: &IntercomSettings,
    http: &HttpClient,
    request: PartnerRequest,
    batch: &[Payload],
) -> Result<PartnerResponse, TransportError> {
    let Some(p) = batch.first() else {
        return http.send(&request).await;
    };
    match p.route.as_ref() {
        ROUTE_CONTACTS => upsert_contact(settings, http, request, p).await,
        ROUTE_COMPANIES => {
            let resp = http.send(&request).await?;
            if (200..300).contains(&resp.status)
                && let Ok(env) = serde_json::from_str::<CompanyEnvelope<'_>>(p.body.get())
                && let Some(user) = env.attach_user_id
                && let Some(company_id) = resp
                    .json()
                    .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_string))
            {
                let found = search_contact(settings, http, "external_id", &user).await?;
                if let Ok(Some(contact_id)) = found {
                    let body = serde_json::json!({ "id": company_id }).to_string();
                    let attach = authed(
                        settings,
                        http::Method::POST,
                        &format!("/contacts/{contact_id}/companies"),
                        body,
                    );
                    let _ = http.send(&attach).await?;
                }
            }
            Ok(resp)
        }
        _ => http.send(&request).await,
    }
}

async fn upsert_contact(
    settings: &IntercomSettings,
    http: &HttpClient,
    create: PartnerRequest,
    p: &Payload,
) -> Result<PartnerResponse, TransportError> {
    let body: Value = serde_json::from_str(p.body.get()).unwrap_or(Value::Null);
    let (field, value) = match (
        body.get("external_id").and_then(Value::as_str),
        body.get("email").and_then(Value::as_str),
    ) {
        (Some(id), _) => ("external_id", id),
        (None, Some(email)) => ("email", email),
        (None, None) => return http.send(&create).await,
    };
    match search_contact(settings, http, field, value).await? {
        Err(resp) => Ok(resp),
        Ok(Some(id)) => {
            let update = authed(
                settings,
                http::Method::PUT,
                &format!("/contacts/{id}"),
                p.body.get().to_owned(),
            );
            http.send(&update).await
        }
        Ok(None) => http.send(&create).await,
    }
}

/// `POST /contacts/search` for `field = value`: `Ok(Ok(Some(id)))` when exactly one contact
/// matches, `Ok(Ok(None))` when none (or several: then a create decides), `Ok(Err(resp))` when
/// the search itself was refused (its answer is classified like any other).
async fn search_contact(
    settings: &IntercomSettings,
    http: &HttpClient,
    field: &str,
    value: &str,
) -> Result<Result<Option<String>, PartnerResponse>, TransportError> {
    let q = serde_json::json!({"query": {"field": field, "operator": "=", "value": value}});
    let req = authed(
        settings,
        http::Method::POST,
        "/contacts/search",
        q.to_string(),
    );
    let resp = http.send(&req).await?;
    if !(200..300).contains(&resp.status) {
        return Ok(Err(resp));
    }
    let json = resp.json().unwrap_or(Value::Null);
    let data = json.get("data").and_then(Value::as_array);
    Ok(Ok(match data {
        Some(d) if d.len() == 1 => d[0].get("id").and_then(Value::as_str).map(str::to_string),
        _ => None,
    }))
}

/// Intercom's error body: `{type: "error.list", request_id, errors: [{code, message}]}` as
/// `"code: message; code: message"`.
pub fn error_list_reason(resp: &PartnerResponse) -> Option<String> {
    let v = resp.json()?;
    if v.get("type").and_then(Value::as_str) != Some("error.list") {
        return None;
    }
    let parts: Vec<String> = v
        .get("errors")?
        .as_array()?
        .iter()
        .map(|e| {
            let code = e.get("code").and_then(Value::as_str).unwrap_or("error");
            match e.get("message").and_then(Value::as_str) {
                Some(m) => format!("{code}: {m}"),
                None => code.to_string(),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// Seconds from `now` until the Unix time in `X-RateLimit-Reset` (zero when it has passed).
pub fn rate_limit_reset(resp: &PartnerResponse, now: SystemTime) -> Option<Duration> {
    let reset: u64 = resp.header("x-ratelimit-reset")?.trim().parse().ok()?;
    let now_s = now.duration_since(UNIX_EPOCH).ok()?.as_secs_f64();
    Some(Duration::from_secs_f64((reset as f64 - now_s).max(0.0)))
}

/// Read one answer (one payload per request). The shared classifier, plus Intercom's quirks:
/// - 2xx (202 with an empty body for events, 200 for contacts and companies) → delivered;
/// - 429 without `Retry-After` → wait until `X-RateLimit-Reset`;
/// - 409 on the contacts route → retried (the contact exists, the search index lags);
/// - every refusal's reason is `HTTP <status>: <code>: <message>` from the `error.list` body.
pub fn interpret(resp: &PartnerResponse, batch: &[Payload], now: SystemTime) -> Verdicts {
    let n = batch.len();
    let mut verdict = Verdict::from_response(resp, now);
    if matches!(verdict, Verdict::Delivered) {
        return Verdicts::all(n, verdict);
    }
    let reason = match error_list_reason(resp) {
        Some(r) => format!("HTTP {}: {r}", resp.status),
        None if resp.body.is_empty() => format!("HTTP {}", resp.status),
        None => format!("HTTP {}: {}", resp.status, resp.body_snippet()),
    };
    let contacts = batch.iter().any(|p| p.route == ROUTE_CONTACTS);
    verdict = match verdict {
        Verdict::Retry {
            kind: ErrorKind::Throttling,
            after: None,
            ..
        } => Verdict::Retry {
            kind: ErrorKind::Throttling,
            after: rate_limit_reset(resp, now),
            reason,
        },
        Verdict::Retry { kind, after, .. } => Verdict::Retry {
            kind,
            after,
            reason,
        },
        Verdict::Failed { .. } if resp.status == 409 && contacts => Verdict::Retry {
            kind: ErrorKind::Transient,
            after: None,
            reason: format!("{reason} (contact exists; Intercom's search index lags)"),
        },
        Verdict::Failed { kind, .. } => Verdict::Failed { kind, reason },
        other => other,
    };
    Verdicts::all(n, verdict)
}
