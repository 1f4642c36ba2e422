//! Storage shares (`storage_share`), the receivers' choices (`storage_share_override`), the
//! disk devices put on instances (`storage_share_device`) and the custom volumes made for shares
//! (`storage_share_volume`). Lookups find ids with a short
//! query and read the rows in [`rows`].

mod mounts;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub use self::mounts::{
    claim_volume, desired_for, devices_of, devices_of_share, forget_device, hold_volume, orphan_volumes, record_device,
    record_volume, revocation_pending, set_failed, set_override, settled_with_devices, targets_of, targets_of_creator,
    targets_to_sync, volume_of, DesiredMount, DeviceRow, OverrideRow, SettledRow, VolumeRow,
};

#[derive(Debug, Clone)]
pub struct ShareRow {
    pub share_id: String,
    pub source_container_id: String,
    pub source_path: String,
    pub target_container_id: Option<String>,
    pub target_project_id: Option<String>,
    pub mode: String,
    pub alias: Option<String>,
    pub label: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub status: String,
    pub status_message: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub expiry_notified: bool,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The source container's realms, project and owner.
    pub realm_ids: Vec<String>,
    pub source_project_id: String,
    pub owner_id: String,
}

impl ShareRow {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// The rows of `ids`, in that order.
pub async fn rows(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<Vec<ShareRow>> {
    sqlx::query_as!(
        ShareRow,
        r#"select s.share_id, s.source_container_id, s.source_path, s.target_container_id, s.target_project_id,
            s.mode, s.alias, s.label, s.description, s.enabled, s.status, s.status_message, s.expires_at,
            s.expiry_notified, s.created_by, s.created_at, s.updated_at, c.realm_ids,
            c.project_id as source_project_id, p.user_id as owner_id
        from storage_share s join container c on c.container_id = s.source_container_id
            join project p on p.project_id = c.project_id
        where s.share_id = any($1) order by array_position($1, s.share_id)"#,
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Option<ShareRow>> {
    Ok(rows(db, &[share_id.to_owned()]).await?.pop())
}

pub struct NewShare<'a> {
    pub share_id: &'a str,
    pub source_container_id: &'a str,
    pub source_path: &'a str,
    pub pool: &'a str,
    pub target_container_id: Option<&'a str>,
    pub target_project_id: Option<&'a str>,
    pub mode: &'a str,
    pub alias: Option<&'a str>,
    pub label: Option<&'a str>,
    pub description: Option<&'a str>,
    pub enabled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_by: &'a str,
}

pub async fn insert(db: impl PgExecutor<'_>, n: &NewShare<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into storage_share (share_id, source_container_id, source_path, target_container_id,
            target_project_id, mode, alias, label, description, enabled, expires_at, created_by, pool)
        values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        n.share_id,
        n.source_container_id,
        n.source_path,
        n.target_container_id,
        n.target_project_id,
        n.mode,
        n.alias,
        n.label,
        n.description,
        n.enabled,
        n.expires_at,
        n.created_by,
        n.pool,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What a list of a container's shares keeps.
#[derive(Debug, Default)]
pub struct Filters<'a> {
    pub target_type: Option<&'a str>,
    pub label: Option<&'a str>,
    pub status: Option<&'a str>,
    pub enabled: Option<bool>,
    pub include_expired: bool,
}

/// The shares whose source is `container_id`, filtered, oldest first.
pub async fn of_source(db: impl PgExecutor<'_>, container_id: &str, f: &Filters<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select share_id from storage_share where source_container_id = $1
            and ($2::text is null or ($2 = 'container') = (target_container_id is not null))
            and ($3::text is null or label = $3) and ($4::text is null or status = $4)
            and ($5::bool is null or enabled = $5) and ($6 or expires_at is null or expires_at > now())
        order by created_at, share_id",
        container_id,
        f.target_type,
        f.label,
        f.status,
        f.enabled,
        f.include_expired,
    )
    .fetch_all(db)
    .await
}

/// The shares `user_id` created or whose source container is in one of their projects, from
/// containers in `realm` when given, oldest first; only while they may still see the source
/// (its project is theirs or shared with them now).
pub async fn of_user(db: impl PgExecutor<'_>, user_id: &str, realm: Option<&str>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select s.share_id from storage_share s join container c on c.container_id = s.source_container_id
            join project p on p.project_id = c.project_id
        where (s.created_by = $1 or p.user_id = $1) and ($2::text is null or $2 = any(c.realm_ids))
            and c.status <> 'deleted' and (p.user_id = $1 or exists (select 1 from project_permission pp
                where pp.project_id = c.project_id and pp.user_id = $1))
        order by s.created_at, s.share_id",
        user_id,
        realm,
    )
    .fetch_all(db)
    .await
}

/// A share aimed at a container, with the receiver's choice.
#[derive(Debug, Clone)]
pub struct IncomingRow {
    pub share_id: String,
    pub container_id: String,
    pub direct: bool,
    pub mount: bool,
    /// Its device is on the container (as last put there or found by a sync).
    pub mounted: bool,
}

