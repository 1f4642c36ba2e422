//! A container's outbound network settings as stored (the proxy URL sealed apart, since it may
//! carry credentials) and as its instance holds them: `user.hoody.network.*` config keys for
//! the in-container agent, without credentials, and the full proxy URL in a root-only file
//! (`PROXY_FILE`, mode 0600) that only root inside the instance can read.

pub mod checks;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::{db::containers, error::ApiError, events::Tx, host::Host, state::AppState};

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum NetworkType {
    Socks5,
    Http,
    Https,
    Block,
}

impl NetworkType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Socks5 => "socks5",
            Self::Http => "http",
            Self::Https => "https",
            Self::Block => "block",
        }
    }
}

/// What is stored and shown (the proxy without its credentials).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NetworkOut {
    pub container_id: String,
    pub configured: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub kind: Option<NetworkType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proxy: Option<String>,
    pub credentials_configured: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub country: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub comment: Option<String>,
    pub dns_servers: Vec<String>,
    /// configured, running or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub configured_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub last_status_check: Option<String>,
}

pub const KEY_TYPE: &str = "user.hoody.network.type";
pub const KEY_PROXY: &str = "user.hoody.network.proxy";
pub const KEY_DNS: &str = "user.hoody.network.dns";
pub const KEY_ENABLED: &str = "user.hoody.network.enabled";
/// Where the credentials are, when there are any (the value is the file's path).
pub const KEY_CREDENTIALS: &str = "user.hoody.network.credentials_file";
pub const KEYS: [&str; 5] = [KEY_TYPE, KEY_PROXY, KEY_DNS, KEY_ENABLED, KEY_CREDENTIALS];
/// The full proxy URL, credentials included: readable by root inside the instance only.
pub const PROXY_FILE: &str = "/etc/hoody/network/proxy-url";

/// What the instance must hold for a network setting.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub set: BTreeMap<String, String>,
    pub unset: Vec<String>,
    /// The full proxy URL for [`PROXY_FILE`] (only when it carries credentials); `None` removes
    /// the file.
    pub secret_url: Option<String>,
}

impl Desired {
    /// No network setting: every key and the file go.
    pub fn none() -> Self {
        Self { set: BTreeMap::new(), unset: KEYS.iter().map(|k| (*k).to_owned()).collect(), secret_url: None }
    }

    /// A setting: `full_url` is the proxy URL as given (credentials included).
    pub fn of(s: &NetworkOut, full_url: Option<&str>) -> Self {
        let mut d = Self::default();
        d.set.insert(KEY_TYPE.into(), s.kind.map(NetworkType::as_str).unwrap_or_default().into());
        d.set.insert(KEY_DNS.into(), s.dns_servers.join(","));
        d.set.insert(KEY_ENABLED.into(), (s.status.as_deref() == Some("running")).to_string());
        match &s.proxy {
            Some(bare) => {
                d.set.insert(KEY_PROXY.into(), bare.clone());
            }
            None => d.unset.push(KEY_PROXY.into()),
        }
        if s.credentials_configured {
            d.set.insert(KEY_CREDENTIALS.into(), PROXY_FILE.into());
            d.secret_url = full_url.map(str::to_owned);
        } else {
            d.unset.push(KEY_CREDENTIALS.into());
        }
        d
    }

    /// Only the on/off switch (start/stop keep the rest as it is).
    pub fn switch(on: bool) -> Self {
        let mut d = Self::default();
        d.set.insert(KEY_ENABLED.into(), on.to_string());
        d
    }

    /// Make the instance hold this: keys first, then the credentials file. The proxy's address is
    /// checked again first: a name may resolve elsewhere by now (422 naming `proxy`).
    pub async fn apply(&self, st: &AppState, host: &Host, lxd_name: &str, keep_file: bool) -> Result<(), ApiError> {
        if let Some(url) = self.secret_url.as_deref().or(self.set.get(KEY_PROXY).map(String::as_str)) {
            checks::recheck_proxy(&*st.resolver, url).await.map_err(|e| ApiError::validation(vec![e]))?;
        }
        host.call("update_config", |d| d.update_config(lxd_name, &self.set, &self.unset)).await?;
        match &self.secret_url {
            Some(url) => host.call("push_file", |d| d.push_file(lxd_name, PROXY_FILE, url.as_bytes(), 0o600)).await?,
            None if keep_file => {}
            None => host.call("delete_file", |d| d.delete_file(lxd_name, PROXY_FILE)).await?,
        }
        Ok(())
    }
}

/// The stored setting of a container and its unsealed proxy URL.
pub async fn stored(st: &AppState, container_id: &str) -> Result<Option<(NetworkOut, Option<String>)>, ApiError> {
    let (network, sealed) = containers::network(&st.db, container_id).await?.unwrap_or_default();
    let Some(out) = network.and_then(|v| serde_json::from_value::<NetworkOut>(v).ok()) else { return Ok(None) };
    let url = match sealed {
        Some(b) => Some(String::from_utf8_lossy(&st.sealer.open(container_id.as_bytes(), &b)?).into_owned()),
        None => None,
    };
    Ok(Some((out, url)))
}

/// What the instance of `container_id` must hold, from its row: what a copy, a sync or a claim
/// ends with, whatever the source instance carried.
pub async fn desired(st: &AppState, container_id: &str) -> Result<Desired, ApiError> {
    Ok(match stored(st, container_id).await? {
        Some((out, url)) => Desired::of(&out, url.as_deref()),
        None => Desired::none(),
    })
}

/// Store a container's setting (`None` removes it); `sealed_url`: `Some(x)` replaces the sealed
/// URL with `x` (`Some(None)` clears it), `None` keeps it.
pub async fn save(
    tx: &mut Tx,
    container_id: &str,
    out: Option<&NetworkOut>,
    sealed_url: Option<Option<Vec<u8>>>,
) -> Result<(), ApiError> {
    let value = out.map(|o| serde_json::to_value(o).unwrap_or(Value::Null));
    match sealed_url {
        Some(sealed) => {
            containers::set_network_sealed(&mut **tx, container_id, value.as_ref(), sealed.as_deref()).await?
        }
        None => containers::set_network(&mut **tx, container_id, value.as_ref()).await?,
    }
    Ok(())
}

/// Copy the source's network setting to a new container: the proxy URL re-sealed for it.
pub async fn copy_settings(st: &AppState, tx: &mut Tx, from: &str, to: &str) -> Result<(), ApiError> {
    let (network, sealed) = containers::network(&mut **tx, from).await?.ok_or(sqlx::Error::RowNotFound)?;
    let Some(mut network) = network else { return Ok(()) };
    network["container_id"] = Value::String(to.to_owned());
    let resealed = match sealed {
        Some(b) => Some(st.sealer.seal(to.as_bytes(), &st.sealer.open(from.as_bytes(), &b)?)?),
        None => None,
    };
    containers::set_network_sealed(&mut **tx, to, Some(&network), resealed.as_deref()).await?;
    Ok(())
}
