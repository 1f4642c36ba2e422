//! `Idempotency-Key` on the POSTs that create something (a project, a container, a snapshot, a
//! copy). The first request with a key runs; its answer, whatever it was, is kept for 24 hours and
//! replayed byte for byte to every repeat, so a client that lost a reply can retry without making
//! a second container. Keys belong to the signed-in user; the same key with another request is
//! refused, and a repeat while the first still runs is told so.
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

use crate::{auth::principal::Principal, envelope::JSON_UTF8, error::ApiError, state::AppState, telemetry, BODY_LIMIT};

pub const HEADER: &str = "idempotency-key";
/// Marks an answer given again from the store.
pub const REPLAYED: &str = "idempotent-replayed";
/// How long a key and its answer are kept.
pub const RETENTION_HOURS: i32 = 24;

/// The routes (POST) where a key is honoured: the ones that create something.
pub const ROUTES: [&str; 4] = [
    "/api/v1/projects/",
    "/api/v1/projects/{id}/containers",
    "/api/v1/containers/{id}/snapshots",
    "/api/v1/containers/{id}/copy",
];

fn keyed(req: &Request) -> bool {
    req.method() == Method::POST
        && req.headers().contains_key(HEADER)
        && req.extensions().get::<MatchedPath>().is_some_and(|m| ROUTES.contains(&m.as_str()))
}

/// 1–255 visible ASCII characters.
fn key_of(req: &Request) -> Result<String, ApiError> {
    let bad = || ApiError::bad_request("invalid_idempotency_key", "Idempotency-Key is 1-255 visible ASCII characters");
    let v = req.headers().get(HEADER).ok_or_else(bad)?.to_str().map_err(|_| bad())?.trim();
    if v.is_empty() || v.len() > 255 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(v.to_owned())
}

/// Route layer: everything that is not a keyed POST to one of [`ROUTES`] passes straight through.
pub async fn layer(State(st): State<AppState>, req: Request, next: Next) -> Response {
    if !keyed(&req) {
        return next.run(req).await;
    }
    match keyed_request(st, req, next).await {
        Ok(res) => res,
        Err(e) => e.into_response(),
    }
}

async fn keyed_request(st: AppState, req: Request, next: Next) -> Result<Response, ApiError> {
    let key = key_of(&req)?;
    let (mut parts, body) = req.into_parts();
    // Without a caller the key has no owner: the handler answers (a 401) as it would anyway.
    let Ok(me) = Principal::from_request_parts(&mut parts, &st).await else {
        return Ok(next.run(Request::from_parts(parts, body)).await);
    };
    let body = axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|_| ApiError::PayloadTooLarge)?;
    let fingerprint = {
        let mut h = Sha256::new();
        h.update(parts.method.as_str());
        h.update(b"\n");
        h.update(parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
        h.update(b"\n");
        h.update(&body);
        h.finalize().to_vec()
    };
    let user_id = me.user.user_id.clone();
    if !claim(&st, &user_id, &key, &fingerprint).await? {
        return earlier(&st, &user_id, &key, &fingerprint).await;
    }

    let req = Request::from_parts(parts, Body::from(body));
    let rid = telemetry::current_request_id();
    let first = tokio::spawn(
        telemetry::with_request_id(rid, async move {
            let res = next.run(req).await;
            let (parts, body) = res.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let kept = sqlx::query("update idempotency_key set status = $3, body = $4 where user_id = $1 and key = $2")
                .bind(&user_id)
                .bind(&key)
                .bind(parts.status.as_u16() as i16)
                .bind(bytes.as_ref())
                .execute(&st.db)
                .await;
            if let Err(e) = kept {
                tracing::error!(error = %e, "the answer to an idempotency key could not be kept");
            }
            Response::from_parts(parts, Body::from(bytes))
        })
        .in_current_span(),
    );
    first.await.map_err(|e| ApiError::Internal(anyhow::anyhow!("keyed request panicked: {e}")))
}

/// Take the key for this request; false when it is already taken (and not expired).
async fn claim(st: &AppState, user_id: &str, key: &str, fingerprint: &[u8]) -> Result<bool, ApiError> {
    sqlx::query(
        "delete from idempotency_key where user_id = $1 and key = $2 \
            and created_at < now() - make_interval(hours => $3)",
    )
    .bind(user_id)
    .bind(key)
    .bind(RETENTION_HOURS)
    .execute(&st.db)
    .await?;
    let taken: Option<i32> = sqlx::query_scalar(
        "insert into idempotency_key (user_id, key, fingerprint) values ($1, $2, $3) \
         on conflict (user_id, key) do nothing returning 1",
    )
    .bind(user_id)
    .bind(key)
    .bind(fingerprint)
    .fetch_optional(&st.db)
    .await?;
    Ok(taken.is_some())
}

#[derive(sqlx::FromRow)]
struct Kept {
    fingerprint: Vec<u8>,
    /// Both null while the first request runs.
    status: Option<i16>,
    body: Option<Vec<u8>>,
}

/// A repeat: the kept answer, or why there is none to give.
async fn earlier(st: &AppState, user_id: &str, key: &str, fingerprint: &[u8]) -> Result<Response, ApiError> {
    let row: Option<Kept> =
        sqlx::query_as("select fingerprint, status, body from idempotency_key where user_id = $1 and key = $2")
            .bind(user_id)
            .bind(key)
            .fetch_optional(&st.db)
            .await?;
    let Some(Kept { fingerprint: kept_fingerprint, status, body }) = row else {
        // Expired and swept between our insert and this read: the client may simply retry.
        return Err(ApiError::conflict("idempotency_key_in_use", "This Idempotency-Key is in use; retry shortly"));
    };
    if kept_fingerprint != fingerprint {
        return Err(ApiError::invalid("Idempotency-Key", "This Idempotency-Key was used for a different request"));
    }
    let (Some(status), Some(body)) = (status, body) else {
        let mut res = ApiError::conflict(
            "idempotency_key_in_use",
            "The first request with this Idempotency-Key is still running",
        )
        .into_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Ok(res);
    };
    let mut res = Response::new(Body::from(body));
    *res.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    res.headers_mut().insert(HeaderName::from_static(REPLAYED), HeaderValue::from_static("true"));
    Ok(res)
}

/// Forget keys past their retention (the janitor calls this).
pub async fn sweep(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let done = sqlx::query("delete from idempotency_key where created_at < now() - make_interval(hours => $1)")
        .bind(RETENTION_HOURS)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// The header as the OpenAPI document shows it on the routes that honour it.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct KeyHeader {
    /// Makes this create once-only: repeats within 24 hours get the first answer again, marked
    /// `Idempotent-Replayed: true`; the same key with another request is 422; while the first
    /// request runs, 409 with Retry-After. Keys belong to the signed-in user.
    #[param(rename = "Idempotency-Key", min_length = 1, max_length = 255, pattern = "^[!-~]+$")]
    #[allow(dead_code)]
    idempotency_key: Option<String>,
}
