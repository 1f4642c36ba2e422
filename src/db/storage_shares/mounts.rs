//! Where shares are mounted: what should be (the view `storage_share_desired`: the source
//! device of every share, the target devices of enabled, unexpired, accepted shares, both ends
//! settled on one host) against what was put on the hosts (`storage_share_device`), and the
//! custom volumes made for shares (`storage_share_volume`).

use sqlx::PgExecutor;

/// A device that should be on a container: the share's volume at `mount_path`.
#[derive(Debug, Clone)]
pub struct DesiredMount {
    pub share_id: String,
    /// The source's device (at its `source_path`), else a target's.
    pub is_source: bool,
    pub readonly: bool,
    pub mount_path: String,
    pub pool: String,
    pub volume: String,
}

/// The devices that should be on `container_id` now, its source devices first, then its target
/// devices oldest first.
pub async fn desired_for(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<DesiredMount>> {
    sqlx::query_as!(
        DesiredMount,
        r#"select d.share_id as "share_id!", d.is_source as "is_source!", d.readonly as "readonly!",
            d.mount_path as "mount_path!", d.pool as "pool!", d.volume as "volume!"
        from storage_share_desired d join storage_share s on s.share_id = d.share_id
        where d.container_id = $1 order by d.is_source desc, s.created_at, s.share_id"#,
        container_id
    )
    .fetch_all(db)
    .await
}

/// Containers whose devices differ from what should be on them (a share to mount, one to
/// remove, a mode or a mount path to change).
pub async fn targets_to_sync(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"with desired as (select container_id, share_id, readonly, mount_path from storage_share_desired),
        have as (select d.container_id, d.share_id, d.readonly, d.mount_path from storage_share_device d
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
    pub pool: String,
    /// The volume (`share-<share id>`).
    pub source: String,
    pub readonly: bool,
    pub mount_path: String,
}

pub async fn devices_of(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<DeviceRow>> {
    sqlx::query_as!(
        DeviceRow,
        "select share_id, device, pool, source, readonly, mount_path from storage_share_device where container_id = $1",
        container_id
    )
    .fetch_all(db)
    .await
}

/// The containers a share's devices are recorded on.
pub async fn devices_of_share(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select container_id from storage_share_device where share_id = $1", share_id)
        .fetch_all(db)
        .await
}

pub async fn record_device(db: impl PgExecutor<'_>, container_id: &str, d: &DeviceRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into storage_share_device (container_id, share_id, device, pool, source, readonly, mount_path)
        values ($1, $2, $3, $4, $5, $6, $7) on conflict (container_id, share_id) do update
        set device = $3, pool = $4, source = $5, readonly = $6, mount_path = $7",
        container_id,
        d.share_id,
        d.device,
        d.pool,
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

/// The share cannot be mounted as it stands (its source path has a symlink, or is gone): `failed`
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

/// Every container a share is (or should be) mounted on: its device rows, its source container,
/// its target container, its target project's settled containers but the source.
pub async fn targets_of(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select container_id as "container_id!" from storage_share_device where share_id = $1
        union select source_container_id from storage_share where share_id = $1
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

/// The containers the shares `user_id` created may be mounted on: those holding one of their
/// target devices and their current targets (what changes when the user's access does).
pub async fn targets_of_creator(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"select d.container_id as "container_id!" from storage_share_device d
            join storage_share s on s.share_id = d.share_id where s.created_by = $1
        union select s.target_container_id from storage_share s where s.created_by = $1
            and s.target_container_id is not null
        union select c.container_id from storage_share s join container c on c.project_id = s.target_project_id
            and c.container_id <> s.source_container_id
            where s.created_by = $1 and c.status in ('running', 'stopped', 'paused')
        order by 1"#,
        user_id
    )
    .fetch_all(db)
    .await
}

/// A custom volume made for a share.
#[derive(Debug, Clone)]
pub struct VolumeRow {
    pub share_id: String,
    pub server_id: Option<String>,
    pub pool: String,
    pub volume: String,
}

pub async fn record_volume(db: impl PgExecutor<'_>, v: &VolumeRow) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into storage_share_volume (share_id, server_id, pool, volume) values ($1, $2, $3, $4)
        on conflict (share_id) do nothing",
        v.share_id,
        v.server_id,
        v.pool,
        v.volume,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Record the volume and keep it until `until` whatever its share (a restore about to use it).
pub async fn hold_volume(
    db: impl PgExecutor<'_>,
    v: &VolumeRow,
    until: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into storage_share_volume (share_id, server_id, pool, volume, keep_until) values ($1, $2, $3, $4, $5)
        on conflict (share_id) do update
        set keep_until = greatest(storage_share_volume.keep_until, excluded.keep_until)",
        v.share_id,
        v.server_id,
        v.pool,
        v.volume,
        until,
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn volume_of(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Option<VolumeRow>> {
    sqlx::query_as!(
        VolumeRow,
        "select share_id, server_id, pool, volume from storage_share_volume where share_id = $1",
        share_id
    )
    .fetch_optional(db)
    .await
}

/// Take the volume's row when nothing keeps the volume (no device recorded, no restore holding
/// it): the caller deletes the volume, or records the row again when it cannot.
pub async fn claim_volume(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Option<VolumeRow>> {
    sqlx::query_as!(
        VolumeRow,
        "delete from storage_share_volume v where v.share_id = $1
            and (v.keep_until is null or v.keep_until < now())
            and not exists (select 1 from storage_share_device d where d.share_id = v.share_id)
        returning v.share_id, v.server_id, v.pool, v.volume",
        share_id
    )
    .fetch_optional(db)
    .await
}

/// Whether a device of the share is still recorded where it should no longer be, or with other
/// settings than it should have (a change that takes access away not applied yet).
pub async fn revocation_pending(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from storage_share_device d where d.share_id = $1
            and not exists (select 1 from storage_share_desired w where w.share_id = d.share_id
                and w.container_id = d.container_id and w.readonly = d.readonly
                and w.mount_path = d.mount_path)) as "pending!""#,
        share_id
    )
    .fetch_one(db)
    .await
}

/// Volumes whose share is gone and that no device uses any more: to delete from their hosts.
pub async fn orphan_volumes(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<VolumeRow>> {
    sqlx::query_as!(
        VolumeRow,
        "select v.share_id, v.server_id, v.pool, v.volume from storage_share_volume v
        where not exists (select 1 from storage_share s where s.share_id = v.share_id)
            and (v.keep_until is null or v.keep_until < now())
            and not exists (select 1 from storage_share_device d where d.share_id = v.share_id)
        order by v.created_at limit 200"
    )
    .fetch_all(db)
    .await
}

/// A settled container and one share device recorded on it (`device` null: none).
#[derive(Debug, Clone)]
pub struct SettledRow {
    pub container_id: String,
    pub server_id: Option<String>,
    pub lxd_name: String,
    pub device: Option<DeviceRow>,
}

/// Every settled container on a server, with the share devices recorded on it (what the
/// sweeper compares with the devices its host reports).
pub async fn settled_with_devices(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<SettledRow>> {
    let rows = sqlx::query!(
        r#"select c.container_id, c.server_id as "server_id!", c.lxd_name, d.share_id as "share_id?",
            d.device as "device?", d.pool as "pool?", d.source as "source?", d.readonly as "readonly?",
            d.mount_path as "mount_path?"
        from container c left join storage_share_device d on d.container_id = c.container_id
        where c.status in ('running', 'stopped', 'paused') and c.server_id is not null
        order by c.container_id"#
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let device = match (r.share_id, r.device, r.pool, r.source, r.readonly, r.mount_path) {
                (Some(share_id), Some(device), Some(pool), Some(source), Some(readonly), Some(mount_path)) => {
                    Some(DeviceRow { share_id, device, pool, source, readonly, mount_path })
                }
                _ => None,
            };
            SettledRow { container_id: r.container_id, server_id: Some(r.server_id), lxd_name: r.lxd_name, device }
        })
        .collect())
}
