//! A container's firewall (`container_firewall`): its rules per direction, the source of truth,
//! and the bridge/subnet its host holds them on.

use serde_json::Value;
use sqlx::PgExecutor;

use crate::lifecycle::firewall::rules::Rule;

#[derive(Debug, Clone, Default)]
pub struct FirewallRow {
    pub container_id: String,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    /// The bridge (and ACL) on the host; `None` while not applied there.
    pub network: Option<String>,
    pub subnet: Option<String>,
    pub version: i64,
    pub applied_version: i64,
}

struct Raw {
    container_id: String,
    ingress: Value,
    egress: Value,
    network: Option<String>,
    subnet: Option<String>,
    version: i64,
    applied_version: i64,
}

impl From<Raw> for FirewallRow {
    fn from(r: Raw) -> Self {
        let rules = |v: Value| serde_json::from_value(v).unwrap_or_default();
        Self {
            container_id: r.container_id,
            ingress: rules(r.ingress),
            egress: rules(r.egress),
            network: r.network,
            subnet: r.subnet,
            version: r.version,
            applied_version: r.applied_version,
        }
    }
}

/// The container's firewall; `None` when it never had one (or it was reset).
pub async fn get(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Option<FirewallRow>> {
    let raw = sqlx::query_as!(
        Raw,
        "select container_id, ingress, egress, network, subnet, version, applied_version
         from container_firewall where container_id = $1",
        container_id
    )
    .fetch_optional(db)
    .await?;
    Ok(raw.map(Into::into))
}

/// The same, its row locked until the transaction ends.
pub async fn lock(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<Option<FirewallRow>> {
    let raw = sqlx::query_as!(
        Raw,
        "select container_id, ingress, egress, network, subnet, version, applied_version
         from container_firewall where container_id = $1 for update",
        container_id
    )
    .fetch_optional(db)
    .await?;
    Ok(raw.map(Into::into))
}

/// Store the rule lists (creating the row), one version up; the new version.
pub async fn save(db: impl PgExecutor<'_>, container_id: &str, ingress: &[Rule], egress: &[Rule]) -> sqlx::Result<i64> {
    let count = (ingress.len() + egress.len()) as i32;
    sqlx::query_scalar!(
        "insert into container_firewall (container_id, ingress, egress, rule_count) values ($1, $2, $3, $4)
         on conflict (container_id) do update set ingress = excluded.ingress, egress = excluded.egress,
             rule_count = excluded.rule_count, version = container_firewall.version + 1, updated_at = now()
         returning version",
        container_id,
        serde_json::to_value(ingress).unwrap_or_default(),
        serde_json::to_value(egress).unwrap_or_default(),
        count
    )
    .fetch_one(db)
    .await
}

/// The host holds `version` on `network` (subnet `subnet`).
pub async fn applied(
    db: impl PgExecutor<'_>,
    container_id: &str,
    version: i64,
    network: &str,
    subnet: &str,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update container_firewall set applied_version = greatest(applied_version, $2), network = $3, subnet = $4
         where container_id = $1",
        container_id,
        version,
        network,
        subnet
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forget the firewall (reset): the rules and where they were.
pub async fn remove(db: impl PgExecutor<'_>, container_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from container_firewall where container_id = $1", container_id).execute(db).await?;
    Ok(())
}

/// The firewalls of the containers on `server_id` (for the reconciler): what each should hold.
pub async fn on_server(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<Vec<FirewallRow>> {
    let raws = sqlx::query_as!(
        Raw,
        "select f.container_id, f.ingress, f.egress, f.network, f.subnet, f.version, f.applied_version
         from container_firewall f join container c on c.container_id = f.container_id
         where c.server_id = $1 and c.status in ('running', 'stopped', 'paused')",
        server_id
    )
    .fetch_all(db)
    .await?;
    Ok(raws.into_iter().map(Into::into).collect())
}
