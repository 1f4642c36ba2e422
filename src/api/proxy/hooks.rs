//! The `proxyHooks` and `proxyDiscovery` tags: a container document's hooks (per service, an
//! ordered list, the first match wins) and the read-only views the dashboard debugs with. Hook
//! writes go through the same conditional `commit` as every permission write.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::permissions::{commit, edit_open, load, Change, Owner};
use crate::{
    api::containers::ContainerAccess,
    auth::access::can,
    db::documents::Versioned,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{IfMatch, Json, Path},
    proxy::{
        check_name,
        doc::hook_view,
        evaluate::merge,
        file::{both, Both},
        hooks::{check_service, id_ok, HookIn},
        Document, Policy, RESERVED_SERVICES,
    },
    state::AppState,
};

type Read = ContainerAccess<can::ReadContainer>;
type Edit = ContainerAccess<can::UpdateContainer>;

#[derive(Deserialize)]
pub struct ServicePath {
    #[allow(dead_code)]
    id: String,
    service: String,
}

#[derive(Deserialize)]
pub struct HookPath {
    #[allow(dead_code)]
    id: String,
    service: String,
    #[serde(rename = "hookId")]
    hook_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyHooksOut)]
pub struct AllHooksOut {
    /// Service → its hooks in order, each with its `position`.
    #[schema(value_type = Object)]
    pub hooks: Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyServiceHooksOut)]
pub struct ServiceHooksOut {
    pub service: String,
    #[schema(value_type = Vec<Object>)]
    pub hooks: Vec<Value>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyHookOut)]
pub struct HookOut {
    /// `{ id, position, match, script, timeout?, applies_to? }`.
    #[schema(value_type = Object)]
    pub hook: Value,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyHooksRemovedOut)]
pub struct RemovedOut {
    pub removed: usize,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyNothingOut)]
pub struct NothingOut {}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyHookPositionIn)]
#[schema(example = json!({"position": 0}))]
pub struct PositionIn {
    /// 0-based.
    pub position: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyServicesOut)]
pub struct ServicesOut {
    pub services: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyServiceViewOut)]
pub struct ServiceViewOut {
    pub service: String,
    /// logs, proxy and workspaces take no hooks.
    pub is_reject_listed: bool,
    /// Group → this service's rule, the container's over the project's.
    #[schema(value_type = Object)]
    pub permissions_raw: Value,
    #[schema(value_type = Vec<Object>)]
    pub hooks: Vec<Value>,
    /// The default the edge applies (the container document's, else the project's, else allow).
    pub effective_default: Policy,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyGroupCount)]
pub struct GroupCount {
    pub name: String,
    /// The group's program rules.
    pub auth_rule_count: usize,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyGroupsOut)]
pub struct GroupsOut {
    pub groups: Vec<GroupCount>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxySettingsOut)]
pub struct SettingsOut {
    pub enable_proxy: bool,
    pub default: Policy,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxySettingsIn)]
#[schema(example = json!({"default": "deny", "enable_proxy": true}))]
pub struct SettingsIn {
    pub enable_proxy: Option<bool>,
    #[schema(value_type = Option<Policy>)]
    pub default: Option<String>,
}

fn bad(e: FieldError) -> ApiError {
    ApiError::validation(vec![e])
}

fn hook_not_found() -> ApiError {
    ApiError::not_found("proxy_hook_not_found", "The service has no such hook")
}

/// A hook id in a path: a malformed one names nothing (404, as a missing one).
fn hook_id(id: &str) -> Result<()> {
    if id_ok(id) {
        Ok(())
    } else {
        Err(hook_not_found())
    }
}

fn position(p: Option<i64>) -> Result<Option<usize>> {
    match p {
        None => Ok(None),
        Some(n) if (0..=i64::from(u16::MAX)).contains(&n) => Ok(Some(n as usize)),
        Some(_) => Err(ApiError::invalid("position", "must be 0 or more")),
    }
}

/// The container's document and version.
async fn current(st: &AppState, a: &Read) -> Result<(Document, i64)> {
    let (doc, v) = load(st, &a.row.scope(), None).await?;
    Ok((doc.unwrap_or_else(Document::open), v))
}

fn service_hooks(doc: &Document, service: &str) -> Vec<Value> {
    doc.hooks.get(service).map(|l| l.iter().enumerate().map(|(i, h)| hook_view(h, i)).collect()).unwrap_or_default()
}

