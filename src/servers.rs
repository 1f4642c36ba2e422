//! The servers registry: the container hosts the control plane knows, kept in PostgreSQL and
//! managed with `hoody-api servers add|list|update|remove`. When the local LXD socket exists and
//! nothing is registered, the server registers it as the free server `local` (region `local`).

use std::path::Path;

use sqlx::PgPool;

pub use crate::db::servers::ServerRow;
use crate::{
    auth::crypto::SecretBox,
    db::{new_id, servers},
};

/// Everything `servers add` and `servers update` may set; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ServerFields {
    pub region: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub datacenter: Option<String>,
    pub is_enabled: Option<bool>,
    pub is_free: Option<bool>,
    pub cores: Option<i32>,
    pub ram_mb: Option<i64>,
    pub disk_gb: Option<i64>,
    pub lxd_endpoint: Option<String>,
    pub client_cert: Option<String>,
    pub client_key: Option<String>,
    pub server_cert: Option<String>,
    pub server_fingerprint: Option<String>,
    pub price_per_day_cents: Option<i64>,
    pub rental_days: Option<Vec<i32>>,
}

/// `unix:///path` or `https://host[:port]`.
pub fn check_endpoint(e: &str) -> anyhow::Result<()> {
    if let Some(path) = e.strip_prefix("unix://") {
        anyhow::ensure!(path.starts_with('/'), "a unix endpoint is unix:///absolute/path/to/unix.socket");
        return Ok(());
    }
    anyhow::ensure!(
        e.starts_with("https://") && e.len() > "https://".len(),
        "the endpoint must be unix:///… or https://host:port"
    );
    Ok(())
}

fn check(f: &ServerFields) -> anyhow::Result<()> {
    if let Some(e) = &f.lxd_endpoint {
        check_endpoint(e)?;
    }
    if let Some(fp) = &f.server_fingerprint {
        anyhow::ensure!(
            fp.len() == 64 && fp.bytes().all(|b| b.is_ascii_hexdigit()),
            "the fingerprint is SHA-256 as 64 hex"
        );
    }
    anyhow::ensure!(
        f.client_cert.is_some() == f.client_key.is_some(),
        "give the client certificate and its key together"
    );
    anyhow::ensure!(f.price_per_day_cents.is_none_or(|p| p >= 0), "the price cannot be negative");
    anyhow::ensure!(
        f.rental_days.as_ref().is_none_or(|d| d.iter().all(|x| *x > 0)),
        "rental durations are positive days"
    );
    for (what, v) in [("cores", f.cores.map(i64::from)), ("ram_mb", f.ram_mb), ("disk_gb", f.disk_gb)] {
        anyhow::ensure!(v.is_none_or(|v| v >= 0), "{what} cannot be negative");
    }
    Ok(())
}

pub async fn add(db: &PgPool, sealer: &SecretBox, name: &str, f: &ServerFields) -> anyhow::Result<ServerRow> {
    anyhow::ensure!(!name.trim().is_empty() && name.len() <= 63, "the name must be 1–63 characters");
    let region = f.region.as_deref().ok_or_else(|| anyhow::anyhow!("--region is required"))?;
    check(f)?;
    let id = new_id();
    servers::insert(db, &id, name, region).await.map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("server_name_key") => {
            anyhow::anyhow!("a server named {name:?} is already registered")
        }
        _ => e.into(),
    })?;
    apply(db, sealer, &id, f).await
}

pub async fn update(db: &PgPool, sealer: &SecretBox, name: &str, f: &ServerFields) -> anyhow::Result<ServerRow> {
    check(f)?;
    let id = servers::id_named(db, name).await?.ok_or_else(|| anyhow::anyhow!("no server named {name:?}"))?;
    apply(db, sealer, &id, f).await
}

async fn apply(db: &PgPool, sealer: &SecretBox, id: &str, f: &ServerFields) -> anyhow::Result<ServerRow> {
    let sealed_key = f.client_key.as_ref().map(|k| sealer.seal(id.as_bytes(), k.as_bytes())).transpose()?;
    let fingerprint = f.server_fingerprint.as_deref().map(str::to_ascii_lowercase);
    let changes = servers::Changes {
        region: f.region.as_deref(),
        country: f.country.as_deref(),
        city: f.city.as_deref(),
        datacenter: f.datacenter.as_deref(),
        is_enabled: f.is_enabled,
        is_free: f.is_free,
        cores: f.cores,
        ram_mb: f.ram_mb,
        disk_gb: f.disk_gb,
        lxd_endpoint: f.lxd_endpoint.as_deref(),
        client_cert: f.client_cert.as_deref(),
        client_key_sealed: sealed_key.as_deref(),
        server_fingerprint: fingerprint.as_deref(),
        price_per_day_cents: f.price_per_day_cents,
        rental_days: f.rental_days.as_deref(),
        server_cert: f.server_cert.as_deref(),
    };
    let gone = || anyhow::anyhow!("the server was removed meanwhile");
    anyhow::ensure!(servers::update(db, id, &changes).await?, gone());
    servers::by_id(db, id).await?.ok_or_else(gone)
}

