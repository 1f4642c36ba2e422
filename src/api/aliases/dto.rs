//! Proxy alias bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{containers::dto::Flag, tokens::dto::nullable},
    db::{proxy_aliases::AliasRow, ts},
};

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AliasCreateIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "container_id": "65f1c0a2b3d4e5f6a7b8c9d0",
    "program": "http",
    "port": 8080,
    "alias": "ada-demo"
}))]
pub struct CreateIn {
    /// The container (24 hex) the alias points to; you own it or hold `edit` on its project.
    pub container_id: crate::ids::ContainerId,
    /// 3–61 of `a-z0-9-` (no hyphen first or last), unique across the platform; `null`, `false`
    /// or omitted: 48 generated hex characters.
    #[schema(value_type = Option<String>)]
    pub alias: Option<Value>,
    /// A program of the catalogue (`catalogue/programs.json`).
    pub program: String,
    /// The same as `index` (for `http`/`https`, the port in the container).
    pub port: Option<i64>,
    /// The program's instance (1–65535, default 1).
    pub index: Option<i64>,
    /// Base path the requests are forwarded to; `/` is added in front when missing.
    pub target_path: Option<String>,
    /// Paths beyond `target_path` may be reached (default true).
    pub allow_path_override: Option<bool>,
    /// ISO 8601, unix seconds or milliseconds, or null (never).
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Value>,
    /// Default true.
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AliasUpdateIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"target_path": "/app", "expires_at": "2030-01-01T00:00:00Z"}))]
pub struct UpdateIn {
    #[serde(default, deserialize_with = "present")]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub program: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub port: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    pub index: Option<i64>,
    /// `null` removes the path prefix.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub target_path: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub allow_path_override: Option<bool>,
    /// ISO 8601, unix seconds or milliseconds, or `null` (no expiry).
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub expires_at: Option<Option<Value>>,
    #[serde(default, deserialize_with = "present")]
    pub enabled: Option<bool>,
}

/// A field that may be left out but is never `null` (null: 400 naming it).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = AliasStateIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"enabled": false}))]
pub struct StateIn {
    pub enabled: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this project's aliases.
    #[param(value_type = Option<String>)]
    pub project_id: Option<crate::ids::ProjectId>,
    /// Only this container's aliases.
    #[param(value_type = Option<String>)]
    pub container_id: Option<crate::ids::ContainerId>,
    /// Only aliases in this realm (read by the realm layer with the host label).
    #[allow(dead_code)]
    pub realm_id: Option<String>,
    /// Enabled (and not expired) or disabled ones.
    #[param(inline)]
    pub enabled: Option<Flag>,
    /// "true": only expired ones; "false": only ones not expired.
    #[param(inline)]
    pub expired: Option<Flag>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasProjectRef {
    pub id: String,
    pub alias: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasContainerRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasOut {
    pub id: String,
    /// The owner of the container's project.
    pub user_id: String,
    pub project_id: String,
    pub container_id: String,
    pub alias: String,
    pub program: String,
    pub index: i32,
    pub target_path: Option<String>,
    pub allow_path_override: bool,
    pub expires_at: Option<String>,
    /// False when disabled or expired.
    pub enabled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub server_id: Option<String>,
    pub server_name: Option<String>,
    /// The container's instance name on its host.
    pub subserver_name: String,
    /// `https://{alias}.{server}.<containers domain>/`; null while the container has no server.
    pub url: Option<String>,
    /// On `GET /proxy/aliases/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub project: Option<AliasProjectRef>,
    /// On `GET /proxy/aliases/{id}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub container: Option<AliasContainerRef>,
}

/// An alias's URL on the edge proxy.
pub fn url(alias: &str, server_name: Option<&str>, domain: &str) -> Option<String> {
    server_name.map(|s| format!("https://{alias}.{s}.{domain}/"))
}

impl AliasOut {
    pub fn new(r: &AliasRow, domain: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: r.alias_id.clone(),
            user_id: r.owner_id.clone(),
            project_id: r.project_id.clone(),
            container_id: r.container_id.clone(),
            alias: r.alias.clone(),
            program: r.program.clone(),
            index: r.program_index,
            target_path: r.target_path.clone(),
            allow_path_override: r.allow_path_override,
            expires_at: r.expires_at.map(ts),
            enabled: r.live(now),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
            server_id: r.server_id.clone(),
            server_name: r.server_name.clone(),
            subserver_name: r.lxd_name.clone(),
            url: url(&r.alias, r.server_name.as_deref(), domain),
            project: None,
            container: None,
        }
    }

    /// With the project and container it belongs to (the single read).
    pub fn detailed(mut self, r: &AliasRow) -> Self {
        self.project = Some(AliasProjectRef { id: r.project_id.clone(), alias: r.project_alias.clone() });
        self.container = Some(AliasContainerRef { id: r.container_id.clone(), name: r.container_name.clone() });
        self
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AliasListOut {
    pub aliases: Vec<AliasOut>,
    /// How many match (the list holds at most 1000).
    pub count: i64,
}

/// One URL of a container (`GET /containers/{id}?include_proxy_domains=true`): a kit URL
/// (`id` is its host label, no `alias`) or an alias (with `alias`, its dates and settings).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ProxyDomainOut {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub alias: Option<String>,
    pub program: String,
    pub index: i32,
    pub target_path: Option<String>,
    pub allow_path_override: bool,
    pub expires_at: Option<String>,
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub created_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub updated_at: Option<String>,
    pub url: Option<String>,
}

impl From<AliasOut> for ProxyDomainOut {
    fn from(a: AliasOut) -> Self {
        Self {
            id: a.id,
            alias: Some(a.alias),
            program: a.program,
            index: a.index,
            target_path: a.target_path,
            allow_path_override: a.allow_path_override,
            expires_at: a.expires_at,
            enabled: a.enabled,
            created_at: Some(a.created_at),
            updated_at: Some(a.updated_at),
            url: a.url,
        }
    }
}
