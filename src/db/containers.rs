//! Container rows, joined with their project (owner, alias) and server, and the caller's access;
//! the short reads of single columns. Writes are in `write`.

mod write;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, PgPool};

pub use self::write::{
    claim, delete, insert, name_taken, random_color, retire_default, set_env, set_kvm, set_network, set_network_sealed,
    set_status, ssh_key_taken, update, NewContainer, UpdateFields,
};
use super::projects::Level;
use crate::{api::list::Counted, events::Tx};

#[derive(Debug, Clone)]
pub struct ContainerRow {
    pub container_id: String,
    pub project_id: String,
    pub server_id: Option<String>,
    pub lxd_name: String,
    pub name: String,
    pub color: String,
    pub container_image: String,
    pub status: String,
    pub status_changed_at: DateTime<Utc>,
    pub ai: bool,
    pub hoody_kit: bool,
    pub dev_kit: bool,
    pub kvm: bool,
    pub autostart: bool,
    pub ramdisk: bool,
    pub ramdisk_scope: String,
    pub prespawn: bool,
    pub is_default: bool,
    pub environment_vars: serde_json::Value,
    pub ssh_public_key: Option<String>,
    pub comment: Option<String>,
    pub source_container_id: Option<String>,
    pub copy_firewall_rules: bool,
    pub copy_network_rules: bool,
    pub realm_ids: Vec<String>,
    pub network: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub project_alias: String,
    pub owner_id: String,
    pub server_name: Option<String>,
    pub server_region: Option<String>,
    pub server_country: Option<String>,
    pub server_city: Option<String>,
    pub server_datacenter: Option<String>,
    pub server_is_free: Option<bool>,
    pub server_cores: Option<i32>,
    pub server_ram_mb: Option<i64>,
    pub server_disk_gb: Option<i64>,
    pub snapshot_count: i64,
    pub last_used_snapshot: Option<String>,
    /// The caller's access: `owner` or their permission level on the project.
    pub access: String,
}

impl ContainerRow {
    pub fn level(&self) -> Level {
        Level::parse(&self.access).unwrap_or(Level::Read)
    }

    /// The environment as string pairs.
    pub fn env(&self) -> std::collections::BTreeMap<String, String> {
        self.environment_vars
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default()
    }
}

/// The rows of `ids`, in that order, each with `caller`'s access. With a caller, only the
/// containers they may see (they own the project or hold a permission row on it) and that are
/// not deleted; without one (background work), every row, its `access` reading `none`.
///
/// The one place the long select is written: every lookup finds ids (a short query) and reads
/// the rows here.
pub async fn rows(db: impl PgExecutor<'_>, ids: &[String], caller: Option<&str>) -> sqlx::Result<Vec<ContainerRow>> {
    sqlx::query_as!(
        ContainerRow,
        r#"select c.container_id, c.project_id, c.server_id, c.lxd_name, c.name, c.color, c.container_image,
            c.status, c.status_changed_at, c.ai, c.hoody_kit, c.dev_kit, c.kvm, c.autostart, c.ramdisk,
            c.ramdisk_scope, c.prespawn, c.is_default, c.environment_vars, c.ssh_public_key, c.comment,
            c.source_container_id, c.copy_firewall_rules, c.copy_network_rules, c.realm_ids, c.network,
            c.created_at, c.updated_at, p.alias as project_alias, p.user_id as owner_id,
            s.name as "server_name?", s.region as "server_region?", s.country as "server_country?",
            s.city as "server_city?", s.datacenter as "server_datacenter?", s.is_free as "server_is_free?",
            s.cores as "server_cores?", s.ram_mb as "server_ram_mb?", s.disk_gb as "server_disk_gb?",
            (select count(*) from container_snapshot cs where cs.container_id = c.container_id)
                as "snapshot_count!",
            (select cs.name from container_snapshot cs where cs.container_id = c.container_id
                and cs.last_used_at is not null order by cs.last_used_at desc limit 1) as last_used_snapshot,
            coalesce(case when p.user_id = $2 then 'owner' else (select pp.level from project_permission pp
                where pp.project_id = c.project_id and pp.user_id = $2) end, 'none') as "access!"
        from container c join project p on p.project_id = c.project_id left join server s on s.server_id = c.server_id
        where c.container_id = any($1) and ($2::text is null or (c.status <> 'deleted' and (p.user_id = $2
            or exists (select 1 from project_permission pp where pp.project_id = c.project_id and pp.user_id = $2))))
        order by array_position($1, c.container_id)"#,
        ids,
        caller,
    )
    .fetch_all(db)
    .await
}

