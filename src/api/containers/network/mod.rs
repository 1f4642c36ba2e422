//! A container's outbound network: through a proxy (socks5/http/https) or blocked. Checked,
//! stored (the proxy URL sealed, since it may carry credentials) and applied to the instance
//! as `user.hoody.network.*` config, which the in-container agent acts on.

pub(crate) mod checks;

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use self::checks::{proxy_target, short};
use super::rules;
use crate::{
    auth::resource::{policy, ContainerAccess},
    db::{containers::ContainerRow, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Json,
    lifecycle::{self, host_of},
    state::AppState,
};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    Socks5,
    Http,
    Https,
    Block,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkIn {
    #[serde(rename = "type")]
    pub kind: NetworkType,
    /// The proxy URL (`socks5://user:pass@host:1080`); required unless `block`. Loopback,
    /// link-local and private targets are refused.
    pub proxy: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub region: Option<String>,
    pub comment: Option<String>,
    /// At most 4 addresses; `["1.1.1.1", "8.8.8.8"]` when omitted.
    pub dns_servers: Option<Vec<String>>,
}

/// What is stored and shown (the proxy without its credentials).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NetworkOut {
    pub container_id: String,
    pub configured: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<NetworkType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<String>,
    pub credentials_configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub dns_servers: Vec<String>,
    /// configured, running or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub configured_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status_check: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkStateOut {
    pub container_id: String,
    pub status: String,
    pub is_running: bool,
    pub last_check: String,
}

fn stored(c: &ContainerRow) -> Option<NetworkOut> {
    c.network.clone().and_then(|v| serde_json::from_value(v).ok())
}

fn unconfigured(c: &ContainerRow) -> NetworkOut {
    NetworkOut {
        container_id: c.container_id.clone(),
        configured: false,
        kind: None,
        proxy: None,
        credentials_configured: false,
        country: None,
        city: None,
        region: None,
        comment: None,
        dns_servers: Vec::new(),
        status: None,
        configured_at: None,
        last_status_check: None,
    }
}

const KEYS: [&str; 4] =
    ["user.hoody.network.type", "user.hoody.network.proxy", "user.hoody.network.dns", "user.hoody.network.enabled"];

/// The instance's `user.hoody.network.*` keys as the container's row says (the proxy URL
/// unsealed): what a copy, a sync or a claim must end with, whatever the source carried.
pub(crate) async fn desired_keys(st: &AppState, container_id: &str) -> Result<(BTreeMap<String, String>, Vec<String>)> {
    let row: Option<(Option<Value>, Option<Vec<u8>>)> =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(container_id)
            .fetch_optional(&st.db)
            .await?;
    let (network, sealed) = row.unwrap_or_default();
    let Some(out) = network.and_then(|v| serde_json::from_value::<NetworkOut>(v).ok()) else {
        return Ok((BTreeMap::new(), KEYS.iter().map(|k| (*k).to_owned()).collect()));
    };
    let mut set = BTreeMap::new();
    let mut unset = Vec::new();
    let kind = out.kind.and_then(|k| serde_json::to_value(k).ok()).and_then(|v| v.as_str().map(str::to_owned));
    set.insert(KEYS[0].to_owned(), kind.unwrap_or_default());
    set.insert(KEYS[2].to_owned(), out.dns_servers.join(","));
    set.insert(KEYS[3].to_owned(), (out.status.as_deref() == Some("running")).to_string());
    match sealed.map(|b| st.sealer.open(container_id.as_bytes(), &b)).transpose()? {
        Some(url) => {
            set.insert(KEYS[1].to_owned(), String::from_utf8_lossy(&url).into_owned());
        }
        None => unset.push(KEYS[1].to_owned()),
    }
    Ok((set, unset))
}

