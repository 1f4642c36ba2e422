//! Container rows, joined with their project (owner, alias) and server, and the caller's access.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

use super::projects::Level;
use crate::error::{ApiError, ResultExt};

#[derive(Debug, Clone, FromRow)]
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

/// The select list and joins; `$2` is the caller's user id.
pub const SELECT: &str = "select c.container_id, c.project_id, c.server_id, c.lxd_name, c.name, c.color, \
    c.container_image, c.status, c.status_changed_at, c.ai, c.hoody_kit, c.dev_kit, c.kvm, c.autostart, c.ramdisk, \
    c.ramdisk_scope, c.prespawn, c.is_default, c.environment_vars, c.ssh_public_key, c.comment, \
    c.source_container_id, c.copy_firewall_rules, c.copy_network_rules, c.realm_ids, c.network, c.created_at, \
    c.updated_at, p.alias as project_alias, p.user_id as owner_id, s.name as server_name, \
    s.region as server_region, s.country as server_country, s.city as server_city, \
    s.datacenter as server_datacenter, s.is_free as server_is_free, s.cores as server_cores, \
    s.ram_mb as server_ram_mb, s.disk_gb as server_disk_gb, \
    (select count(*) from container_snapshot cs where cs.container_id = c.container_id) as snapshot_count, \
    (select cs.name from container_snapshot cs where cs.container_id = c.container_id and cs.last_used_at is not null \
        order by cs.last_used_at desc limit 1) as last_used_snapshot, \
    coalesce(case when p.user_id = $2 then 'owner' else (select pp.level from project_permission pp \
        where pp.project_id = c.project_id and pp.user_id = $2) end, 'none') as access \
    from container c join project p on p.project_id = c.project_id left join server s on s.server_id = c.server_id";

/// The caller may see the container: they own its project or hold a permission row on it.
pub const VISIBLE: &str = "(p.user_id = $2 or exists (select 1 from project_permission pp \
    where pp.project_id = c.project_id and pp.user_id = $2))";

pub async fn visible(db: impl PgExecutor<'_>, container_id: &str, user_id: &str) -> sqlx::Result<Option<ContainerRow>> {
    let sql = format!("{SELECT} where c.container_id = $1 and c.status <> 'deleted' and {VISIBLE}");
    sqlx::query_as(&sql).bind(container_id).bind(user_id).fetch_optional(db).await
}

/// Containers whoever owns them (background work: reconciler, free tier, project deletion),
/// `filter` over `c.`/`p.` with `$1` (text) as its one argument. `$2` (the caller, for `access`) is
/// null here: `access` reads `none`.
async fn unscoped(db: impl PgExecutor<'_>, filter: &str, arg: &str) -> sqlx::Result<Vec<ContainerRow>> {
    let sql = format!("{SELECT} where $2::text is null and $1::text is not null and {filter}");
    sqlx::query_as(&sql).bind(arg).bind(None::<String>).fetch_all(db).await
}

