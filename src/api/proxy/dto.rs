//! Proxy permission document bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::proxy::{doc::Parts, group::GroupIn, hooks::HookIn, Policy};

/// A document as a read or a write answers: with `schema_version`, `file_version` and `etag`.
/// Its `Debug` leaves the groups out (an editor's answer holds their secrets).
#[derive(Serialize, ToSchema)]
#[schema(as = ProxyPermissionsOut)]
pub struct DocOut {
    pub project: String,
    /// The container's documents only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Group name → its configuration; the password hash, token value and JWT key only for a
    /// caller who may edit the document.
    #[schema(value_type = Object)]
    pub groups: Value,
    /// Group name → program → rule.
    #[schema(value_type = Object)]
    pub permissions: Value,
    /// What requests no rule decides get (`allow` when there is no document).
    pub default: Policy,
    /// The proxy switch; absent on a container document that leaves it to its project.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_proxy: Option<bool>,
    /// The container's documents only: service → ordered hooks, each with its `position`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub hooks: Option<Value>,
    pub schema_version: u32,
}

impl std::fmt::Debug for DocOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocOut")
            .field("project", &self.project)
            .field("container", &self.container)
            .field("default", &self.default)
            .field("enable_proxy", &self.enable_proxy)
            .finish_non_exhaustive()
    }
}

/// `?version=N`: an earlier version while it is kept (the last 50).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// An earlier `file_version` of the document (1 or more) while it is kept (the last 50).
    #[param(minimum = 1)]
    pub version: Option<i64>,
}

/// The whole container document.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyContainerPermissionsIn)]
#[schema(example = json!({
    "project": "65f1c0a2b3d4e5f6a7b8c9d1",
    "container": "65f1c0a2b3d4e5f6a7b8c9d0",
    "groups": {"team": {"type": "password", "username": "ada", "password": "s3cret-pass", "salt": "4f1c9e"}},
    "permissions": {"team": {"http": true, "ssh": false}},
    "default": "deny",
    "enable_proxy": true
}))]
pub struct ContainerDocIn {
    /// The container's project id.
    pub project: String,
    /// The container's id (the path's).
    pub container: String,
    pub groups: BTreeMap<String, GroupIn>,
    #[schema(value_type = Object)]
    pub permissions: BTreeMap<String, BTreeMap<String, Value>>,
    /// `deny` when omitted.
    #[schema(value_type = Option<Policy>)]
    pub default: Option<String>,
    /// `true` when omitted (stored explicitly).
    pub enable_proxy: Option<bool>,
    /// Service → hooks (first match wins); at most 8 per service and 32 in all.
    pub hooks: Option<BTreeMap<String, Vec<HookIn>>>,
    /// Sent back from a read: accepted and not used (`if-match` carries the version).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    #[allow(dead_code)]
    pub schema_version: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    #[allow(dead_code)]
    pub file_version: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    #[allow(dead_code)]
    pub etag: Option<Value>,
}

/// The whole project document.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyProjectPermissionsIn)]
#[schema(example = json!({
    "project": "65f1c0a2b3d4e5f6a7b8c9d1",
    "groups": {"office": {"type": "ip", "range": "203.0.113.0/24"}},
    "permissions": {"office": {"http": true}},
    "default": "deny"
}))]
pub struct ProjectDocIn {
    /// The project's id (the path's).
    pub project: String,
    pub groups: BTreeMap<String, GroupIn>,
    #[schema(value_type = Object)]
    pub permissions: BTreeMap<String, BTreeMap<String, Value>>,
    #[schema(value_type = Option<Policy>)]
    pub default: Option<String>,
    pub enable_proxy: Option<bool>,
    /// Sent back from a read: accepted and not used (`if-match` carries the version).
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    #[allow(dead_code)]
    pub schema_version: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<i64>)]
    #[allow(dead_code)]
    pub file_version: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    #[allow(dead_code)]
    pub etag: Option<Value>,
}

/// The ids a whole-document body names and its parts.
pub trait DocIn {
    fn ids(&self) -> (&str, Option<&str>);
    fn into_parts(self) -> Parts;
}

