//! Container writes: new rows, a claimed prespawned one, the fields `PUT` changes, and the
//! single columns the lifecycle sets.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgExecutor;

use crate::error::{ApiError, ResultExt};

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
        let container_id = crate::db::new_id();
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
    sqlx::query!(
        "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status, \
         ai, hoody_kit, dev_kit, kvm, autostart, ramdisk, prespawn, is_default, environment_vars, ssh_public_key, \
         comment, source_container_id, copy_firewall_rules, copy_network_rules, realm_ids) \
         values ($1, $2, $3, 'c-' || $1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
         $20, $21, $22)",
        n.container_id,
        n.project_id,
        n.server_id,
        n.name,
        n.color,
        n.container_image,
        n.status,
        n.ai,
        n.hoody_kit,
        n.dev_kit,
        n.kvm,
        n.autostart,
        n.ramdisk,
        n.prespawn,
        n.is_default,
        n.environment_vars,
        n.ssh_public_key,
        n.comment,
        n.source_container_id,
        n.copy_firewall_rules,
        n.copy_network_rules,
        &n.realm_ids,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Give a claimed prespawned container (`id`, locked by [`super::claimable`]) what `n` asks
/// for: its project, name and settings; it is no longer prespawned. A taken name or SSH key is
/// a 409.
pub async fn claim(db: impl PgExecutor<'_>, id: &str, n: &NewContainer) -> Result<(), ApiError> {
    sqlx::query!(
        "update container set project_id = $2, name = $3, color = $4, ai = $5, hoody_kit = $6, dev_kit = $7, \
         kvm = $8, autostart = $9, ramdisk = $10, prespawn = false, environment_vars = $11, ssh_public_key = $12, \
         comment = $13, realm_ids = $14 where container_id = $1",
        id,
        n.project_id,
        n.name,
        n.color,
        n.ai,
        n.hoody_kit,
        n.dev_kit,
        n.kvm,
        n.autostart,
        n.ramdisk,
        n.environment_vars,
        n.ssh_public_key,
        n.comment,
        &n.realm_ids,
    )
    .execute(db)
    .await
    .on_constraint("container_name_key", name_taken)
    .on_constraint("container_ssh_public_key_key", ssh_key_taken)?;
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
    sqlx::query!(
        "update container set name = coalesce($2, name), color = coalesce($3, color), ai = coalesce($4, ai), \
         autostart = coalesce($5, autostart), ramdisk = coalesce($6, ramdisk), \
         ramdisk_scope = coalesce($7, ramdisk_scope), environment_vars = coalesce($8, environment_vars), \
         ssh_public_key = case when $9 then $10 else ssh_public_key end, \
         comment = case when $11 then $12 else comment end, realm_ids = coalesce($13, realm_ids) \
         where container_id = $1",
        id,
        f.name,
        f.color,
        f.ai,
        f.autostart,
        f.ramdisk,
        f.ramdisk_scope,
        env,
        f.ssh_public_key.is_some(),
        f.ssh_public_key.clone().flatten(),
        f.comment.is_some(),
        f.comment.clone().flatten(),
        f.realm_ids.as_deref(),
    )
    .execute(db)
    .await
    .on_constraint("container_name_key", name_taken)
    .on_constraint("container_ssh_public_key_key", ssh_key_taken)?;
    Ok(())
}

/// Set the status (and since when).
pub async fn set_status(db: impl PgExecutor<'_>, id: &str, status: &str, at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("update container set status = $2, status_changed_at = $3 where container_id = $1", id, status, at)
        .execute(db)
        .await?;
    Ok(())
}

/// Replace the environment.
pub async fn set_env(db: impl PgExecutor<'_>, id: &str, env: &Value) -> sqlx::Result<()> {
    sqlx::query!("update container set environment_vars = $2 where container_id = $1", id, env).execute(db).await?;
    Ok(())
}

pub async fn set_kvm(db: impl PgExecutor<'_>, id: &str, on: bool) -> sqlx::Result<()> {
    sqlx::query!("update container set kvm = $2 where container_id = $1", id, on).execute(db).await?;
    Ok(())
}

/// Replace the network setting, the sealed proxy URL kept.
pub async fn set_network(db: impl PgExecutor<'_>, id: &str, network: Option<&Value>) -> sqlx::Result<()> {
    sqlx::query!("update container set network = $2 where container_id = $1", id, network).execute(db).await?;
    Ok(())
}

/// Replace the network setting and the sealed proxy URL.
pub async fn set_network_sealed(
    db: impl PgExecutor<'_>,
    id: &str,
    network: Option<&Value>,
    sealed: Option<&[u8]>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update container set network = $2, network_proxy_sealed = $3 where container_id = $1",
        id,
        network,
        sealed
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A failed default container makes way for a new one: no longer the default, renamed
/// `<name>-failed-<6 of suffix>`.
pub async fn retire_default(db: impl PgExecutor<'_>, id: &str, suffix: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update container set is_default = false, name = name || '-failed-' || left($2, 6) where container_id = $1",
        id,
        suffix
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Delete a container row with its proxy permission document (`proxy.container`: the current
/// body and every kept version, group secrets included); the rows that reference the container
/// go by cascade. The row is locked first, in its own statement: a document write that held it
/// (`FOR KEY SHARE`) has committed by then, and the delete, a later statement, sees its rows.
pub async fn delete(conn: &mut sqlx::PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query!("select 1 as one from container where container_id = $1 for update", id)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query!(
        "with d as (delete from document where kind = 'proxy.container' and owner_key = $1), \
         v as (delete from document_version where kind = 'proxy.container' and owner_key = $1) \
         delete from container where container_id = $1",
        id
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}
