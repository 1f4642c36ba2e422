//! Operational endpoints outside `/api/v1`: liveness, readiness and metrics.

use std::{
    net::IpAddr,
    sync::atomic::Ordering,
    time::{Duration, Instant},
};

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody},
    extract::ClientIp,
    shutdown::Stop,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct HealthOut {
    pub status: &'static str,
}

/// Process is alive
///
/// Does not touch the database.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Envelope<HealthOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn healthz() -> ApiOk<HealthOut> {
    ApiOk::new("alive", HealthOut { status: "ok" })
}

/// Ready to serve
///
/// 503 while the database is unreachable, before migrations are applied, and while draining.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Envelope<HealthOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn readyz(State(st): State<AppState>) -> Result<ApiOk<HealthOut>, ApiError> {
    if st.draining.load(Ordering::SeqCst) || !st.migrated.load(Ordering::SeqCst) {
        return Err(ApiError::Unavailable { retry_after_secs: 1 });
    }
    if probe_db(&st).await {
        Ok(ApiOk::new("ready", HealthOut { status: "ok" }))
    } else {
        Err(ApiError::Unavailable { retry_after_secs: 1 })
    }
}

/// How often [`watch_db`] probes.
const DB_PROBE_EVERY: Duration = Duration::from_secs(5);

/// Is the database usable: a pool connection and one round trip within the acquire timeout?
/// What `/readyz` asks; the answer and the wait for the connection go to `/metrics`
/// (`hoody_db_up`, `hoody_db_pool_acquire_seconds`).
pub async fn probe_db(st: &AppState) -> bool {
    let started = Instant::now();
    let probe = async {
        let mut conn = st.db.acquire().await?;
        st.metrics.db.acquire.observe(started.elapsed());
        crate::db::ping(&mut *conn).await
    };
    let up = matches!(tokio::time::timeout(st.cfg.db_acquire_timeout, probe).await, Ok(Ok(())));
    st.metrics.db.probed(up);
    up
}

/// Probe the database every few seconds, so `/metrics` says whether it is usable even when
/// nobody asks `/readyz`.
pub async fn watch_db(st: AppState, stop: Stop) {
    loop {
        probe_db(&st).await;
        tokio::select! {
            _ = tokio::time::sleep(DB_PROBE_EVERY) => {}
            _ = stop.wait() => return,
        }
    }
}

/// Prometheus metrics
///
/// Requests by route template and status, latency histograms, the database's availability and
/// pool use, host calls and breakers per host, the mail outbox, the write-behind queues, the
/// reconciler and the event stream, in the Prometheus text format (`deploy/grafana/` and
/// `deploy/prometheus/` read them). Open unless `HOODY_METRICS_ALLOW` (client CIDRs) or
/// `HOODY_METRICS_TOKEN` (a bearer token) is set; then either one admits (401 without a token
/// when one is configured, 403 otherwise).
#[utoipa::path(get, path = "/metrics", tag = "ops", security((), ("bearer" = [])),
    responses((status = 200, content_type = "text/plain", body = String), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn metrics(State(st): State<AppState>, client: ClientIp, headers: HeaderMap) -> Response {
    if let Err(e) = metrics_allowed(&st, client.ip, &headers) {
        return e.into_response();
    }
    let body = crate::metrics::page::render(&st);
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// `/metrics` is open when neither an allowlist nor a token is configured; otherwise a client in
/// `HOODY_METRICS_ALLOW` or one presenting `HOODY_METRICS_TOKEN` as its bearer is let in.
fn metrics_allowed(st: &AppState, ip: IpAddr, headers: &HeaderMap) -> Result<(), ApiError> {
    let cfg = &st.cfg;
    if cfg.metrics_allow.is_empty() && cfg.metrics_token.is_none() {
        return Ok(());
    }
    if cfg.metrics_allow.iter().any(|n| n.contains(&ip)) {
        return Ok(());
    }
    let Some(expected) = &cfg.metrics_token else {
        return Err(ApiError::forbidden("metrics_forbidden", "Metrics are not available to this address"));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim());
    match presented {
        Some(t) if bool::from(subtle::ConstantTimeEq::ct_eq(t.as_bytes(), expected.as_bytes())) => Ok(()),
        Some(_) => Err(ApiError::unauthenticated("invalid_metrics_token", "The metrics token is not valid")),
        None => Err(ApiError::unauthenticated("metrics_token_required", "Metrics need the metrics bearer token")),
    }
}
