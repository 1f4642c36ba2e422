//! The layer every request passes: request id, tracing span, the error envelope for responses
//! made outside our handlers, security headers, metrics and the access log line.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use crate::{
    auth::{principal::AuthSlot, signing::RESPONSE_HEADER},
    envelope::JSON_UTF8,
    error::error_response,
    state::AppState,
    telemetry,
    writeback::activity::Activity,
};

static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route template a request matched, carried out on the response for metrics.
#[derive(Clone)]
struct RouteTemplate(String);

/// Inner layer (route_layer): note which route template matched.
pub async fn capture_route(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned());
    let mut res = next.run(req).await;
    if let Some(route) = route {
        res.extensions_mut().insert(RouteTemplate(route));
    }
    res
}

/// Outer layer.
pub async fn request_context(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let started_at = chrono::Utc::now();
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| valid_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    // What the signature covers: the path with its query string, exactly as received.
    let target = req.uri().path_and_query().map_or_else(|| path.clone(), |pq| pq.as_str().to_owned());
    let user_agent =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|v| v.chars().take(512).collect());
    let auth_slot = AuthSlot::default();
    req.extensions_mut().insert(auth_slot.clone());
    let span = tracing::info_span!("request", request_id = %request_id, method = %method, path = %req.uri().path());
    let rid = request_id.clone();
    let mut res = telemetry::with_request_id(
        request_id.clone(),
        async move {
            let res = next.run(req).await;
            finalize(res)
        }
        .instrument(span.clone()),
    )
    .await;
    if let Ok(v) = HeaderValue::from_str(&rid) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    security_headers(res.headers_mut());
    let route = res.extensions().get::<RouteTemplate>().map(|r| r.0.as_str()).unwrap_or("unmatched");
    let elapsed = started.elapsed();
    st.metrics.record(method.as_str(), route, res.status().as_u16(), elapsed);
    if let Some(who) = auth_slot.get() {
        st.activity.push(Activity {
            user_id: who.user_id.clone(),
            token_id: who.token_id.clone(),
            realm_id: who.realm_id.clone(),
            method: method.to_string(),
            route: (route != "unmatched").then(|| route.to_owned()),
            path: path.clone(),
            status: res.status().as_u16(),
            duration_ms: elapsed.as_secs_f32() * 1000.0,
            ip: who.ip.to_string(),
            user_agent,
            at: started_at,
        });
    }
    span.in_scope(|| {
        tracing::info!(
            status = res.status().as_u16(),
            route,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        )
    });
    if st.cfg.sign_responses && path.starts_with("/api/") {
        res = sign(&st, res, method.as_str(), &target).await;
    }
    res
}

/// Add `X-Hoody-Signature` over the time, method, status, path (with its query string, as
/// received) and the body as sent (API responses: everything under `/api/`; not the probes,
/// metrics or docs).
async fn sign(st: &AppState, res: Response, method: &str, target: &str) -> Response {
    let (mut parts, body) = res.into_parts();
    let bytes = match axum::body::to_bytes(body, SIGNED_BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "response body could not be read for signing");
            let mut out = error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error".into(),
                None,
                Vec::new(),
            );
            security_headers(out.headers_mut());
            return out;
        }
    };
    let value = st.signer.response_header(method, parts.status.as_u16(), target, &bytes);
    if let Ok(v) = HeaderValue::from_str(&value) {
        parts.headers.insert(HeaderName::from_static(RESPONSE_HEADER), v);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// Responses are small JSON; the largest is the OpenAPI document.
const SIGNED_BODY_LIMIT: usize = 64 * 1024 * 1024;

fn valid_request_id(v: &str) -> bool {
    !v.is_empty() && v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// An error response that is not our JSON (a timeout, a panic, a body-limit rejection, a CORS
/// refusal) becomes the error envelope.
fn finalize(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_ours = res.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes() == JSON_UTF8.as_bytes());
    if is_ours {
        return res;
    }
    let (code, message) = match status {
        StatusCode::NOT_FOUND => ("route_not_found", "Route not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body is larger than 1 MiB"),
        StatusCode::REQUEST_TIMEOUT | StatusCode::GATEWAY_TIMEOUT => ("request_timeout", "The request took too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        s if s.is_server_error() => ("internal_error", "Internal server error"),
        _ => ("bad_request", "Bad request"),
    };
    if status.is_server_error() {
        tracing::error!(status = status.as_u16(), "non-envelope server error replaced");
    }
    let mut out = error_response(status, code, message.to_owned(), None, Vec::new());
    // Keep headers such as Allow and Retry-After from the original.
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH && !out.headers().contains_key(name) {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    drop(res.into_body());
    out
}

/// The whole HTTP/1.1 answer to a request the HTTP layer refused before our router saw it (hyper
/// answers 431, 414 or 400 with an empty body): the error envelope under a fresh request id, the
/// security headers, and `connection: close` (hyper closes the connection after such a refusal).
pub fn protocol_rejection(status: StatusCode) -> Vec<u8> {
    let (code, message) = match status {
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => ("headers_too_large", "The request headers are too large"),
        StatusCode::URI_TOO_LONG => ("uri_too_long", "The request URI is too long"),
        _ => ("malformed_request", "The request could not be parsed as HTTP"),
    };
    let request_id = uuid::Uuid::new_v4().to_string();
    tracing::info!(status = status.as_u16(), request_id = %request_id, "request refused by the HTTP layer");
    let body = crate::error::ErrorBody {
        status_code: status.as_u16(),
        message: message.to_owned(),
        code: code.to_owned(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        data: None,
        request_id: request_id.clone(),
        retry_after: None,
        details: None,
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut headers = axum::http::HeaderMap::new();
    security_headers(&mut headers);
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        headers.insert(REQUEST_ID.clone(), v);
    }
    let mut out =
        format!("HTTP/1.1 {} {}\r\n", status.as_u16(), status.canonical_reason().unwrap_or("Error")).into_bytes();
    for (name, value) in &headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
    out
}

fn security_headers(h: &mut axum::http::HeaderMap) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // A response that states its own caching (an image icon) keeps it; everything else is no-store.
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
}
