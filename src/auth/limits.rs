//! Rate limits held in Postgres, so they hold across replicas and restarts: fixed windows keyed
//! by a bucket name, counted atomically in one upsert.

use std::time::Duration;

use sqlx::PgExecutor;

use crate::error::{ApiError, Result};

pub const HOUR: Duration = Duration::from_secs(3600);
pub const HALF_HOUR: Duration = Duration::from_secs(1800);

/// Count one hit on `bucket`; over `limit` within `window` → 429 with the seconds left.
/// Database errors surface (the caller decides whether that fails closed).
pub async fn hit(db: impl PgExecutor<'_>, bucket: &str, limit: i32, window: Duration) -> Result<()> {
    let (hits, retry_after): (i32, f64) = sqlx::query_as(
        r#"
        insert into rate_limit (bucket, window_start, hits) values ($1, now(), 1)
        on conflict (bucket) do update set
            hits = case when rate_limit.window_start + $2 <= now() then 1 else rate_limit.hits + 1 end,
            window_start = case when rate_limit.window_start + $2 <= now() then now() else rate_limit.window_start end
        returning hits, extract(epoch from (window_start + $2 - now()))::float8
        "#,
    )
    .bind(bucket)
    .bind(window)
    .fetch_one(db)
    .await?;
    if hits > limit {
        return Err(ApiError::RateLimited { retry_after_secs: retry_after.ceil().max(1.0) as u64 });
    }
    Ok(())
}

/// Take back one hit (a login that turned out to succeed is not a failure).
pub async fn undo(db: impl PgExecutor<'_>, bucket: &str) -> Result<()> {
    sqlx::query("update rate_limit set hits = greatest(hits - 1, 0) where bucket = $1")
        .bind(bucket)
        .execute(db)
        .await?;
    Ok(())
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

/// Drop windows that ended long ago.
pub async fn prune(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let r = sqlx::query("delete from rate_limit where window_start < now() - interval '1 day'").execute(db).await?;
    Ok(r.rows_affected())
}