/// A container the caller may see (the per-request lookup).
pub async fn visible(db: impl PgExecutor<'_>, container_id: &str, user_id: &str) -> sqlx::Result<Option<ContainerRow>> {
    Ok(rows(db, &[container_id.to_owned()], Some(user_id)).await?.pop())
}

/// A container by id whoever owns it.
pub async fn by_id(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Option<ContainerRow>> {
    Ok(rows(db, &[container_id.to_owned()], None).await?.pop())
}

/// Every container of a project, oldest first (background work: project deletion).
pub async fn of_project(db: &PgPool, project_id: &str) -> sqlx::Result<Vec<ContainerRow>> {
    let ids =
        sqlx::query_scalar!("select container_id from container where project_id = $1 order by created_at", project_id)
            .fetch_all(db)
            .await?;
    rows(db, &ids, None).await
}

/// Containers whose server was removed from the registry, not yet failed or being deleted.
pub async fn orphaned(db: &PgPool) -> sqlx::Result<Vec<ContainerRow>> {
    let ids = sqlx::query_scalar!(
        "select container_id from container where server_id is null and status not in ('failed', 'deleting') \
         limit 1000"
    )
    .fetch_all(db)
    .await?;
    rows(db, &ids, None).await
}

/// Deletes left half done for longer than `stuck_secs`.
pub async fn stale_deletes(db: &PgPool, stuck_secs: i64) -> sqlx::Result<Vec<ContainerRow>> {
    let ids = sqlx::query_scalar!(
        "select container_id from container where status = 'deleting' \
         and status_changed_at < now() - make_interval(secs => $1::float8) limit 100",
        stuck_secs as f64
    )
    .fetch_all(db)
    .await?;
    rows(db, &ids, None).await
}

/// Containers on a server the reconciler should check: settled ones, and ones stuck in a
/// host operation for longer than `stuck_secs` (the process doing it died).
pub async fn to_reconcile(db: &PgPool, server_id: &str, stuck_secs: i64) -> sqlx::Result<Vec<ContainerRow>> {
    let ids = sqlx::query_scalar!(
        "select container_id from container where server_id = $1 \
         and (status in ('running', 'stopped', 'paused', 'failed') or (status in ('creating', 'copying', 'claiming') \
         and status_changed_at < now() - make_interval(secs => $2::float8))) order by container_id limit 5000",
        server_id,
        stuck_secs as f64
    )
    .fetch_all(db)
    .await?;
    rows(db, &ids, None).await
}

/// The containers a project's statistics cover (not prespawned, not being deleted; in `realm`
/// only, when given), oldest first, as `caller` sees them.
pub async fn for_stats(
    db: &PgPool,
    project_id: &str,
    realm: Option<&str>,
    caller: &str,
) -> sqlx::Result<Vec<ContainerRow>> {
    let ids = sqlx::query_scalar!(
        "select container_id from container where project_id = $1 and not prespawn \
         and status not in ('deleting', 'deleted') and ($2::text is null or $2 = any(realm_ids)) \
         order by created_at limit 1000",
        project_id,
        realm
    )
    .fetch_all(db)
    .await?;
    rows(db, &ids, Some(caller)).await
}

/// What a container list shows: one project's or all the caller may see, in a realm or all;
/// prespawned and deleting ones only when asked.
pub struct ListFilter<'a> {
    pub caller: &'a str,
    pub project_id: Option<&'a str>,
    pub realm: Option<&'a str>,
    pub prespawn: bool,
    pub deleting: bool,
}

#[derive(FromRow)]
pub struct Listed {
    pub container_id: String,
}