/// Unexpired shares aimed at `containers` (directly, or at their project from another
/// container), with each receiver's choice; direct ones first.
pub async fn incoming(db: impl PgExecutor<'_>, containers: &[String]) -> sqlx::Result<Vec<IncomingRow>> {
    sqlx::query_as!(
        IncomingRow,
        r#"select s.share_id, t.container_id, (s.target_container_id is not null) as "direct!",
            coalesce(o.mount, true) as "mount!",
            exists (select 1 from storage_share_device d where d.share_id = s.share_id
                and d.container_id = t.container_id) as "mounted!"
        from container t join storage_share s on s.target_container_id = t.container_id
            or (s.target_project_id = t.project_id and s.source_container_id <> t.container_id)
            left join storage_share_override o on o.share_id = s.share_id and o.container_id = t.container_id
        where t.container_id = any($1) and s.source_container_id <> t.container_id
            and (s.expires_at is null or s.expires_at > now())
        order by array_position($1, t.container_id), (s.target_container_id is null), s.created_at, s.share_id"#,
        containers
    )
    .fetch_all(db)
    .await
}

/// The containers `user_id` may see (owned or shared with them), in `realm` when given.
pub async fn containers_of(db: impl PgExecutor<'_>, user_id: &str, realm: Option<&str>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select c.container_id from container c join project p on p.project_id = c.project_id
        where c.status not in ('deleting', 'deleted') and (p.user_id = $1 or exists (select 1 from project_permission pp
            where pp.project_id = c.project_id and pp.user_id = $1)) and ($2::text is null or $2 = any(c.realm_ids))
        order by c.created_at, c.container_id",
        user_id,
        realm,
    )
    .fetch_all(db)
    .await
}

/// A partial update: `None` keeps a field; `Some(None)` clears a nullable one.
#[derive(Debug, Default)]
pub struct Patch {
    pub mode: Option<String>,
    pub alias: Option<Option<String>>,
    pub label: Option<Option<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub expires_at: Option<Option<DateTime<Utc>>>,
}

/// Whether the share is enabled, its row locked until the transaction ends (`None`: gone).
pub async fn lock(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!("select enabled from storage_share where share_id = $1 for update", share_id)
        .fetch_optional(db)
        .await
}

/// Serialise the creates of shares of one source container until the transaction ends (each
/// checks the paths already shared before it inserts).
pub async fn lock_source(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('storage_share_source:' || $1, 0))", container_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The source paths already shared from `container_id`, with their shares.
pub async fn paths_of_source(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Vec<(String, String)>> {
    Ok(sqlx::query!(
        "select share_id, source_path from storage_share where source_container_id = $1 order by created_at",
        container_id
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.share_id, r.source_path))
    .collect())
}

/// Apply `p` to the share; a change of mode, state or expiry makes it `active` again (its next
/// mount checks the path anew). Returns whether the row exists.
pub async fn update(db: impl PgExecutor<'_>, share_id: &str, p: &Patch) -> sqlx::Result<bool> {
    let n = sqlx::query!(
        "update storage_share set mode = coalesce($2, mode),
            alias = case when $3 then $4 else alias end,
            label = case when $5 then $6 else label end,
            description = case when $7 then $8 else description end,
            enabled = coalesce($9, enabled),
            expires_at = case when $10 then $11 else expires_at end,
            expiry_notified = case when $10 then false else expiry_notified end,
            status = 'active', status_message = null, updated_at = now()
        where share_id = $1",
        share_id,
        p.mode,
        p.alias.is_some(),
        p.alias.clone().flatten(),
        p.label.is_some(),
        p.label.clone().flatten(),
        p.description.is_some(),
        p.description.clone().flatten(),
        p.enabled,
        p.expires_at.is_some(),
        p.expires_at.flatten(),
    )
    .execute(db)
    .await?;
    Ok(n.rows_affected() == 1)
}

pub async fn delete(db: impl PgExecutor<'_>, share_id: &str) -> sqlx::Result<bool> {
    let n = sqlx::query!("delete from storage_share where share_id = $1", share_id).execute(db).await?;
    Ok(n.rows_affected() == 1)
}

/// Shares of `owner_id`'s containers (what the account cap counts).
pub async fn count_of_owner(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from storage_share s join container c on c.container_id = s.source_container_id
        join project p on p.project_id = c.project_id where p.user_id = $1"#,
        owner_id
    )
    .fetch_one(db)
    .await
}

/// Expired shares whose expiry is not recorded yet, marked recorded (the caller writes their
/// events in the same transaction).
pub async fn take_expired(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "update storage_share set expiry_notified = true, updated_at = now()
        where share_id in (select share_id from storage_share where expires_at <= now() and not expiry_notified
            order by expires_at limit 500 for update skip locked)
        returning share_id"
    )
    .fetch_all(db)
    .await
}
