//! `rate_limit`: fixed-window counters shared by every replica, counted in one upsert. The
//! policy (limits, 429, failing closed) is `auth::limits`.

use std::time::Duration;

use sqlx::PgExecutor;

/// Count one hit on `bucket` in its current `window` (a new window once the last one ended): the
/// hits so far in the window and the seconds it has left.
pub async fn hit(db: impl PgExecutor<'_>, bucket: &str, window: Duration) -> sqlx::Result<(i32, f64)> {
    let r = sqlx::query!(
        r#"
        insert into rate_limit (bucket, window_start, hits) values ($1, now(), 1)
        on conflict (bucket) do update set
            hits = case when rate_limit.window_start + $2 <= now() then 1 else rate_limit.hits + 1 end,
            window_start = case when rate_limit.window_start + $2 <= now() then now() else rate_limit.window_start end
        returning hits, extract(epoch from (window_start + $2 - now()))::float8 as "retry_after!"
        "#,
        bucket,
        super::interval(window)?
    )
    .fetch_one(db)
    .await?;
    Ok((r.hits, r.retry_after))
}

/// Take back one hit.
pub async fn undo(db: impl PgExecutor<'_>, bucket: &str) -> sqlx::Result<()> {
    sqlx::query!("update rate_limit set hits = greatest(hits - 1, 0) where bucket = $1", bucket).execute(db).await?;
    Ok(())
}

/// Drop windows that ended long ago.
pub async fn prune(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let r = sqlx::query!("delete from rate_limit where window_start < now() - interval '1 day'").execute(db).await?;
    Ok(r.rows_affected())
}
