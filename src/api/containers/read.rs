//! Reading containers: the lists (all of yours, one project's), one container, its status log.

use axum::extract::State;
use serde_json::{json, Value};

use super::{
    dto::{
        on, ContainerListOut, ContainerOut, ContainerSort, GetQuery, ListQuery, StatusLogListOut, StatusLogOut,
        StatusLogSort,
    },
    ContainerAccess,
};
use crate::{
    api::{
        list::{self, ListParams},
        projects::ProjectAccess,
    },
    auth::{
        access::{can, Require},
        permissions::{leaf, perm},
        principal::Principal,
    },
    db::{
        containers::{self, ContainerRow},
        status_log, ts,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Query,
    lifecycle::{host_of, status},
    state::AppState,
};

/// `runtime`: "true", "false", or a JSON object (any object asks for the host's state).
fn wants_runtime(r: Option<&str>) -> Result<bool> {
    match r.map(str::trim) {
        None | Some("false") | Some("") => Ok(false),
        Some("true") => Ok(true),
        Some(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(_)) => Ok(true),
            _ => Err(ApiError::bad_request("invalid_runtime", "runtime is \"true\", \"false\" or a JSON object")),
        },
    }
}

/// Asking for the proxy documents needs `resources.proxy_aliases` from a token.
fn check_proxy_permissions(me: &Principal, asked: bool) -> Result<()> {
    if asked {
        me.require(leaf::RESOURCES_PROXY_ALIASES)?;
    }
    Ok(())
}

/// What the host reports about the instance now (cached 2 s); null when it cannot tell.
pub async fn runtime(st: &AppState, c: &ContainerRow) -> Option<Value> {
    if status::busy(&c.status) {
        return None;
    }
    let state = match st.runtime_cache.get(&c.container_id) {
        Some(s) => s,
        None => {
            let host = host_of(st, c.server_id.as_deref()).await.ok()?;
            let s = host.call("state", |d| d.state(&c.lxd_name)).await.ok()?;
            st.runtime_cache.put(&c.container_id, s.clone());
            s
        }
    };
    let mut state = serde_json::to_value(&state).ok()?;
    // Our status words, not the host's.
    if let Some(s) = state.get("status").and_then(Value::as_str) {
        state["status"] = json!(crate::lifecycle::status_of(s));
    }
    Some(json!({ "host_state": state }))
}

async fn decorate(
    st: &AppState,
    me: &Principal,
    rows: Vec<ContainerRow>,
    runtime_on: bool,
    domains: bool,
    permissions: bool,
) -> Result<Vec<ContainerOut>> {
    let keep = if runtime_on { rows.clone() } else { Vec::new() };
    let owners: Vec<_> = rows.iter().map(crate::api::proxy::permissions::Owned::of).collect();
    let mut out: Vec<ContainerOut> = rows.into_iter().map(ContainerOut::from).collect();
    crate::api::aliases::domains::fill(st, &mut out, domains).await?;
    crate::api::proxy::permissions::fill(st, me, &owners, &mut out, permissions).await?;
    if runtime_on {
        let mut tasks = tokio::task::JoinSet::new();
        for (i, row) in keep.into_iter().enumerate() {
            let st = st.clone();
            tasks.spawn(async move { (i, runtime(&st, &row).await) });
        }
        while let Some(Ok((i, r))) = tasks.join_next().await {
            out[i].runtime_info = Some(r.unwrap_or(Value::Null));
        }
    }
    Ok(out)
}