impl DocIn for ContainerDocIn {
    fn ids(&self) -> (&str, Option<&str>) {
        (&self.project, Some(&self.container))
    }
    fn into_parts(self) -> Parts {
        Parts {
            groups: self.groups,
            permissions: self.permissions,
            default: self.default,
            enable_proxy: self.enable_proxy,
            hooks: self.hooks,
        }
    }
}

impl DocIn for ProjectDocIn {
    fn ids(&self) -> (&str, Option<&str>) {
        (&self.project, None)
    }
    fn into_parts(self) -> Parts {
        Parts {
            groups: self.groups,
            permissions: self.permissions,
            default: self.default,
            enable_proxy: self.enable_proxy,
            hooks: None,
        }
    }
}

/// A password group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyPasswordGroupIn)]
#[schema(example = json!({"username": "ada", "password": "s3cret-pass", "salt": "4f1c9e", "algorithm": "sha256"}))]
pub struct PasswordIn {
    pub username: String,
    /// Plain text (hashed with the salt before it is stored) or sha256(salt + password) as 64 hex.
    pub password: String,
    /// `sha256` (the only one).
    pub algorithm: Option<String>,
    pub salt: String,
}

/// A token group: exactly one of `header`, `cookie`, `param`, and the value.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyTokenGroupIn)]
#[schema(example = json!({"value": "tok_9c2f4e7a1b8d", "header": "X-Access-Token"}))]
pub struct TokenIn {
    pub header: Option<String>,
    pub cookie: Option<String>,
    pub param: Option<String>,
    pub value: String,
}

/// A JWT group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyJwtGroupIn)]
#[schema(example = json!({
    "algorithm": "HS256",
    "secret": "a-long-shared-secret-of-32-bytes!",
    "sources": ["header:Authorization"],
    "claims": {"role": "admin"}
}))]
pub struct JwtIn {
    /// HS256: the shared secret; RS256/ES256: the PEM public key.
    pub secret: String,
    /// `HS256`, `RS256` or `ES256`.
    pub algorithm: String,
    /// `header:Name` or `cookie:Name`.
    pub sources: Vec<String>,
    #[schema(value_type = Option<Object>)]
    pub claims: Option<BTreeMap<String, Value>>,
}

/// An IP group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyIpGroupIn)]
#[schema(example = json!({"range": "203.0.113.0/24"}))]
pub struct IpIn {
    /// IPv4 CIDR `a.b.c.d/n`, n in 0–32.
    pub range: String,
}

impl From<PasswordIn> for GroupIn {
    fn from(b: PasswordIn) -> Self {
        Self {
            username: Some(b.username),
            password: Some(b.password),
            algorithm: b.algorithm,
            salt: Some(b.salt),
            ..Self::default()
        }
    }
}

impl From<TokenIn> for GroupIn {
    fn from(b: TokenIn) -> Self {
        Self { header: b.header, cookie: b.cookie, param: b.param, value: Some(b.value), ..Self::default() }
    }
}

impl From<JwtIn> for GroupIn {
    fn from(b: JwtIn) -> Self {
        Self {
            secret: Some(b.secret),
            algorithm: Some(b.algorithm),
            sources: Some(b.sources),
            claims: b.claims,
            ..Self::default()
        }
    }
}

impl From<IpIn> for GroupIn {
    fn from(b: IpIn) -> Self {
        Self { range: Some(b.range), ..Self::default() }
    }
}

/// One program's rule for a group.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyPermissionIn)]
#[schema(example = json!({"program": "http", "access": "80,8000-8100"}))]
pub struct PermissionIn {
    /// `http`, `ssh`, `terminal`, `files`…
    pub program: String,
    /// `true`/`false`, a port or instance, a list of them, `"80,8000-8100"` or `"*"`; only
    /// `true`/`false` for files, services, notifications and exec.
    #[schema(value_type = serde_json::Value)]
    pub access: Value,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyDefaultIn)]
#[schema(example = json!({"default": "deny"}))]
pub struct DefaultIn {
    #[schema(value_type = Policy)]
    pub default: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyStateIn)]
#[schema(example = json!({"enable_proxy": true}))]
pub struct StateIn {
    pub enable_proxy: bool,
}
