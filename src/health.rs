//! Operational endpoints outside `/api/v1`: liveness, readiness and metrics.

use std::sync::atomic::Ordering;

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody},
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
    let ping = tokio::time::timeout(st.cfg.db_acquire_timeout, sqlx::query("select 1").execute(&st.db)).await;
    match ping {
        Ok(Ok(_)) => Ok(ApiOk::new("ready", HealthOut { status: "ok" })),
        _ => Err(ApiError::Unavailable { retry_after_secs: 1 }),
    }
}

/// Prometheus metrics
///
/// Requests by route template and status, latency histograms, database pool use and records
/// dropped by the write-behind queues, in the
/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, content_type = "text/plain", body = String), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn metrics(State(st): State<AppState>) -> Response {
    let mut body = st.metrics.render(&st.db, st.cfg.db_max_connections);
    body.push_str("# HELP hoody_writeback_dropped_total Records dropped because a write-behind queue was full.\n");
    body.push_str("# TYPE hoody_writeback_dropped_total counter\n");
    body.push_str(&format!("hoody_writeback_dropped_total{{queue=\"activity\"}} {}\n", st.activity.dropped()));
    body.push_str(&format!("hoody_writeback_dropped_total{{queue=\"token_use\"}} {}\n", st.token_use.dropped()));
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}
