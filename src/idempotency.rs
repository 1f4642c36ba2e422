//! `Idempotency-Key` on the POSTs that create something (a project, a container, a snapshot, a
//! copy). The first request with a key runs; its answer is kept (sealed) for 24 hours and replayed
//! byte for byte to every repeat, so a client that lost a reply can retry without making a second
//! container. "Try again" answers are not kept: the retry runs anew. Keys belong to the signed-in
//! user; the same key with another request (or credential, or realm) is refused, and a repeat while
//! the first still runs is told so.
//!
//! The first request runs in its own task: a client that hangs up does not cancel it half way,
//! and its answer is still kept for the retry.

use axum::{
    body::Body,
    extract::{FromRequestParts, MatchedPath, Request, State},
    http::{header, HeaderName, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::{
    auth::principal::Principal, db, envelope::JSON_UTF8, error::ApiError, state::AppState, telemetry, BODY_LIMIT,
};

pub const HEADER: &str = "idempotency-key";
/// Marks an answer given again from the store.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key and its answer are kept.
pub const RETENTION_HOURS: i32 = 24;

/// The routes (`POST <template>`) where a key is honoured: the operations whose OpenAPI entry
/// declares the `Idempotency-Key` header (`params(crate::idempotency::KeyHeader)` next to the
/// route), read from the generated document when the router is built. Declaring the header is
/// what opts a route in: the document and the layer cannot disagree.
static ROUTES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

/// The keyed routes of a document (`"/api/v1/projects/"`, …).
pub fn keyed_routes(doc: &utoipa::openapi::OpenApi) -> Vec<String> {
    let mut out: Vec<String> = doc
        .paths
        .paths
        .iter()
        .filter(|(_, item)| {
            item.post.as_ref().and_then(|op| op.parameters.as_ref()).is_some_and(|params| {
                params.iter().any(|p| {
                    p.name == KEY_PARAM
                        && matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Header)
                        // Money routes keep their keys in the ledger, with the money (`crate::ledger`).
                        && !p.description.as_deref().is_some_and(|d| d.contains(LEDGER_MARK))
                })
            })
        })
        .map(|(path, _)| path.clone())
        .collect();
    out.sort();
    out
}

/// Called with the document the router was built from.
pub fn register(doc: &utoipa::openapi::OpenApi) {
    let _ = ROUTES.set(keyed_routes(doc));
}

/// The header's name as documented.
const KEY_PARAM: &str = "Idempotency-Key";

/// The last words of [`LedgerKeyHeader`]'s description: a route whose key the ledger keeps (with
/// the money, `crate::ledger`), not this layer.
pub const LEDGER_MARK: &str = "Kept by the ledger.";

fn keyed(req: &Request) -> bool {
    req.method() == Method::POST
        && req.headers().contains_key(HEADER)
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| ROUTES.get().is_some_and(|routes| routes.iter().any(|r| r == m.as_str())))
}

/// An idempotency key: 1–255 visible ASCII characters (surrounding spaces dropped).
pub fn valid_key(v: &str) -> Option<&str> {
    let v = v.trim();
    (!v.is_empty() && v.len() <= 255 && v.bytes().all(|b| b.is_ascii_graphic())).then_some(v)
}

/// The header's key; 400 `invalid_idempotency_key` when it is not one.
pub fn key_of(headers: &axum::http::HeaderMap) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key is 1-255 visible ASCII characters");
    let v = headers.get(HEADER).ok_or_else(bad)?.to_str().map_err(|_| bad())?;
    Ok(valid_key(v).ok_or_else(bad)?.to_owned())
}

/// Whose key, which key, and what request it stands for: method, path and query, body, the
/// credential (one auth token, or the session) and the request's realm. Another token of the
/// same user, or the same request in another realm, does not get this key's answer.
struct Keyed {
    user_id: String,
    key: String,
    fingerprint: Vec<u8>,
}

impl Keyed {
    fn aad(&self) -> Vec<u8> {
        format!("idempotency\n{}\n{}", self.user_id, self.key).into_bytes()
    }
}

/// Route layer: everything that is not a keyed POST to a keyed route passes straight through.
pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !keyed(&req) {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    // Without a caller the key has no owner: the handler answers (a 401) as it would anyway.
    let Ok(me) = Principal::from_request_parts(&mut parts, &st).await else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let key = match key_of(&parts.headers) {
        Ok(k) => k,
        Err(e) => return e.into_response(),
    };
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(e) => return unreadable(e).into_response(),
    };
    let mut h = Sha256::new();
    for part in [
        parts.method.as_str(),
        parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"),
        me.token().map(|t| t.token_id.as_str()).unwrap_or("session"),
        me.realm.as_deref().unwrap_or(""),
    ] {
        h.update(part.as_bytes());
        h.update(b"\n");
    }
    h.update(canonical(&body));
    let k = Keyed { user_id: me.user.user_id.clone(), key, fingerprint: h.finalize().to_vec() };
    // From here on in a task of its own: a client that hangs up, or the request timeout, cannot
    // cut the claim, the work or the keeping of its answer short.
    let req = Request::from_parts(parts, Body::from(body));
    let task = tokio::spawn(
        telemetry::with_request_id(telemetry::current_request_id(), run(st, k, req, next)).in_current_span(),
    );
    task.await.unwrap_or_else(|e| ApiError::Internal(anyhow::anyhow!("keyed request failed: {e}")).into_response())
}

/// The body as the fingerprint sees it: JSON re-serialised with object keys sorted and no
/// whitespace, so the same document written another way is the same request; anything that is
/// not JSON, as sent.
fn canonical(body: &[u8]) -> Vec<u8> {
    fn sorted(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut entries: Vec<_> = m.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                serde_json::Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.into_iter().map(sorted).collect()),
            other => other,
        }
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => serde_json::to_vec(&sorted(v)).unwrap_or_else(|_| body.to_vec()),
        Err(_) => body.to_vec(),
    }
}