pub async fn list(db: &PgPool) -> sqlx::Result<Vec<ServerRow>> {
    let ids = servers::ids(db).await?;
    servers::by_ids(db, &ids).await
}

/// What `servers drain` reports: the server, and every container still recorded on it.
#[derive(Debug, serde::Serialize)]
pub struct Drained {
    pub server: ServerRow,
    pub containers: Vec<servers::OnServer>,
}

/// Stop (`on`) or resume new placements on the server named `name`. Containers there keep
/// running, starting and changing; only new ones (creates, copies, the free tier) go elsewhere.
pub async fn drain(db: &PgPool, name: &str, on: bool) -> anyhow::Result<Drained> {
    let id = servers::set_draining(db, name, on).await?.ok_or_else(|| anyhow::anyhow!("no server named {name:?}"))?;
    let server = servers::by_id(db, &id).await?.ok_or_else(|| anyhow::anyhow!("the server was removed meanwhile"))?;
    Ok(Drained { containers: servers::containers_on(db, &id).await?, server })
}

/// Remove the server named `name` from the registry. Not while it has warm pools or pool
/// instances: its instances would be left on the host with no row to remove them by.
pub async fn remove(db: &PgPool, name: &str) -> anyhow::Result<()> {
    let warm = crate::db::warm_pool::left_on(db, name).await?;
    anyhow::ensure!(
        warm == 0,
        "server {name:?} still has warm pools or pool instances ({warm}): set each pool to 0 \
         (`servers update {name} --warm-pool <image>=0`) and remove it once `servers list` shows none"
    );
    anyhow::ensure!(servers::delete_named(db, name).await?, "no server named {name:?}");
    Ok(())
}

/// The embedded default: register the local LXD as the free server `local` when its socket
/// exists and the registry is empty. Returns whether it did.
pub async fn register_local(db: &PgPool, socket: &Path) -> sqlx::Result<bool> {
    if !socket.exists() {
        return Ok(false);
    }
    let cores = std::thread::available_parallelism().map(|n| n.get() as i32).unwrap_or(1);
    let done = servers::insert_local(db, &new_id(), cores, &format!("unix://{}", socket.display())).await?;
    if done {
        tracing::info!(socket = %socket.display(), "registered the local LXD as the free server `local`");
    }
    Ok(done)
}

/// The driver for a registered host: its unix socket, or HTTPS with the stored identity.
pub fn driver(
    row: &ServerRow,
    sealer: &SecretBox,
    op_timeout: std::time::Duration,
) -> anyhow::Result<crate::host::lxd::Lxd> {
    use crate::host::{https::HttpsIdentity, lxd::Lxd};
    if let Some(path) = row.lxd_endpoint.strip_prefix("unix://") {
        return Ok(Lxd::new(path, op_timeout));
    }
    let missing = |what: &str| anyhow::anyhow!("server {} has no {what} for its HTTPS endpoint", row.name);
    let key = row.client_key_sealed.as_deref().ok_or_else(|| missing("client key"))?;
    let key = String::from_utf8(sealer.open(row.server_id.as_bytes(), key)?)?;
    let id = HttpsIdentity {
        base: &row.lxd_endpoint,
        client_cert_pem: row.client_cert.as_deref().ok_or_else(|| missing("client certificate"))?,
        client_key_pem: &key,
        server_cert_pem: row.server_cert.as_deref().ok_or_else(|| missing("server certificate"))?,
        fingerprint: row.server_fingerprint.as_deref(),
    };
    Lxd::https(&id, op_timeout)
}

pub async fn by_id(db: &PgPool, server_id: &str) -> sqlx::Result<Option<ServerRow>> {
    servers::by_id(db, server_id).await
}

/// A free, enabled server that is not draining, preferring `region` (what the free tier falls
/// back on when placement reads no host).
pub async fn free(db: &PgPool, region: Option<&str>) -> sqlx::Result<Option<ServerRow>> {
    match servers::free_id(db, region).await? {
        Some(id) => servers::by_id(db, &id).await,
        None => Ok(None),
    }
}
