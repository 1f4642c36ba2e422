//! Resource figures from the host (LXD's instance state), for one container or a project.

use std::time::Instant;

use axum::extract::State;
use serde::Serialize;
use serde_json::{json, Value};
use utoipa::ToSchema;

use crate::{
    api::{containers::ContainerAccess, projects::ProjectAccess},
    auth::{access::can, permissions::leaf},
    db::{
        containers::{self, ContainerRow},
        ts,
    },
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    host::InstanceState,
    lifecycle::host_of,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct StatsOut {
    pub id: String,
    pub project_id: String,
    pub project_name: String,
    pub server_name: Option<String>,
    pub subserver_name: String,
    pub status: String,
    /// LXD's code: 103 running, 102 stopped, 110 frozen.
    pub status_code: i32,
    pub processes: i64,
    /// When the container last became `running`.
    pub started_at: String,
    #[schema(value_type = Object)]
    pub cpu: Value,
    #[schema(value_type = Object)]
    pub memory: Value,
    #[schema(value_type = Object)]
    pub disk: Value,
    #[schema(value_type = Vec<Object>)]
    pub network: Vec<Value>,
    pub processing_time: String,
}

fn status_code(lxd: &str) -> i32 {
    match lxd {
        "Running" => 103,
        "Stopped" => 102,
        "Frozen" => 110,
        _ => 400,
    }
}

fn figures(c: &ContainerRow, s: &InstanceState, started: Instant) -> StatsOut {
    let network = s
        .network
        .iter()
        .map(|(iface, n)| {
            json!({
                "interface": iface,
                "addresses": n.addresses.iter().map(|a| json!({
                    "address": a, "family": if a.contains(':') { "inet6" } else { "inet" }
                })).collect::<Vec<_>>(),
                "counters": {"bytes_received": n.bytes_received, "bytes_sent": n.bytes_sent},
            })
        })
        .collect();
    StatsOut {
        id: c.container_id.clone(),
        project_id: c.project_id.clone(),
        project_name: c.project_alias.clone(),
        server_name: c.server_name.clone(),
        subserver_name: c.lxd_name.clone(),
        status: crate::lifecycle::status_of(&s.status).to_owned(),
        status_code: status_code(&s.status),
        processes: s.processes,
        started_at: ts(c.status_changed_at),
        cpu: json!({"usage": s.cpu_usage_ns}),
        memory: json!({"usage": s.memory_usage_bytes}),
        disk: json!({"root": {"usage": s.disk_usage_bytes}}),
        network,
        processing_time: format!("{}ms", started.elapsed().as_millis()),
    }
}

/// The figures of one container, straight from its host.
pub async fn stats_of(st: &AppState, c: &ContainerRow) -> Result<StatsOut> {
    let started = Instant::now();
    let host = host_of(st, c.server_id.as_deref()).await?;
    let s = host.call("state", |d| d.state(&c.lxd_name)).await?;
    Ok(figures(c, &s, started))
}

/// Get container resource statistics
#[utoipa::path(get, path = "/containers/{id}/stats", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<StatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn get_container_stats(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadContainer>,
) -> Result<ApiOk<StatsOut>> {
    Ok(ApiOk::new("Container statistics", stats_of(&st, &access.row).await?))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectStatsSummary {
    pub project_id: String,
    pub project_name: String,
    pub container_count: i64,
    pub total_processing_time: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectStatsOut {
    pub stats: Vec<StatsOut>,
    pub summary: ProjectStatsSummary,
}

/// Get statistics for all containers in a project
///
/// Every container of the project (not prespawned, not being deleted; in a realm-scoped request
/// only the realm's), read from the hosts at once; a container whose host cannot answer is left
/// out of `stats` (the count says how many there are). An auth token without `containers.read`
/// gets the count without the figures.
#[utoipa::path(get, path = "/projects/{id}/stats", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID")),
    responses((status = 200, body = Envelope<ProjectStatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn get_project_stats(
    State(st): State<AppState>,
    access: ProjectAccess<can::ReadProject>,
) -> Result<ApiOk<ProjectStatsOut>> {
    let started = Instant::now();
    let p = &access.row;
    let rows =
        containers::for_stats(&st.db, &p.project_id, access.me.realm.as_deref(), &access.me.user.user_id).await?;
    let count = rows.len() as i64;
    // The figures are the containers': a token without `containers.read` gets the count only.
    let rows = if access.me.allows(leaf::CONTAINERS_READ) { rows } else { Vec::new() };
    let mut tasks = tokio::task::JoinSet::new();
    for (i, c) in rows.into_iter().enumerate() {
        let st = st.clone();
        tasks.spawn(async move { (i, stats_of(&st, &c).await) });
    }
    let mut stats = Vec::new();
    while let Some(Ok((i, r))) = tasks.join_next().await {
        if let Ok(s) = r {
            stats.push((i, s));
        }
    }
    stats.sort_by_key(|(i, _)| *i);
    let summary = ProjectStatsSummary {
        project_id: p.project_id.clone(),
        project_name: p.alias.clone(),
        container_count: count,
        total_processing_time: format!("{}ms", started.elapsed().as_millis()),
    };
    Ok(ApiOk::new(
        "Project statistics",
        ProjectStatsOut { stats: stats.into_iter().map(|(_, s)| s).collect(), summary },
    ))
}