/// A container by id whoever owns it.
pub async fn by_id(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Option<ContainerRow>> {
    Ok(unscoped(db, "c.container_id = $1", container_id).await?.into_iter().next())
}

/// Every container of a project, oldest first.
pub async fn of_project(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<Vec<ContainerRow>> {
    unscoped(db, "c.project_id = $1 order by c.created_at", project_id).await
}

/// Containers whose server was removed from the registry, not yet failed or being deleted.
pub async fn orphaned(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ContainerRow>> {
    unscoped(db, "c.server_id is null and c.status not in ('failed', 'deleting') limit 1000", "").await
}

/// Deletes left half done for longer than `stuck_secs`.
pub async fn stale_deletes(db: impl PgExecutor<'_>, stuck_secs: i64) -> sqlx::Result<Vec<ContainerRow>> {
    let filter = "c.status = 'deleting' and c.status_changed_at < now() - make_interval(secs => $1::float8) limit 100";
    unscoped(db, filter, &stuck_secs.to_string()).await
}

/// Containers on a server the reconciler should check: settled ones, and ones stuck in a
/// host operation for longer than `stuck_secs` (the process doing it died).
pub async fn to_reconcile(
    db: impl PgExecutor<'_>,
    server_id: &str,
    stuck_secs: i64,
) -> sqlx::Result<Vec<ContainerRow>> {
    let sql = format!(
        "{SELECT} where c.server_id = $1 and $2::text is null and (c.status in ('running', 'stopped', 'paused', 'failed') \
         or (c.status in ('creating', 'copying', 'claiming') and c.status_changed_at < now() - make_interval(secs => $3))) \
         order by c.container_id limit 5000"
    );
    sqlx::query_as(&sql).bind(server_id).bind(None::<String>).bind(stuck_secs as f64).fetch_all(db).await
}

/// What a new container row holds; the rest takes the table's defaults.
#[derive(Debug, Clone)]
pub struct NewContainer {
    pub container_id: String,
    pub project_id: String,
    pub server_id: String,
    pub name: String,
    pub color: String,
    pub container_image: String,
    pub status: &'static str,
    pub ai: bool,
    pub hoody_kit: bool,
    pub dev_kit: bool,
    pub kvm: bool,
    pub autostart: bool,
    pub ramdisk: bool,
    pub prespawn: bool,
    pub is_default: bool,
    pub environment_vars: serde_json::Value,
    pub ssh_public_key: Option<String>,
    pub comment: Option<String>,
    pub source_container_id: Option<String>,
    pub copy_firewall_rules: bool,
    pub copy_network_rules: bool,
    pub realm_ids: Vec<String>,
}

impl NewContainer {
    /// A container with the defaults the seed gives, in `project` on `server`.
    pub fn new(project_id: &str, server_id: &str, name: String, image: String) -> Self {
        let container_id = super::new_id();
        Self {
            container_id,
            project_id: project_id.to_owned(),
            server_id: server_id.to_owned(),
            name,
            color: random_color(),
            container_image: image,
            status: "creating",
            ai: true,
            hoody_kit: true,
            dev_kit: true,
            kvm: false,
            autostart: true,
            ramdisk: true,
            prespawn: false,
            is_default: false,
            environment_vars: serde_json::json!({}),
            ssh_public_key: None,
            comment: None,
            source_container_id: None,
            copy_firewall_rules: false,
            copy_network_rules: false,
            realm_ids: Vec::new(),
        }
    }
}

pub fn random_color() -> String {
    use rand::RngCore;
    let mut b = [0u8; 3];
    rand::rngs::OsRng.fill_bytes(&mut b);
    format!("#{}", hex::encode_upper(b))
}

pub fn ssh_key_taken() -> ApiError {
    ApiError::conflict("ssh_public_key_in_use", "This SSH public key is already used by another container")
}

pub fn name_taken() -> ApiError {
    ApiError::conflict("container_name_taken", "A container with this name already exists in the project")
}

/// Insert the row; its LXD name is `c-<container_id>`. A taken name or SSH key is a 409.
pub async fn insert(db: impl PgExecutor<'_>, n: &NewContainer) -> Result<(), ApiError> {
    insert_row(db, n)
        .await
        .on_constraint("container_name_key", name_taken)
        .on_constraint("container_ssh_public_key_key", ssh_key_taken)
}

async fn insert_row(db: impl PgExecutor<'_>, n: &NewContainer) -> sqlx::Result<()> {
    sqlx::query(
        "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status, \
         ai, hoody_kit, dev_kit, kvm, autostart, ramdisk, prespawn, is_default, environment_vars, ssh_public_key, \
         comment, source_container_id, copy_firewall_rules, copy_network_rules, realm_ids) \
         values ($1, $2, $3, 'c-' || $1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22)",
    )
    .bind(&n.container_id)
    .bind(&n.project_id)
    .bind(&n.server_id)
    .bind(&n.name)
    .bind(&n.color)
    .bind(&n.container_image)
    .bind(n.status)
    .bind(n.ai)
    .bind(n.hoody_kit)
    .bind(n.dev_kit)
    .bind(n.kvm)
    .bind(n.autostart)
    .bind(n.ramdisk)
    .bind(n.prespawn)
    .bind(n.is_default)
    .bind(&n.environment_vars)
    .bind(&n.ssh_public_key)
    .bind(&n.comment)
    .bind(&n.source_container_id)
    .bind(n.copy_firewall_rules)
    .bind(n.copy_network_rules)
    .bind(&n.realm_ids)
    .execute(db)
    .await?;
    Ok(())
}

/// The fields of `PUT /containers/{id}` that were given (`None`: keep).
#[derive(Debug, Clone, Default)]
pub struct UpdateFields {
    pub name: Option<String>,
    pub color: Option<String>,
    pub ai: Option<bool>,
    pub autostart: Option<bool>,
    pub ramdisk: Option<bool>,
    pub ramdisk_scope: Option<String>,
    pub environment_vars: Option<BTreeMap<String, String>>,
    /// `Some(None)` removes the key.
    pub ssh_public_key: Option<Option<String>>,
    pub comment: Option<Option<String>>,
    pub realm_ids: Option<Vec<String>>,
}

/// Change the fields given (the others keep what the row holds now, whatever a concurrent
/// change wrote); a taken name or SSH key is a 409.
pub async fn update(db: impl PgExecutor<'_>, id: &str, f: &UpdateFields) -> Result<(), ApiError> {
    let env = f.environment_vars.as_ref().map(|e| serde_json::to_value(e).unwrap_or_default());
    sqlx::query(
        "update container set name = coalesce($2, name), color = coalesce($3, color), ai = coalesce($4, ai), \
         autostart = coalesce($5, autostart), ramdisk = coalesce($6, ramdisk), \
         ramdisk_scope = coalesce($7, ramdisk_scope), environment_vars = coalesce($8, environment_vars), \
         ssh_public_key = case when $9 then $10 else ssh_public_key end, \
         comment = case when $11 then $12 else comment end, realm_ids = coalesce($13, realm_ids) \
         where container_id = $1",
    )
    .bind(id)
    .bind(&f.name)
    .bind(&f.color)
    .bind(f.ai)
    .bind(f.autostart)
    .bind(f.ramdisk)
    .bind(&f.ramdisk_scope)
    .bind(env)
    .bind(f.ssh_public_key.is_some())
    .bind(f.ssh_public_key.clone().flatten())
    .bind(f.comment.is_some())
    .bind(f.comment.clone().flatten())
    .bind(&f.realm_ids)
    .execute(db)
    .await
    .on_constraint("container_name_key", name_taken)
    .on_constraint("container_ssh_public_key_key", ssh_key_taken)?;
    Ok(())
}
