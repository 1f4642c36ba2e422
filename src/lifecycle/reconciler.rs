//! The reconciler: what the database says about each container against what its host reports.
//! An instance that is gone, or a host that cannot be reached, turns the container `failed`; a
//! state changed behind our back (stopped from inside, frozen) is taken over. Each change is a
//! status-log row triggered by `reconciler`. Instances tagged for a server whose container row
//! is gone are removed.

use serde_json::json;

use super::{
    provision::{remove_instance, SERVER_KEY},
    reason, status, status_of, transition, Trigger,
};
use crate::{
    error::ApiError,
    host::{Host, HostError},
    shutdown::Stop,
    state::AppState,
};

pub async fn run(st: AppState, stop: Stop) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(st.cfg.reconcile_interval) => {}
            _ = stop.wait() => return,
        }
        if let Err(e) = pass(&st).await {
            tracing::warn!(error = %e, "reconcile pass failed");
        }
    }
}

/// One pass over every server with containers. Returns how many containers changed. A server
/// or a container that cannot be checked is logged and skipped; the pass goes on.
pub async fn pass(st: &AppState) -> Result<usize, ApiError> {
    // A container's longest host work: create (3 calls) or sync (5), each up to the timeout.
    let stuck_secs = (st.cfg.host_limits.call_timeout.as_secs() * 6 + 30) as i64;
    let by = Trigger::system("reconciler");
    let mut changed = orphans(st, &by).await?;
    changed += unfinished_deletes(st, stuck_secs).await?;
    let servers: Vec<String> =
        sqlx::query_scalar("select server_id from server order by server_id").fetch_all(&st.db).await?;
    for server_id in servers {
        match server(st, &server_id, stuck_secs, &by).await {
            Ok(n) => changed += n,
            Err(e) => tracing::warn!(server = %server_id, error = %e, "reconciler skipped a server"),
        }
    }
    Ok(changed)
}

async fn server(st: &AppState, server_id: &str, stuck_secs: i64, by: &Trigger) -> Result<usize, ApiError> {
    let Some(row) = crate::servers::by_id(&st.db, server_id).await? else { return Ok(0) };
    let host = st.hosts.for_server(&row, &st.sealer)?;
    let containers = crate::db::containers::to_reconcile(&st.db, server_id, stuck_secs).await?;
    let mut changed = 0;
    for c in containers {
        let observed = host.call(|d| d.state(&c.lxd_name)).await;
        let (to, meta) = match &observed {
            Ok(s) => (status_of(&s.status), json!({"observed": status_of(&s.status)})),
            Err(e @ HostError::NotFound(_)) => (status::FAILED, reason(e)),
            Err(HostError::Unavailable { .. } | HostError::Timeout) => {
                (status::FAILED, json!({"reason": "host_unreachable"}))
            }
            Err(e) => {
                tracing::warn!(container = %c.container_id, error = %e, "reconciler could not read a container");
                continue;
            }
        };
        if to == c.status {
            continue;
        }
        match transition(st, &c, &[c.status.as_str()], to, by, Some(meta)).await {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(container = %c.container_id, error = %e, "reconciler could not record a change"),
        }
    }
    match strays(st, &host, server_id).await {
        Ok(n) => changed += n,
        Err(e) => tracing::warn!(server = %server_id, error = %e, "reconciler could not look for stray instances"),
    }
    Ok(changed)
}

/// Instances made for this server whose container row is gone (a restored database, a process
/// that died between the two halves of a delete). A row is always written before its instance
/// is made and removed only after its instance is, so an instance tagged with this server and
/// without a row belongs to nobody: it is removed. Instances without our tag, or made for
/// another server (another control plane on the same host), are never touched.
async fn strays(st: &AppState, host: &Host, server_id: &str) -> Result<usize, ApiError> {
    let names = host.call(|d| d.instances()).await?;
    let ids: Vec<&str> = names
        .iter()
        .filter_map(|n| n.strip_prefix("c-"))
        .filter(|id| id.len() == 24 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    if ids.is_empty() {
        return Ok(0);
    }
    let known: Vec<String> = sqlx::query_scalar("select container_id from container where container_id = any($1)")
        .bind(&ids)
        .fetch_all(&st.db)
        .await?;
    let mut removed = 0;
    for id in ids.into_iter().filter(|id| !known.iter().any(|k| k == id)) {
        let name = format!("c-{id}");
        let ours = match host.call(|d| d.config(&name)).await {
            Ok(cfg) => cfg.get(SERVER_KEY).is_some_and(|s| s == server_id),
            Err(_) => false,
        };
        if !ours {
            continue;
        }
        match remove_instance(host, &name).await {
            Ok(()) => {
                tracing::info!(instance = %name, server = %server_id, "reconciler removed an instance without a container");
                removed += 1;
            }
            Err(e) => tracing::warn!(instance = %name, error = %e, "reconciler could not remove a stray instance"),
        }
    }
    Ok(removed)
}

/// Containers whose server was removed from the registry: nothing can run them.
async fn orphans(st: &AppState, by: &Trigger) -> Result<usize, ApiError> {
    let mut changed = 0;
    for c in crate::db::containers::orphaned(&st.db).await? {
        if transition(st, &c, &[c.status.as_str()], status::FAILED, by, Some(json!({"reason": "server_gone"}))).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// Deletes whose process died half-way: remove the instance and the row now.
async fn unfinished_deletes(st: &AppState, stuck_secs: i64) -> Result<usize, ApiError> {
    let mut done = 0;
    for c in crate::db::containers::stale_deletes(&st.db, stuck_secs).await? {
        let id = c.container_id.clone();
        match super::provision::delete(st.clone(), c, Trigger::system("reconciler")).await {
            Ok(()) => done += 1,
            Err(e) => tracing::warn!(container = %id, error = %e, "reconciler could not finish a delete"),
        }
    }
    Ok(done)
}
