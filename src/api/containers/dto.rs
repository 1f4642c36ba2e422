//! Container bodies.

use serde::{Deserialize, Serialize};
use utoipa::{
    openapi::{ObjectBuilder, RefOr, Schema, Type},
    IntoParams, PartialSchema, ToSchema,
};

use crate::{
    api::{
        list::{sort_keys, Pagination},
        tokens::dto::nullable,
    },
    db::{containers::ContainerRow, ts},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "server_id": "65f1c0a2b3d4e5f6a7b8c9d2",
    "name": "web-1",
    "autostart": true,
    "environment_vars": {"APP_ENV": "staging"}
}))]
pub struct CreateIn {
    /// The server (24 hex) to create the container on. Omitted: the server with the most free
    /// capacity among the enabled, non-draining servers the project's owner may use (free
    /// servers, and servers they or a pool of theirs rent), in `region` when given; 409
    /// `no_server_available` when none is allowed, 503 `no_server_available` when none of them
    /// is reachable with room.
    pub server_id: Option<crate::ids::ServerId>,
    /// Only servers of this region (as `GET /auth/available-regions` lists them); with
    /// `server_id`, it must be that server's region.
    pub region: Option<String>,
    /// 3–100 of `A-Za-z0-9_-`, unique in the project; omitted or "rand" → generated.
    pub name: Option<String>,
    /// `#RGB`/`#RRGGBB`; random when omitted.
    pub color: Option<String>,
    /// An image alias on the host; the configured default when null or omitted.
    pub container_image: Option<String>,
    pub ai: Option<bool>,
    /// Variables set in the container (`environment.*`).
    #[schema(value_type = Option<Object>)]
    pub environment_vars: Option<serde_json::Value>,
    /// Unique across containers (one container per key).
    pub ssh_public_key: Option<String>,
    /// At most 16000 characters.
    pub comment: Option<String>,
    pub hoody_kit: Option<bool>,
    /// Defaults to `hoody_kit`.
    pub dev_kit: Option<bool>,
    pub kvm: Option<bool>,
    pub dev_kvm: Option<bool>,
    /// Start on host boot (`boot.autostart`, default true).
    pub autostart: Option<bool>,
    pub ramdisk: Option<bool>,
    /// Accepted for compatibility: the host caches images on its own.
    #[allow(dead_code)]
    pub cache: Option<bool>,
    /// Build a new cached image from this one: admins only.
    pub cache_image: Option<bool>,
    /// Create a hidden, pre-started container for a later create to claim.
    pub prespawn: Option<bool>,
    /// Do not claim a prespawned container or an instance of the server's warm pool; create a
    /// fresh one.
    pub bypass_prespawn: Option<bool>,
    pub realm_ids: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "web-1", "comment": "Front end, staging", "autostart": true}))]
