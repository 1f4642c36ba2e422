//! Rate limits held in Postgres, so they hold across replicas and restarts: fixed windows keyed
//! by a bucket name, counted atomically in one upsert (`db::rate_limits`).

use std::time::Duration;

use sqlx::PgExecutor;

use crate::{
    db::rate_limits,
    error::{ApiError, Result},
};

pub const HOUR: Duration = Duration::from_secs(3600);
pub const HALF_HOUR: Duration = Duration::from_secs(1800);

/// Count one hit on `bucket`; over `limit` within `window` → 429 with the seconds left.
/// Database errors surface (the caller decides whether that fails closed).
pub async fn hit(db: impl PgExecutor<'_>, bucket: &str, limit: i32, window: Duration) -> Result<()> {
    let (hits, retry_after) = rate_limits::hit(db, bucket, window).await?;
    if hits > limit {
        return Err(ApiError::RateLimited { retry_after_secs: retry_after.ceil().max(1.0) as u64 });
    }
    Ok(())
}

/// Take back one hit (a login that turned out to succeed is not a failure).
pub async fn undo(db: impl PgExecutor<'_>, bucket: &str) -> Result<()> {
    Ok(rate_limits::undo(db, bucket).await?)
}

static LIMITER_UNAVAILABLE: crate::telemetry::Throttle = crate::telemetry::Throttle::new(Duration::from_secs(10));

/// Like [`hit`], but any database failure refuses the request (signup is fail-closed).
pub async fn hit_fail_closed(db: impl PgExecutor<'_>, bucket: &str, limit: i32, window: Duration) -> Result<()> {
    match hit(db, bucket, limit, window).await {
        Err(ApiError::Db(e)) => {
            if let Some(suppressed) = LIMITER_UNAVAILABLE.admit() {
                tracing::warn!(error = %e, suppressed, "rate limiter unavailable; refusing");
            }
            Err(ApiError::Unavailable { retry_after_secs: 5 })
        }
        other => other,
    }
}