/// Copy the source's network settings to a new container: the proxy URL re-sealed for it.
pub(crate) async fn copy_settings(st: &AppState, tx: &mut sqlx::PgConnection, from: &str, to: &str) -> Result<()> {
    let (network, sealed): (Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(from)
            .fetch_one(&mut *tx)
            .await?;
    let Some(mut network) = network else { return Ok(()) };
    network["container_id"] = Value::String(to.to_owned());
    let resealed = match sealed {
        Some(b) => Some(st.sealer.seal(to.as_bytes(), &st.sealer.open(from.as_bytes(), &b)?)?),
        None => None,
    };
    sqlx::query("update container set network = $2, network_proxy_sealed = $3 where container_id = $1")
        .bind(to)
        .bind(network)
        .bind(resealed)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Set or unset the instance's network keys.
async fn apply(st: &AppState, c: &ContainerRow, set: BTreeMap<String, String>, unset: Vec<String>) -> Result<()> {
    rules::settled(c)?;
    let host = host_of(st, c.server_id.as_deref()).await?;
    let name = c.lxd_name.clone();
    lifecycle::detached(async move { Ok(host.call(|d| d.update_config(&name, &set, &unset)).await?) }).await
}

async fn save(
    st: &AppState,
    c: &ContainerRow,
    out: Option<&NetworkOut>,
    sealed: Option<Vec<u8>>,
    keep_sealed: bool,
) -> Result<()> {
    let value = out.map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
    let sql = if keep_sealed {
        "update container set network = $2 where container_id = $1"
    } else {
        "update container set network = $2, network_proxy_sealed = $3 where container_id = $1"
    };
    sqlx::query(sql).bind(&c.container_id).bind(value).bind(sealed).execute(&st.db).await?;
    Ok(())
}

/// Get container network configuration
#[utoipa::path(get, path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn get_network(access: ContainerAccess<policy::ReadNetwork>) -> Result<ApiOk<NetworkOut>> {
    let c = &access.container;
    Ok(ApiOk::new("Network configuration", stored(c).unwrap_or_else(|| unconfigured(c))))
}

/// Update container network configuration
///
/// Stored and written to the instance (not yet active: `POST …/network/start` turns it on).
#[utoipa::path(put, path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = NetworkIn,
    responses((status = 200, body = Envelope<NetworkOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn update_network(
    State(st): State<AppState>,
    access: ContainerAccess<policy::Networking>,
    Json(input): Json<NetworkIn>,
) -> Result<ApiOk<NetworkOut>> {
    let c = &access.container;
    let mut errors = Vec::new();
    let proxy = match (input.kind, input.proxy.as_deref()) {
        (NetworkType::Block, None) => None,
        (NetworkType::Block, Some(_)) => {
            errors.push(FieldError::new("proxy", "type block takes no proxy"));
            None
        }
        (_, None) => {
            errors.push(FieldError::new("proxy", "is required for a proxy type"));
            None
        }
        (k, Some(p)) => proxy_target(&*st.resolver, k, p).await.map_err(|e| errors.push(e)).ok(),
    };
    let dns = checks::dns_servers(input.dns_servers.as_deref()).unwrap_or_else(|e| {
        errors.extend(e);
        Vec::new()
    });
    let country = short("country", &input.country, 100).map_err(|e| errors.push(e)).ok().flatten();
    let city = short("city", &input.city, 100).map_err(|e| errors.push(e)).ok().flatten();
    let region = short("region", &input.region, 100).map_err(|e| errors.push(e)).ok().flatten();
    let comment = short("comment", &input.comment, 1000).map_err(|e| errors.push(e)).ok().flatten();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (shown, creds, full) = match &proxy {
        Some((url, creds)) => {
            let mut bare = url.clone();
            let _ = bare.set_username("");
            let _ = bare.set_password(None);
            (Some(bare.to_string()), *creds, Some(url.to_string()))
        }
        None => (None, false, None),
    };
    let now = ts(Utc::now());
    let out = NetworkOut {
        container_id: c.container_id.clone(),
        configured: true,
        kind: Some(input.kind),
        proxy: shown,
        credentials_configured: creds,
        country,
        city,
        region,
        comment,
        dns_servers: dns.clone(),
        status: Some("configured".into()),
        configured_at: Some(now.clone()),
        last_status_check: Some(now),
    };
    let mut set = BTreeMap::new();
    set.insert(
        KEYS[0].to_owned(),
        serde_json::to_value(input.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
    );
    set.insert(KEYS[2].to_owned(), dns.join(","));
    set.insert(KEYS[3].to_owned(), "false".to_owned());
    let mut unset = Vec::new();
    match &full {
        Some(u) => {
            set.insert(KEYS[1].to_owned(), u.clone());
        }
        None => unset.push(KEYS[1].to_owned()),
    }
    apply(&st, c, set, unset).await?;
    let sealed = full.map(|u| st.sealer.seal(c.container_id.as_bytes(), u.as_bytes())).transpose()?;
    save(&st, c, Some(&out), sealed, false).await?;
    Ok(ApiOk::new("Network configuration updated", out))
}

/// Remove container network configuration
#[utoipa::path(delete, path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn remove_network(
    State(st): State<AppState>,
    access: ContainerAccess<policy::Networking>,
) -> Result<ApiOk<()>> {
    let c = &access.container;
    if c.network.is_none() {
        return Err(not_configured());
    }
    apply(&st, c, BTreeMap::new(), KEYS.iter().map(|k| (*k).to_owned()).collect()).await?;
    save(&st, c, None, None, false).await?;
    Ok(ApiOk::new("Network configuration removed", ()))
}

fn not_configured() -> ApiError {
    ApiError::not_found("network_not_configured", "This container has no network configuration")
}

async fn switch(st: &AppState, c: &ContainerRow, on: bool) -> Result<NetworkStateOut> {
    let mut out = stored(c).ok_or_else(not_configured)?;
    let mut set = BTreeMap::new();
    set.insert(KEYS[3].to_owned(), on.to_string());
    apply(st, c, set, Vec::new()).await?;
    let now = ts(Utc::now());
    out.status = Some(if on { "running" } else { "stopped" }.into());
    out.last_status_check = Some(now.clone());
    save(st, c, Some(&out), None, true).await?;
    let kind = if on { "container.network_started" } else { "container.network_stopped" };
    lifecycle::container_event(&st.db, c, kind, json!({})).await?;
    Ok(NetworkStateOut {
        container_id: c.container_id.clone(),
        status: out.status.unwrap_or_default(),
        is_running: on,
        last_check: now,
    })
}

/// Start container network proxy/blocking
#[utoipa::path(post, path = "/containers/{id}/network/start", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkStateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn start_network(
    State(st): State<AppState>,
    access: ContainerAccess<policy::Networking>,
) -> Result<ApiOk<NetworkStateOut>> {
    Ok(ApiOk::new("Network started", switch(&st, &access.container, true).await?))
}

/// Stop container network proxy/blocking
#[utoipa::path(post, path = "/containers/{id}/network/stop", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkStateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn stop_network(
    State(st): State<AppState>,
    access: ContainerAccess<policy::Networking>,
) -> Result<ApiOk<NetworkStateOut>> {
    Ok(ApiOk::new("Network stopped", switch(&st, &access.container, false).await?))
}