pub struct UpdateIn {
    pub name: Option<String>,
    pub color: Option<String>,
    pub ai: Option<bool>,
    pub autostart: Option<bool>,
    #[schema(inline)]
    pub ramdisk_scope: Option<RamdiskScope>,
    pub ramdisk: Option<bool>,
    /// Replaces the whole environment (applied to the instance).
    #[schema(value_type = Option<Object>)]
    pub environment_vars: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub ssh_public_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub comment: Option<Option<String>>,
    pub realm_ids: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RamdiskScope {
    Container,
    Project,
}

impl RamdiskScope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Project => "project",
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerSpecs {
    pub cpu_cores: Option<i32>,
    pub ram_gb: Option<f64>,
    pub disk_gb: Option<i64>,
    pub shared_compute: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerOut {
    pub name: String,
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
    pub datacenter: Option<String>,
    pub is_free: bool,
    pub specs: ServerSpecs,
    pub expires_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerOut {
    pub id: String,
    pub project_id: String,
    pub project_alias: String,
    pub server_id: Option<String>,
    pub server_name: Option<String>,
    /// The instance name on its host.
    pub subserver_name: String,
    pub server: Option<ServerOut>,
    pub ssh_hostname: Option<String>,
    pub name: String,
    pub color: String,
    pub container_image: String,
    pub ai: bool,
    pub hoody_kit: bool,
    pub dev_kit: bool,
    pub kvm: bool,
    pub autostart: bool,
    pub ramdisk_scope: String,
    pub ramdisk: bool,
    pub prespawn: bool,
    pub is_default: bool,
    pub status: String,
    #[schema(value_type = Object)]
    pub environment_vars: serde_json::Value,
    #[schema(value_type = Object)]
    pub volumes: serde_json::Value,
    pub ssh_public_key: Option<String>,
    pub comment: Option<String>,
    pub source_container_id: Option<String>,
    pub copy_firewall_rules: bool,
    pub copy_network_rules: bool,
    pub server_expired: bool,
    pub created_at: String,
    pub updated_at: String,
    pub realm_ids: Vec<String>,
    pub snapshot_count: i64,
    pub last_used_snapshot: Option<String>,
    pub pool_id: Option<String>,
    /// With `?runtime=`: what the host reports now (cached 2 s).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub runtime_info: Option<serde_json::Value>,
    /// With `include_proxy_domains=true`: the kit URLs and the aliases.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub proxy_domains: Option<Vec<crate::api::aliases::ProxyDomainOut>>,
    pub has_proxy_domains: bool,
    pub proxy_domains_count: i64,
    /// The container or its project has a permission document.
    pub has_proxy_permissions: bool,
    /// `none`, `container`, `project` or `both`: which documents there are.
    pub proxy_permissions_scope: &'static str,
    /// With `include_proxy_permissions=true`: the container's document (secrets only for a
    /// caller who may edit it).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub proxy_permissions: Option<crate::db::documents::Versioned<crate::api::proxy::dto::DocOut>>,
    /// With `include_proxy_permissions=true`: its project's document.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>, nullable = false)]
    pub project_proxy_permissions: Option<crate::db::documents::Versioned<crate::api::proxy::dto::DocOut>>,
}

impl From<ContainerRow> for ContainerOut {
    /// Takes the row apart: a page of 100 rows is not copied field by field.
    fn from(c: ContainerRow) -> Self {
        let server = c.server_name.as_ref().map(|name| ServerOut {
            name: name.clone(),
            country: c.server_country,
            city: c.server_city,
            region: c.server_region,
            datacenter: c.server_datacenter,
            is_free: c.server_is_free.unwrap_or(false),
            specs: ServerSpecs {
                cpu_cores: c.server_cores,
                ram_gb: c.server_ram_mb.map(|mb| (mb as f64 / 1024.0 * 10.0).round() / 10.0),
                disk_gb: c.server_disk_gb,
                shared_compute: c.server_is_free.unwrap_or(false),
            },
            expires_at: None,
        });
        Self {
            id: c.container_id,
            project_id: c.project_id,
            project_alias: c.project_alias,
            server_id: c.server_id,
            server_name: c.server_name,
            subserver_name: c.lxd_name,
            server,
            ssh_hostname: None,
            name: c.name,
            color: c.color,
            container_image: c.container_image,
            ai: c.ai,
            hoody_kit: c.hoody_kit,
            dev_kit: c.dev_kit,
            kvm: c.kvm,
            autostart: c.autostart,
            ramdisk_scope: c.ramdisk_scope,
            ramdisk: c.ramdisk,
            prespawn: c.prespawn,
            is_default: c.is_default,
            status: c.status,
            environment_vars: c.environment_vars,
            volumes: serde_json::json!({}),
            ssh_public_key: c.ssh_public_key,
            comment: c.comment,
            source_container_id: c.source_container_id,
            copy_firewall_rules: c.copy_firewall_rules,
            copy_network_rules: c.copy_network_rules,
            server_expired: false,
            created_at: ts(c.created_at),
            updated_at: ts(c.updated_at),
            realm_ids: c.realm_ids,
            snapshot_count: c.snapshot_count,
            last_used_snapshot: c.last_used_snapshot,
            pool_id: None,
            runtime_info: None,
            proxy_domains: None,
            has_proxy_domains: false,
            proxy_domains_count: 0,
            has_proxy_permissions: false,
            proxy_permissions_scope: "none",
            proxy_permissions: None,
            project_proxy_permissions: None,
        }
    }
}

/// A new copy as `GET /containers/{id}` shows it; the contract types this answer's
/// `source_container_id` as `string` (always there, never null), unlike a container's.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct CopiedOut(pub ContainerOut);

impl PartialSchema for CopiedOut {
    fn schema() -> RefOr<Schema> {
        let mut schema = ContainerOut::schema();
        if let RefOr::T(Schema::Object(o)) = &mut schema {
            let source = ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The container this one was copied from."));
            o.properties.insert("source_container_id".into(), source.into());
            o.required.push("source_container_id".into());
        }
        schema
    }
}

impl ToSchema for CopiedOut {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <ContainerOut as ToSchema>::schemas(schemas);
    }
}

sort_keys!(ContainerSort {
    Id = "id" => "c.container_id",
    Name = "name" => "c.name",
    Status = "status" => "c.status",
    CreatedAt = "created_at" => "c.created_at",
    UpdatedAt = "updated_at" => "c.updated_at",
} default "c.created_at");

/// `"true"` / `"false"` as the SDK sends them.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    True,
    False,
}

pub fn on(f: Option<Flag>) -> bool {
    f == Some(Flag::True)
}

/// What a container list includes (with `ListParams<ContainerSort>` for the page).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only containers in this realm (24 hex); read by the realm layer with the host label.
    #[allow(dead_code)]
    pub realm_id: Option<String>,
    /// "true", "false", or a JSON object of what to include (`{}`: everything).
    pub runtime: Option<String>,
    /// `true`: add each container's proxy domains (the kit URLs and the aliases).
    #[param(inline)]
    pub include_proxy_domains: Option<Flag>,
    /// `true`: add the container's and its project's proxy permission documents (needs
    /// `resources.proxy_aliases`).
    #[param(inline)]
    pub include_proxy_permissions: Option<Flag>,
    /// `true`: also list prespawned containers (left out by default).
    #[param(inline)]
    pub include_prespawn: Option<Flag>,
    /// Containers whose rented server expired (none until rentals exist).
    #[param(inline)]
    #[allow(dead_code)]
    pub include_expired: Option<Flag>,
    /// `true`: also list containers being deleted (left out by default).
    #[param(inline)]
    pub include_deleting: Option<Flag>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// "true", "false", or a JSON object of what to include (`{}`: everything).
    pub runtime: Option<String>,
    /// `true`: add each container's proxy domains (the kit URLs and the aliases).
    #[param(inline)]
    pub include_proxy_domains: Option<Flag>,
    /// `true`: add the container's and its project's proxy permission documents (needs
    /// `resources.proxy_aliases`).
    #[param(inline)]
    pub include_proxy_permissions: Option<Flag>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerListOut {
    pub containers: Vec<ContainerOut>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ManageOut {
    pub error: bool,
    pub operation: String,
    pub container_id: String,
    pub project_id: String,
    pub message: String,
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct StatusLogOut {
    pub id: String,
    pub container_id: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub transition_time: String,
    pub duration_ms: Option<i64>,
    pub triggered_by: String,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
}

sort_keys!(StatusLogSort {
    TransitionTime = "transition_time" => "transition_time",
    CreatedAt = "created_at" => "transition_time",
    ToStatus = "to_status" => "to_status",
    FromStatus = "from_status" => "from_status",
} default "transition_time");

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusLogListOut {
    pub logs: Vec<StatusLogOut>,
    pub pagination: Pagination,
}