/// One page of a container list: ids, each with the list's total (read the rows with [`rows`]).
/// Dynamic: ordered by `order`, a whitelisted column (`ContainerSort` via `ListParams::order_by`).
pub async fn page(
    db: impl PgExecutor<'_>,
    f: &ListFilter<'_>,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<Counted<Listed>>> {
    let sql = format!(
        "select c.container_id, count(*) over () as total from container c \
         join project p on p.project_id = c.project_id \
         where (p.user_id = $2 or exists (select 1 from project_permission pp \
             where pp.project_id = c.project_id and pp.user_id = $2)) \
         and c.status <> 'deleted' and ($1::text is null or c.project_id = $1) \
         and ($3::text is null or $3 = any(c.realm_ids)) and ($6 or not c.prespawn) \
         and ($7 or c.status <> 'deleting') \
         order by {order}, c.container_id limit $4 offset $5"
    );
    sqlx::query_as(&sql)
        .bind(f.project_id)
        .bind(f.caller)
        .bind(f.realm)
        .bind(limit)
        .bind(offset)
        .bind(f.prespawn)
        .bind(f.deleting)
        .fetch_all(db)
        .await
}

/// The status now (no lock).
pub async fn status(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select status from container where container_id = $1", container_id).fetch_optional(db).await
}

/// The status now, the row locked for `tx`.
pub async fn status_for_update(tx: &mut Tx, container_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select status from container where container_id = $1 for update", container_id)
        .fetch_optional(&mut **tx)
        .await
}

/// The status and since when, the row locked for `tx`.
pub async fn status_since_for_update(tx: &mut Tx, container_id: &str) -> sqlx::Result<Option<(String, DateTime<Utc>)>> {
    let row = sqlx::query!(
        "select status, status_changed_at from container where container_id = $1 for update",
        container_id
    )
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|r| (r.status, r.status_changed_at)))
}

/// The environment as stored, the row locked for `tx`.
pub async fn env_for_update(tx: &mut Tx, container_id: &str) -> sqlx::Result<Value> {
    sqlx::query_scalar!("select environment_vars from container where container_id = $1 for update", container_id)
        .fetch_one(&mut **tx)
        .await
}

/// The network setting and the sealed proxy URL; `None` when there is no such container.
pub async fn network(
    db: impl PgExecutor<'_>,
    container_id: &str,
) -> sqlx::Result<Option<(Option<Value>, Option<Vec<u8>>)>> {
    let row = sqlx::query!("select network, network_proxy_sealed from container where container_id = $1", container_id)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| (r.network, r.network_proxy_sealed)))
}

/// Whether a container of the project is busy on its host being created, copied or claimed.
pub async fn creating_in_project(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from container where project_id = $1
            and status in ('creating', 'copying', 'claiming')) as "busy!""#,
        project_id
    )
    .fetch_one(db)
    .await
}

/// One of `owner_id`'s prespawned containers on `server_id` from `image`, settled, oldest
/// first, locked for `tx` (one another claim holds is skipped).
pub async fn claimable(tx: &mut Tx, owner_id: &str, server_id: &str, image: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select c.container_id from container c join project p on p.project_id = c.project_id \
         where p.user_id = $1 and c.prespawn and c.server_id = $2 and c.container_image = $3 \
         and c.status in ('running', 'stopped') order by c.created_at limit 1 for update of c skip locked",
        owner_id,
        server_id,
        image
    )
    .fetch_optional(&mut **tx)
    .await
}

/// A project's default container (not being deleted): its id and status.
pub async fn default_of(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query!(
        "select container_id, status from container where project_id = $1 and is_default and status <> 'deleting'",
        project_id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.container_id, r.status)))
}

/// Whether the project has a container named `name`.
pub async fn name_used(db: impl PgExecutor<'_>, project_id: &str, name: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from container where project_id = $1 and name = $2) as "used!""#,
        project_id,
        name
    )
    .fetch_one(db)
    .await
}

/// Whether `user_id`'s default container (in their default project) runs.
pub async fn default_running(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from container c join project p on p.project_id = c.project_id
            where p.user_id = $1 and p.is_default and c.is_default and c.status = 'running') as "running!""#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Which of `ids` have a row.
pub async fn existing(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select container_id from container where container_id = any($1)", ids).fetch_all(db).await
}
