//! A container's outbound network: through a proxy (socks5/http/https) or blocked. Checked,
//! stored (the proxy URL sealed, since it may carry credentials) and applied to the instance
//! as `user.hoody.network.*` config, which the in-container agent acts on.

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ContainerAccess;
use crate::lifecycle::network::checks::{self, proxy_target, short};
pub use crate::lifecycle::network::{NetworkOut, NetworkType};
use crate::{
    api::containers::rules,
    auth::access::can,
    db::{containers::ContainerRow, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Json,
    lifecycle::{
        self,
        ops::{self, NetworkChange},
        Trigger,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "block"}))]
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

/// Run a network change through the runner.
async fn change(
    st: &AppState,
    access: &ContainerAccess<can::Networking>,
    ch: NetworkChange,
) -> Result<Option<NetworkOut>> {
    rules::settled(&access.row)?;
    let by = Trigger::user(&access.me.user.user_id);
    lifecycle::run(st, ops::SetNetwork::new(access.row.clone(), ch, by)).await
}

/// Get container network configuration
#[utoipa::path(get, path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn get_network(access: ContainerAccess<can::ReadNetwork>) -> Result<ApiOk<NetworkOut>> {
    let c = &access.row;
    Ok(ApiOk::new("Network configuration", stored(c).unwrap_or_else(|| unconfigured(c))))
}

/// Update container network configuration
///
/// Stored and written to the instance (not yet active: `POST …/network/start` turns it on).
#[utoipa::path(method(put, patch), path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = NetworkIn,
    responses((status = 200, body = Envelope<NetworkOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn update_network(
    State(st): State<AppState>,
    access: ContainerAccess<can::Networking>,
    Json(input): Json<NetworkIn>,
) -> Result<ApiOk<NetworkOut>> {
    let c = &access.row;
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
    let change_to = NetworkChange::Configure { out: Box::new(out), full_url: full };
    let stored = change(&st, &access, change_to).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(ApiOk::new("Network configuration updated", stored))
}

/// Remove container network configuration
#[utoipa::path(delete, path = "/containers/{id}/network", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn remove_network(State(st): State<AppState>, access: ContainerAccess<can::Networking>) -> Result<ApiOk<()>> {
    change(&st, &access, NetworkChange::Remove).await?;
    Ok(ApiOk::new("Network configuration removed", ()))
}

async fn switch(st: &AppState, access: &ContainerAccess<can::Networking>, on: bool) -> Result<NetworkStateOut> {
    let c = &access.row;
    stored(c).ok_or_else(ops::network_not_configured)?;
    let out = change(st, access, NetworkChange::Switch(on)).await?.ok_or_else(ops::network_not_configured)?;
    Ok(NetworkStateOut {
        container_id: c.container_id.clone(),
        status: out.status.unwrap_or_default(),
        is_running: on,
        last_check: out.last_status_check.unwrap_or_else(|| ts(Utc::now())),
    })
}

/// Start container network proxy/blocking
#[utoipa::path(post, path = "/containers/{id}/network/start", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkStateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn start_network(
    State(st): State<AppState>,
    access: ContainerAccess<can::Networking>,
) -> Result<ApiOk<NetworkStateOut>> {
    Ok(ApiOk::new("Network started", switch(&st, &access, true).await?))
}

/// Stop container network proxy/blocking
#[utoipa::path(post, path = "/containers/{id}/network/stop", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<NetworkStateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.networking"))))]
pub async fn stop_network(
    State(st): State<AppState>,
    access: ContainerAccess<can::Networking>,
) -> Result<ApiOk<NetworkStateOut>> {
    Ok(ApiOk::new("Network stopped", switch(&st, &access, false).await?))
}
