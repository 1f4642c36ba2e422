//! Where shares are mounted: what should be (enabled, unexpired, accepted, both ends settled on
//! one host) against what was put on the hosts (`storage_share_device`).

use sqlx::PgExecutor;

/// A share that should be mounted on a target container.
#[derive(Debug, Clone)]
pub struct DesiredMount {
    pub share_id: String,
    pub source_path: String,
    pub readonly: bool,
    pub alias: Option<String>,
    pub source_lxd_name: String,
}

/// The shares that should be mounted on `container_id` now, oldest first.
pub async fn desired_for(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<DesiredMount>> {
    sqlx::query_as!(
        DesiredMount,
        r#"select s.share_id, s.source_path, (s.mode = 'readonly') as "readonly!", s.alias,
            src.lxd_name as source_lxd_name
        from container t join storage_share s on (s.target_container_id = t.container_id
                or s.target_project_id = t.project_id) and s.source_container_id <> t.container_id
            join container src on src.container_id = s.source_container_id
        where t.container_id = $1 and s.enabled and s.status = 'active'
            and (s.expires_at is null or s.expires_at > now())
            and t.status in ('running', 'stopped', 'paused') and src.status in ('running', 'stopped', 'paused')
            and src.server_id = t.server_id
            and not exists (select 1 from storage_share_override o where o.share_id = s.share_id
                and o.container_id = t.container_id and not o.mount)
        order by s.created_at, s.share_id"#,
        container_id
    )
    .fetch_all(db)
    .await
}

/// Target containers whose devices differ from what should be mounted on them (a share to
/// mount, one to remove, or a mode to change).
pub async fn targets_to_sync(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"with desired as (
            select t.container_id, s.share_id, (s.mode = 'readonly') as readonly
            from storage_share s join container t on (t.container_id = s.target_container_id
                    or t.project_id = s.target_project_id) and t.container_id <> s.source_container_id
                join container src on src.container_id = s.source_container_id
            where s.enabled and s.status = 'active' and (s.expires_at is null or s.expires_at > now())
                and t.status in ('running', 'stopped', 'paused') and src.status in ('running', 'stopped', 'paused')
                and src.server_id = t.server_id
                and not exists (select 1 from storage_share_override o where o.share_id = s.share_id
                    and o.container_id = t.container_id and not o.mount)),
        have as (select d.container_id, d.share_id, d.readonly from storage_share_device d
            join container t on t.container_id = d.container_id
            where t.status in ('running', 'stopped', 'paused'))
        select distinct container_id as "container_id!" from (
            (select * from desired except select * from have)
            union all (select * from have except select * from desired)) diff
        order by 1 limit 200"#
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub share_id: String,
    pub device: String,
    pub source: String,
    pub readonly: bool,
    pub mount_path: String,
}

pub async fn devices_of(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<DeviceRow>> {
    sqlx::query_as!(
        DeviceRow,
        "select share_id, device, source, readonly, mount_path from storage_share_device where container_id = $1",
        container_id
    )
    .fetch_all(db)
    .await
}

pub async fn record_device(db: impl PgExecutor<'_>, container_id: &str, d: &DeviceRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into storage_share_device (container_id, share_id, device, source, readonly, mount_path)
        values ($1, $2, $3, $4, $5, $6) on conflict (container_id, share_id) do update
        set device = $3, source = $4, readonly = $5, mount_path = $6",
        container_id,
        d.share_id,
        d.device,
        d.source,
        d.readonly,
        d.mount_path,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn forget_device(db: impl PgExecutor<'_>, container_id: &str, share_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from storage_share_device where container_id = $1 and share_id = $2", container_id, share_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The share cannot be mounted as it stands (its path has a symlink, or is gone): `failed`
/// until it is updated.
pub async fn set_failed(db: impl PgExecutor<'_>, share_id: &str, message: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update storage_share set status = 'failed', status_message = $2, updated_at = now() where share_id = $1",
        share_id,
        message
    )
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct OverrideRow {
    pub override_id: String,
    pub share_id: String,
    pub container_id: String,
    pub mount: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// The receiver's choice for a share.
pub async fn set_override(
    db: impl PgExecutor<'_>,
    share_id: &str,
    container_id: &str,
    mount: bool,
) -> sqlx::Result<OverrideRow> {
    sqlx::query_as!(
        OverrideRow,
        "insert into storage_share_override (override_id, share_id, container_id, mount) values ($1, $2, $3, $4)
        on conflict (share_id, container_id) do update set mount = $4, updated_at = now()
        returning override_id, share_id, container_id, mount, created_at, updated_at",
        crate::db::new_id(),
        share_id,
        container_id,
        mount
    )
    .fetch_one(db)
    .await
}

/// Every container a share is (or should be) mounted on: its device rows, its target
/// container, its target project's settled containers but the source.
pub async fn targets_of(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select container_id as "container_id!" from storage_share_device where share_id = $1
        union select target_container_id from storage_share where share_id = $1 and target_container_id is not null
        union select c.container_id from storage_share s join container c on c.project_id = s.target_project_id
            and c.container_id <> s.source_container_id
            where s.share_id = $1 and c.status in ('running', 'stopped', 'paused')
        order by 1"#,
        share_id
    )
    .fetch_all(db)
    .await
}
