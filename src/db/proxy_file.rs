//! What proxy permission file each instance holds (`lifecycle::ops::PushProxyFile`).

use sqlx::PgExecutor;

/// Record a file written from these versions (never going back: a slower writer of older
/// versions does not hide a newer file).
pub async fn record(db: impl PgExecutor<'_>, container_id: &str, versions: (i64, i64)) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into proxy_file (container_id, container_version, project_version) values ($1, $2, $3) \
         on conflict (container_id) do update set \
           container_version = excluded.container_version, project_version = excluded.project_version, \
           written_at = now() \
         where (proxy_file.container_version, proxy_file.project_version) \
               <= (excluded.container_version, excluded.project_version)",
        container_id,
        versions.0,
        versions.1
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Containers of `server_id` whose documents moved on since their file was written (or that
/// have a document and no file, or are copies that were never given one): container id with
/// the versions wanted now.
pub async fn behind(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query!(
        r#"select c.container_id as "container_id!",
                  coalesce(cd.version, 0) as "container_version!",
                  coalesce(pd.version, 0) as "project_version!"
           from container c
           left join document cd on cd.kind = 'proxy.container' and cd.owner_key = c.container_id
           left join document pd on pd.kind = 'proxy.project' and pd.owner_key = c.project_id
           left join proxy_file f on f.container_id = c.container_id
           where c.server_id = $1 and c.status in ('running', 'stopped', 'paused')
             and (cd.version is not null or pd.version is not null
                  -- A copy carries its source's file: it gets its own (open, when it has no
                  -- document) once.
                  or (c.source_container_id is not null and f.container_id is null))
             and (f.container_id is null
                  or f.container_version <> coalesce(cd.version, 0)
                  or f.project_version <> coalesce(pd.version, 0))"#,
        server_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.container_id, r.container_version, r.project_version)).collect())
}

/// Running containers of `server_id` that were given a file (the reconciler checks it is
/// still there and current).
pub async fn given(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<Vec<(String, i64, i64)>> {
    let rows = sqlx::query!(
        "select f.container_id, f.container_version, f.project_version from proxy_file f \
         join container c using (container_id) where c.server_id = $1 and c.status = 'running'",
        server_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.container_id, r.container_version, r.project_version)).collect())
}