fn unreadable(e: axum::Error) -> ApiError {
    let too_large = std::error::Error::source(&e)
        .into_iter()
        .chain(std::iter::once(&e as &(dyn std::error::Error + 'static)))
        .any(|e| e.downcast_ref::<http_body_util::LengthLimitError>().is_some());
    if too_large {
        ApiError::PayloadTooLarge
    } else {
        ApiError::bad_request("unreadable_body", "The request body could not be read")
    }
}

async fn run(st: AppState, k: Keyed, req: Request, next: Next) -> Response {
    match claim(&st, &k).await {
        Ok(true) => {}
        Ok(false) => return earlier(&st, &k).await.unwrap_or_else(IntoResponse::into_response),
        Err(e) => return e.into_response(),
    }
    let Ok(res) = tokio::spawn(next.run(req)).await else {
        forget(&st, &k).await;
        return ApiError::Internal(anyhow::anyhow!("keyed request panicked")).into_response();
    };
    let (parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    if kept(parts.status) {
        keep(&st, &k, parts.status, &bytes).await;
    } else {
        forget(&st, &k).await;
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Answers worth giving again: successes, refusals of the request itself, and the 502/504 of a
/// host that may have done the work. "Try again" answers (408, 409, 425, 429, 500, 503) are
/// forgotten with their claim: nothing was done, or nothing is known, and the retry runs anew.
fn kept(status: StatusCode) -> bool {
    match status.as_u16() {
        200..=299 | 502 | 504 => true,
        408 | 409 | 425 | 429 => false,
        400..=499 => true,
        _ => false,
    }
}

/// Keep the answer (sealed: a container's answer carries its environment). If it cannot be kept,
/// the claim goes, so the key is not left "in use".
async fn keep(st: &AppState, k: &Keyed, status: StatusCode, body: &[u8]) {
    let sealed = match st.sealer.seal(&k.aad(), body) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "an idempotent answer could not be sealed");
            return forget(st, k).await;
        }
    };
    for attempt in 1..=3 {
        let done = db::idempotency::keep(&st.db, &k.user_id, &k.key, status.as_u16() as i16, &sealed).await;
        match done {
            Ok(_) => return,
            Err(e) if attempt == 3 => tracing::error!(error = %e, "an idempotent answer could not be kept"),
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(100 * attempt)).await,
        }
    }
    forget(st, k).await;
}

async fn forget(st: &AppState, k: &Keyed) {
    let gone = db::idempotency::forget(&st.db, &k.user_id, &k.key).await;
    if let Err(e) = gone {
        tracing::warn!(error = %e, "an idempotency claim could not be dropped; it lapses with its lease");
    }
}

/// Take the key for this request; false when it is already taken (and not expired).
async fn claim(st: &AppState, k: &Keyed) -> Result<bool, ApiError> {
    db::idempotency::drop_expired(&st.db, &k.user_id, &k.key, RETENTION_HOURS).await?;
    Ok(db::idempotency::claim(&st.db, &k.user_id, &k.key, &k.fingerprint).await?)
}

/// How long a first request may run before its claim counts as abandoned: the request timeout
/// plus the longest wait for the container and its host work, and a margin.
fn lease_secs(st: &AppState) -> f64 {
    (st.cfg.request_timeout + st.cfg.host_lock_wait + st.cfg.host_op_deadline).as_secs_f64() + 30.0
}

fn in_use() -> Response {
    let mut res =
        ApiError::conflict("idempotency_key_in_use", "The first request with this Idempotency-Key is still running")
            .into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    res
}

/// A repeat: the kept answer, or why there is none to give.
async fn earlier(st: &AppState, k: &Keyed) -> Result<Response, ApiError> {
    let row = db::idempotency::kept(&st.db, &k.user_id, &k.key, lease_secs(st)).await?;
    // Gone between our insert and this read (forgotten or expired): the client may simply retry.
    let Some(kept) = row else { return Ok(in_use()) };
    if kept.fingerprint != k.fingerprint {
        return Err(ApiError::invalid("Idempotency-Key", "This Idempotency-Key was used for a different request"));
    }
    let (Some(status), Some(body)) = (kept.status, kept.body) else {
        if kept.abandoned {
            return Err(ApiError::conflict(
                "idempotency_key_abandoned",
                "The first request with this Idempotency-Key never finished; check what it made, then use a new key",
            ));
        }
        return Ok(in_use());
    };
    let body = st.sealer.open(&k.aad(), &body).map_err(ApiError::Internal)?;
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    res.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    Ok(res)
}

/// Forget keys past their retention (the janitor calls this).
pub async fn sweep(pool: &sqlx::PgPool) -> sqlx::Result<u64> {
    db::idempotency::sweep(pool, RETENTION_HOURS).await
}

/// The header as the OpenAPI document shows it on the routes that honour it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct KeyHeader {
    /// Makes this create once-only: repeats within 24 hours get the first answer again, marked
    /// `Idempotent-Replayed: true`; the same key with another request is 422; while the first
    /// request runs, 409 with Retry-After. Keys belong to the signed-in user.
    #[param(rename = "Idempotency-Key", value_type = String, min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}

/// The header as the money routes document it (their keys live in the ledger, `crate::ledger`).
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct LedgerKeyHeader {
    /// Makes this money movement once-only, for good: a repeat with the key gets the first
    /// answer again (marked `replayed`), waiting for it if the first is still running; the same
    /// key with another request is 422. The body's `idempotency_key`, where there is one, is the
    /// same key (send one or the other, or both equal). Kept by the ledger.
    #[param(rename = "Idempotency-Key", value_type = String, min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}
