//! Container status log rows: one per status change (the first with no previous status).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor};

use super::new_id;
use crate::api::list::Counted;

/// A change from `from` (none for a new container) to `to` at `at`, `duration_ms` after the
/// previous one, caused by `by`.
pub struct Entry<'a> {
    pub container_id: &'a str,
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub at: DateTime<Utc>,
    pub duration_ms: Option<i64>,
    pub by: &'a str,
    pub metadata: Option<&'a Value>,
}

pub async fn insert(db: impl PgExecutor<'_>, e: &Entry<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_status_log (log_id, container_id, from_status, to_status, transition_time, \
         duration_ms, triggered_by, metadata) values ($1, $2, $3, $4, $5, $6, $7, $8)",
        new_id(),
        e.container_id,
        e.from,
        e.to,
        e.at,
        e.duration_ms,
        e.by,
        e.metadata,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The first row of a new container: no previous status, the time the database gives.
pub async fn insert_first(db: impl PgExecutor<'_>, container_id: &str, to: &str, by: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_status_log (log_id, container_id, from_status, to_status, triggered_by) \
         values ($1, $2, null, $3, $4)",
        new_id(),
        container_id,
        to,
        by
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Whether the container ever reached `running`.
pub async fn ever_ran(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from container_status_log where container_id = $1 and to_status = 'running')
            as "ran!""#,
        container_id
    )
    .fetch_one(db)
    .await
}

#[derive(FromRow)]
pub struct StatusLogRow {
    pub log_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub transition_time: DateTime<Utc>,
    pub duration_ms: Option<i64>,
    pub triggered_by: String,
    pub metadata: Option<Value>,
}

/// One page of a container's log, each row with the total. Dynamic: ordered by `order`, a
/// whitelisted column (`StatusLogSort` via `ListParams::order_by`).
pub async fn page(
    db: impl PgExecutor<'_>,
    container_id: &str,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<StatusLogRow>>> {
    let sql = format!(
        "select count(*) over () as total, log_id, from_status, to_status, transition_time, duration_ms, triggered_by, \
         metadata from container_status_log where container_id = $1 order by {order}, transition_time, log_id \
         limit $2 offset $3"
    );
    sqlx::query_as(&sql).bind(container_id).bind(limit).bind(offset).fetch_all(db).await
}