/// A hook body validated against the document it goes into.
fn built(body: HookIn, doc: &Option<Document>) -> Result<crate::proxy::hooks::Hook> {
    if body.id.is_some() {
        return Err(ApiError::invalid("id", "a hook's id is given by the server"));
    }
    let groups = doc.as_ref().map(|d| d.groups.keys().cloned().collect::<Vec<_>>()).unwrap_or_default();
    let known = |g: &str| groups.iter().any(|n| n == g);
    let mut body = body;
    body.position = None;
    body.into_hook("", Some(&known)).map_err(ApiError::validation)
}

/// List all proxy hooks
///
/// The container's hooks by service, in order (the first match wins), with the document's
/// `file_version` and `etag`.
#[utoipa::path(get, path = "/containers/{id}/proxy/hooks", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)")),
    responses((status = 200, body = Envelope<Versioned<AllHooksOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_proxy_hooks(State(st): State<AppState>, a: Read) -> Result<ApiOk<Versioned<AllHooksOut>>> {
    let (doc, v) = current(&st, &a).await?;
    Ok(ApiOk::new("Proxy hooks", Versioned::new(AllHooksOut { hooks: doc.hooks_view() }, v)))
}

/// List hooks for a service
#[utoipa::path(get, path = "/containers/{id}/proxy/hooks/{service}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)")),
    responses((status = 200, body = Envelope<Versioned<ServiceHooksOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_service_hooks(
    State(st): State<AppState>,
    a: Read,
    Path(p): Path<ServicePath>,
) -> Result<ApiOk<Versioned<ServiceHooksOut>>> {
    check_name(&p.service, "service").map_err(bad)?;
    let (doc, v) = current(&st, &a).await?;
    let hooks = service_hooks(&doc, &p.service);
    Ok(ApiOk::new("Proxy hooks", Versioned::new(ServiceHooksOut { service: p.service, hooks }, v)))
}

/// Get a single hook by id
#[utoipa::path(get, path = "/containers/{id}/proxy/hooks/{service}/{hookId}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("hookId" = String, Path, description = "Hook ID (a ULID: 26 lowercase Crockford base32 characters)")),
    responses((status = 200, body = Envelope<Versioned<HookOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_proxy_hook(
    State(st): State<AppState>,
    a: Read,
    Path(p): Path<HookPath>,
) -> Result<ApiOk<Versioned<HookOut>>> {
    hook_id(&p.hook_id)?;
    let (doc, v) = current(&st, &a).await?;
    let (i, h) = doc.hook(&p.service, &p.hook_id).ok_or_else(hook_not_found)?;
    Ok(ApiOk::new("Proxy hook", Versioned::new(HookOut { hook: hook_view(h, i) }, v)))
}

/// Append or insert a new hook
///
/// At `position` (0-based) or at the end; at most 8 hooks per service and 32 in the document;
/// logs, proxy and workspaces take none. The id is a new ULID. Needs `if-match`.
#[utoipa::path(post, path = "/containers/{id}/proxy/hooks/{service}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("if-match" = String, Header, description = "file:v<N>")),
    request_body = HookIn,
    responses((status = 200, body = Envelope<Versioned<HookOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn add_proxy_hook(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Path(p): Path<ServicePath>,
    Json(body): Json<HookIn>,
) -> Result<ApiOk<Versioned<HookOut>>> {
    check_service(&p.service, "service").map_err(bad)?;
    let at = position(body.position)?;
    let (_, v, hook) = commit(&st, &a.me, &a.row, m, |doc| {
        let h = built(body, doc)?;
        let i = edit_open(doc).insert_hook(&p.service, h.clone(), at).map_err(bad)?;
        Ok((Change::Hooks(p.service.clone()), hook_view(&h, i)))
    })
    .await?;
    Ok(ApiOk::new("Proxy hook added", Versioned::new(HookOut { hook }, v)))
}

/// Replace a hook in place
///
/// The whole hook; it keeps its id and its position (a `position` in the body is not used:
/// moving is `PATCH …/position`). Needs `if-match`.
#[utoipa::path(put, path = "/containers/{id}/proxy/hooks/{service}/{hookId}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("hookId" = String, Path, description = "Hook ID (a ULID: 26 lowercase Crockford base32 characters)"), ("if-match" = String, Header, description = "file:v<N>")),
    request_body = HookIn,
    responses((status = 200, body = Envelope<Versioned<HookOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn replace_proxy_hook(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Path(p): Path<HookPath>,
    Json(body): Json<HookIn>,
) -> Result<ApiOk<Versioned<HookOut>>> {
    check_service(&p.service, "service").map_err(bad)?;
    hook_id(&p.hook_id)?;
    position(body.position)?;
    let (_, v, hook) = commit(&st, &a.me, &a.row, m, |doc| {
        let h = built(body, doc)?;
        let d = doc.as_mut().ok_or_else(hook_not_found)?;
        let i = d.replace_hook(&p.service, &p.hook_id, h).ok_or_else(hook_not_found)?;
        let view = hook_view(&d.hooks[&p.service][i], i);
        Ok((Change::Hooks(p.service.clone()), view))
    })
    .await?;
    Ok(ApiOk::new("Proxy hook replaced", Versioned::new(HookOut { hook }, v)))
}

/// Move a hook to a new position
#[utoipa::path(patch, path = "/containers/{id}/proxy/hooks/{service}/{hookId}/position", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("hookId" = String, Path, description = "Hook ID (a ULID: 26 lowercase Crockford base32 characters)"), ("if-match" = String, Header, description = "file:v<N>")),
    request_body = PositionIn,
    responses((status = 200, body = Envelope<Versioned<HookOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn move_proxy_hook(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Path(p): Path<HookPath>,
    Json(body): Json<PositionIn>,
) -> Result<ApiOk<Versioned<HookOut>>> {
    hook_id(&p.hook_id)?;
    let to = position(Some(body.position))?.unwrap_or(0);
    let (_, v, hook) = commit(&st, &a.me, &a.row, m, |doc| {
        let d = doc.as_mut().ok_or_else(hook_not_found)?;
        let i = d.move_hook(&p.service, &p.hook_id, to).map_err(bad)?.ok_or_else(hook_not_found)?;
        let view = hook_view(&d.hooks[&p.service][i], i);
        Ok((Change::Hooks(p.service.clone()), view))
    })
    .await?;
    Ok(ApiOk::new("Proxy hook moved", Versioned::new(HookOut { hook }, v)))
}

/// Remove a hook
#[utoipa::path(delete, path = "/containers/{id}/proxy/hooks/{service}/{hookId}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("hookId" = String, Path, description = "Hook ID (a ULID: 26 lowercase Crockford base32 characters)"), ("if-match" = String, Header, description = "file:v<N>")),
    responses((status = 200, body = Envelope<Versioned<NothingOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn remove_proxy_hook(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Path(p): Path<HookPath>,
) -> Result<ApiOk<Versioned<NothingOut>>> {
    hook_id(&p.hook_id)?;
    let (_, v, ()) = commit(&st, &a.me, &a.row, m, |doc| {
        if !doc.as_mut().is_some_and(|d| d.remove_hook(&p.service, &p.hook_id)) {
            return Err(hook_not_found());
        }
        Ok((Change::Hooks(p.service.clone()), ()))
    })
    .await?;
    Ok(ApiOk::new("Proxy hook removed", Versioned::new(NothingOut {}, v)))
}

/// Clear all hooks for a service
///
/// `removed`: how many there were (0 is not an error; the version still moves on).
#[utoipa::path(delete, path = "/containers/{id}/proxy/hooks/{service}", tag = "proxyHooks", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("if-match" = String, Header, description = "file:v<N>")),
    responses((status = 200, body = Envelope<Versioned<RemovedOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn clear_proxy_hooks(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Path(p): Path<ServicePath>,
) -> Result<ApiOk<Versioned<RemovedOut>>> {
    check_service(&p.service, "service").map_err(bad)?;
    let (_, v, removed) = commit(&st, &a.me, &a.row, m, |doc| {
        let removed = doc.as_mut().map_or(0, |d| d.clear_hooks(&p.service));
        Ok((Change::Hooks(p.service.clone()), removed))
    })
    .await?;
    Ok(ApiOk::new("Proxy hooks cleared", Versioned::new(RemovedOut { removed }, v)))
}

/// List services referenced in proxy config
///
/// Each service some permission of the container's document or some hook names.
#[utoipa::path(get, path = "/containers/{id}/proxy/services", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)")),
    responses((status = 200, body = Envelope<Versioned<ServicesOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_proxy_services(State(st): State<AppState>, a: Read) -> Result<ApiOk<Versioned<ServicesOut>>> {
    let (doc, v) = current(&st, &a).await?;
    Ok(ApiOk::new("Proxy services", Versioned::new(ServicesOut { services: doc.services() }, v)))
}

/// Get merged proxy view for a service
///
/// A debugging view, not a write path: each group's rule for the service (the container's
/// over the project's), the container's hooks for it, the default the edge applies and
/// whether the service is one that takes no hooks.
#[utoipa::path(get, path = "/containers/{id}/proxy/services/{service}", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("service" = String, Path, description = "Service name: 1-50 of a-z 0-9 _ - (a letter or digit first)")),
    responses((status = 200, body = Envelope<Versioned<ServiceViewOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_proxy_service(
    State(st): State<AppState>,
    a: Read,
    Path(p): Path<ServicePath>,
) -> Result<ApiOk<Versioned<ServiceViewOut>>> {
    check_name(&p.service, "service").map_err(bad)?;
    let Both { own, theirs, versions: (v, _) } = both(&st.db, &a.row.project_id, &a.row.container_id).await?;
    let merged = merge(own.as_ref(), theirs.as_ref());
    let permissions_raw: serde_json::Map<String, Value> = merged.rules_for(&p.service).into_iter().collect();
    let hooks = own.as_ref().map(|d| service_hooks(d, &p.service)).unwrap_or_default();
    let out = ServiceViewOut {
        is_reject_listed: RESERVED_SERVICES.contains(&p.service.as_str()),
        service: p.service,
        permissions_raw: Value::Object(permissions_raw),
        hooks,
        effective_default: merged.default,
    };
    Ok(ApiOk::new("Proxy service", Versioned::new(out, v)))
}

/// List container proxy groups
///
/// The container document's groups with their program rule counts.
#[utoipa::path(get, path = "/containers/{id}/proxy/groups", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)")),
    responses((status = 200, body = Envelope<Versioned<GroupsOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_proxy_groups(State(st): State<AppState>, a: Read) -> Result<ApiOk<Versioned<GroupsOut>>> {
    let (doc, v) = current(&st, &a).await?;
    let groups = doc
        .groups
        .keys()
        .map(|name| GroupCount {
            name: name.clone(),
            auth_rule_count: doc.permissions.get(name).map_or(0, |r| r.len()),
        })
        .collect();
    Ok(ApiOk::new("Proxy groups", Versioned::new(GroupsOut { groups }, v)))
}

/// Get container proxy root settings
///
/// `enable_proxy` (true when the document leaves it unset) and `default` (allow when there is
/// no document), with the `etag` a settings write needs.
#[utoipa::path(get, path = "/containers/{id}/proxy/settings", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)")),
    responses((status = 200, body = Envelope<Versioned<SettingsOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_proxy_settings(State(st): State<AppState>, a: Read) -> Result<ApiOk<Versioned<SettingsOut>>> {
    let (doc, v) = current(&st, &a).await?;
    let out = SettingsOut { enable_proxy: doc.enable_proxy.unwrap_or(true), default: doc.default };
    Ok(ApiOk::new("Proxy settings", Versioned::new(out, v)))
}

/// Update container proxy root settings
///
/// `enable_proxy`, `default` or both. Needs `if-match`.
#[utoipa::path(put, path = "/containers/{id}/proxy/settings", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (24 hex characters)"), ("if-match" = String, Header, description = "file:v<N>")),
    request_body = SettingsIn,
    responses((status = 200, body = Envelope<Versioned<SettingsOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn put_proxy_settings(
    State(st): State<AppState>,
    a: Edit,
    m: IfMatch,
    Json(body): Json<SettingsIn>,
) -> Result<ApiOk<Versioned<SettingsOut>>> {
    let default = match body.default.as_deref() {
        None => None,
        Some(d) => Some(Policy::parse(d).ok_or_else(|| ApiError::invalid("default", "must be allow or deny"))?),
    };
    if default.is_none() && body.enable_proxy.is_none() {
        return Err(ApiError::invalid("enable_proxy", "give enable_proxy, default or both"));
    }
    let (doc, v, ()) = commit(&st, &a.me, &a.row, m, |doc| {
        let d = edit_open(doc);
        if let Some(on) = body.enable_proxy {
            d.enable_proxy = Some(on);
        }
        if let Some(p) = default {
            d.default = p;
        }
        Ok((Change::Settings, ()))
    })
    .await?;
    let doc = doc.unwrap_or_else(Document::open);
    let out = SettingsOut { enable_proxy: doc.enable_proxy.unwrap_or(true), default: doc.default };
    Ok(ApiOk::new("Proxy settings updated", Versioned::new(out, v)))
}