/// One page of the containers `me` can see, in one project or all.
async fn page_of(
    st: &AppState,
    me: &Principal,
    project_id: Option<&str>,
    p: &ListParams<ContainerSort>,
    q: &ListQuery,
) -> Result<ContainerListOut> {
    let runtime_on = wants_runtime(q.runtime.as_deref())?;
    check_proxy_permissions(me, on(q.include_proxy_permissions))?;
    let filter = containers::ListFilter {
        caller: &me.user.user_id,
        project_id,
        realm: me.realm.as_deref(),
        prespawn: on(q.include_prespawn),
        deleting: on(q.include_deleting),
    };
    let order = p.order_by();
    let page = list::fetch(p, |limit, offset| containers::page(&st.db, &filter, &order, limit, offset)).await?;
    let ids: Vec<String> = page.items.iter().map(|r| r.container_id.clone()).collect();
    let rows = containers::rows(&st.db, &ids, Some(&me.user.user_id)).await?;
    let pagination = page.pagination();
    let containers =
        decorate(st, me, rows, runtime_on, on(q.include_proxy_domains), on(q.include_proxy_permissions)).await?;
    Ok(ContainerListOut { containers, pagination })
}

/// Get all containers
///
/// Every container in your projects and in projects shared with you. Prespawned and deleting
/// containers are left out unless asked for; `runtime` adds what the host reports now.
#[utoipa::path(get, path = "/containers/", tag = "containers", security(("bearer" = [])),
    params(ListParams<ContainerSort>, ListQuery),
    responses((status = 200, body = Envelope<ContainerListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_containers(
    State(st): State<AppState>,
    me: Require<perm::ContainersRead>,
    p: ListParams<ContainerSort>,
    Query(q): Query<ListQuery>,
) -> Result<ApiOk<ContainerListOut>> {
    Ok(ApiOk::new("Containers", page_of(&st, &me, None, &p, &q).await?))
}

/// Get all containers for a project
#[utoipa::path(get, path = "/projects/{id}/containers", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ListParams<ContainerSort>, ListQuery),
    responses((status = 200, body = Envelope<ContainerListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_project_containers(
    State(st): State<AppState>,
    access: ProjectAccess<can::ReadContainers>,
    p: ListParams<ContainerSort>,
    Query(q): Query<ListQuery>,
) -> Result<ApiOk<ContainerListOut>> {
    let out = page_of(&st, &access.me, Some(&access.row.project_id), &p, &q).await?;
    Ok(ApiOk::new("Containers", out))
}

/// Get a container by ID
///
/// `runtime` adds what the host reports now (cached 2 s); `include_proxy_domains=true` adds
/// the container's proxy domains.
#[utoipa::path(get, path = "/containers/{id}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), GetQuery),
    responses((status = 200, body = Envelope<ContainerOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_container(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadContainer>,
    Query(q): Query<GetQuery>,
) -> Result<ApiOk<ContainerOut>> {
    let runtime_on = wants_runtime(q.runtime.as_deref())?;
    check_proxy_permissions(&access.me, on(q.include_proxy_permissions))?;
    let (domains, permissions) = (on(q.include_proxy_domains), on(q.include_proxy_permissions));
    let out = decorate(&st, &access.me, vec![access.row], runtime_on, domains, permissions).await?;
    let out = out.into_iter().next().ok_or_else(|| anyhow::anyhow!("decorate lost the row"))?;
    Ok(ApiOk::new("Container", out))
}

/// Get status logs for a container
///
/// Every status change: from, to, when, how long the previous status lasted, who caused it.
#[utoipa::path(get, path = "/containers/{id}/status-logs", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ListParams<StatusLogSort>),
    responses((status = 200, body = Envelope<StatusLogListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_status_logs(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadContainer>,
    p: ListParams<StatusLogSort>,
) -> Result<ApiOk<StatusLogListOut>> {
    let id = &access.row.container_id;
    let order = p.order_by();
    let page = list::fetch(&p, |limit, offset| status_log::page(&st.db, id, &order, limit, offset)).await?;
    let pagination = page.pagination();
    let logs = page
        .items
        .into_iter()
        .map(|r| StatusLogOut {
            id: r.log_id,
            container_id: id.clone(),
            from_status: r.from_status,
            to_status: r.to_status,
            transition_time: ts(r.transition_time),
            duration_ms: r.duration_ms,
            triggered_by: r.triggered_by,
            metadata: r.metadata,
        })
        .collect();
    Ok(ApiOk::new("Status logs", StatusLogListOut { logs, pagination }))
}
