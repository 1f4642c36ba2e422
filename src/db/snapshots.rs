//! What we keep about a container's snapshots (LXD keeps the snapshots): their aliases and when
//! each was last restored.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub struct SnapshotRow {
    pub name: String,
    pub alias: Option<String>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// Every record of a container's snapshots.
pub async fn of_container(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<SnapshotRow>> {
    sqlx::query_as!(
        SnapshotRow,
        "select name, alias, last_used_at from container_snapshot where container_id = $1",
        container_id
    )
    .fetch_all(db)
    .await
}

/// Record a new snapshot (a taken name is an error).
pub async fn insert(db: impl PgExecutor<'_>, container_id: &str, name: &str, alias: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_snapshot (container_id, name, alias) values ($1, $2, $3)",
        container_id,
        name,
        alias
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Set a snapshot's alias (recording the snapshot if it was not).
pub async fn set_alias(
    db: impl PgExecutor<'_>,
    container_id: &str,
    name: &str,
    alias: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_snapshot (container_id, name, alias) values ($1, $2, $3) \
         on conflict (container_id, name) do update set alias = excluded.alias",
        container_id,
        name,
        alias
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Note that the container was restored to the snapshot now.
pub async fn mark_restored(db: impl PgExecutor<'_>, container_id: &str, name: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into container_snapshot (container_id, name, last_used_at) values ($1, $2, now()) \
         on conflict (container_id, name) do update set last_used_at = now()",
        container_id,
        name
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn delete(db: impl PgExecutor<'_>, container_id: &str, name: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from container_snapshot where container_id = $1 and name = $2", container_id, name)
        .execute(db)
        .await?;
    Ok(())
}
