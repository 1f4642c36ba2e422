//! The reconciler: what the database says about each container against what its host reports.
//! An instance that is gone, or a host that cannot be reached, turns the container `failed`; a
//! state changed behind our back (stopped from inside, frozen) is taken over. Each change is a
//! status-log row triggered by `reconciler`. A host is read in one call (its instances' statuses);
//! a container that looks changed in it is read again alone, under its lock, before anything is
//! recorded (the listing may predate a change that ended meanwhile). Instances tagged for a
//! server whose container row is gone are reported (logged), not removed.
//!
//! Every replica runs the loop; each server is checked by one of them per interval: the one
//! holding its lease (`reconcile:<server id>`, see `crate::lease`), and the cluster-wide checks
//! (orphans, deletes left half-way) by the holder of `reconcile`.

use serde_json::json;

use super::{provision::SERVER_KEY, reason, status, status_of, transition_now, LockKey, Trigger};
use crate::{
    db::containers::ContainerRow,
    error::ApiError,
    host::{Host, HostError},
    shutdown::Stop,
    state::AppState,
};

/// Record a change the reconciler found, unless someone's host work holds the container now
/// (it will record its own outcome; the next pass looks again).
async fn record(
    st: &AppState,
    c: &ContainerRow,
    to: &str,
    by: &Trigger,
    meta: serde_json::Value,
) -> Result<bool, ApiError> {
    locked(st, c, transition_now(st, c, &[c.status.as_str()], to, by, Some(meta))).await
}

/// Run `then` (a future: it starts only here) under `c`'s lock; `false` without running it when
/// someone's host work holds the container now.
async fn locked(
    st: &AppState,
    c: &ContainerRow,
    then: impl std::future::Future<Output = Result<bool, ApiError>>,
) -> Result<bool, ApiError> {
    let keys = [LockKey::container(&c.container_id)];
    let Some(held) = st.host_locks.try_acquire(st, &keys, &crate::db::new_id()).await? else { return Ok(false) };
    let moved = then.await;
    held.release(st).await;
    moved
}

/// What a read of `c`'s instance says its status is, with the status log's metadata; `None`
/// when the read tells nothing (an error that is neither "gone" nor "unreachable").
fn verdict(c: &ContainerRow, observed: &Result<String, HostError>) -> Option<(&'static str, serde_json::Value)> {
    match observed {
        Ok(s) => Some((status_of(s), json!({"observed": status_of(s)}))),
        Err(e @ HostError::NotFound(_)) => Some((status::FAILED, reason(e))),
        Err(HostError::Unavailable { .. } | HostError::Timeout) => {
            Some((status::FAILED, json!({"reason": "host_unreachable"})))
        }
        Err(e) => {
            tracing::warn!(container = %c.container_id, error = %e, "reconciler could not read a container");
            None
        }
    }
}

/// A change the host's listing shows for `c`, recorded only as the instance reads now, alone
/// and under the container's lock: the listing was taken before the loop, and a start and a
/// stop that both ended meanwhile would leave the row as it was read but the listing stale
/// (skipped, like [`record`], while someone's host work holds the container). At most
/// [`READ_AGAIN_MAX`] per host and pass.
///
/// A host that answered the listing a moment ago and fails this one read is not taken for
/// unreachable on its strength: nothing is recorded (the next pass looks again).
async fn record_read_again(st: &AppState, host: &Host, c: &ContainerRow, by: &Trigger) -> Result<bool, ApiError> {
    locked(st, c, async {
        let observed = host.call("state", |d| d.state(&c.lxd_name)).await.map(|s| s.status);
        if matches!(observed, Err(HostError::Unavailable { .. } | HostError::Timeout)) {
            return Ok(false);
        }
        match verdict(c, &observed) {
            Some((to, meta)) if to != c.status => transition_now(st, c, &[c.status.as_str()], to, by, Some(meta)).await,
            _ => Ok(false),
        }
    })
    .await
}

/// Changed containers read again per host and pass, at most.
const READ_AGAIN_MAX: usize = 256;

/// A pass every interval; between two passes, at the half, the leases are renewed (or taken
/// over from a replica that died), so a live holder's never lapse.
pub async fn run(st: AppState, stop: Stop) {
    let mut ticks = crate::lease::ticker(st.cfg.reconcile_interval / 2);
    let mut due = false;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait() => return,
        }
        let outcome = if due { pass(&st).await.map(|_| ()) } else { leases(&st).await.map(|_| ()) };
        if let Err(e) = outcome {
            tracing::warn!(error = %e, "reconcile pass failed");
        }
        due = !due;
    }
}

/// Take or renew this replica's reconciler leases: the cluster-wide one (`reconcile`) and one
/// per registered server (`reconcile:<id>`); whether it holds the cluster-wide one, and the
/// servers it holds, in id order.
async fn leases(st: &AppState) -> Result<(bool, Vec<String>), ApiError> {
    let servers = crate::db::servers::ids_by_id(&st.db).await?;
    let mut names: Vec<String> = servers.iter().map(|id| format!("reconcile:{id}")).collect();
    names.push("reconcile".into());
    let held = crate::lease::holds_many(st, &names, st.cfg.reconcile_interval).await;
    let cluster = held.iter().any(|n| n == "reconcile");
    let mine = servers.into_iter().filter(|id| held.iter().any(|n| n.strip_prefix("reconcile:") == Some(id))).collect();
    Ok((cluster, mine))
}

/// One pass over every registered server whose lease this replica holds (or takes). Returns how
/// many containers changed. A server or a container that cannot be checked is logged and
/// skipped; the pass goes on. Each pass, its outcome, what it changed and the servers it checked
/// and skipped are counted for `/metrics`.
pub async fn pass(st: &AppState) -> Result<usize, ApiError> {
    let started = std::time::Instant::now();
    let result = pass_inner(st).await;
    st.metrics.reconciler.pass(result.as_ref().ok().copied(), started.elapsed());
    result
}

async fn pass_inner(st: &AppState) -> Result<usize, ApiError> {
    // Host work past its lease: the process doing it died (a live one holds the lock, and the
    // reconciler leaves locked containers alone).
    let stuck_secs = (st.cfg.host_lock_wait + st.cfg.host_op_deadline).as_secs() as i64 + 30;
    let by = Trigger::system("reconciler");
    let (cluster, servers) = leases(st).await?;
    let mut changed = 0;
    if cluster {
        changed += orphans(st, &by).await?;
        changed += unfinished_deletes(st, stuck_secs).await?;
    }
    for server_id in servers {
        st.metrics.reconciler.server_checked();
        match server(st, &server_id, stuck_secs, &by).await {
            Ok(n) => changed += n,
            Err(e) => {
                st.metrics.reconciler.server_skipped();
                tracing::warn!(server = %server_id, error = %e, "reconciler skipped a server")
            }
        }
    }
    Ok(changed)
}

async fn server(st: &AppState, server_id: &str, stuck_secs: i64, by: &Trigger) -> Result<usize, ApiError> {
    let Some(row) = crate::servers::by_id(&st.db, server_id).await? else { return Ok(0) };
    let host = st.hosts.for_server(&row, &st.sealer)?;
    let containers = crate::db::containers::to_reconcile(&st.db, server_id, stuck_secs).await?;
    // The whole host in one call: its instances made for this server, with their status. A
    // container missing from it is asked about alone (an instance made before the tag existed
    // would otherwise look gone), and so is every container when the listing fails: one slow
    // or refused call must not fail a whole server (a host that is really down fails each
    // container's own call, quickly once its breaker is open).
    let listing = match host.call("statuses_with", |d| d.statuses_with(SERVER_KEY, server_id)).await {
        Ok(map) => Some(map),
        Err(e) => {
            tracing::warn!(server = %server_id, error = %e, "reconciler could not list a host; asking one by one");
            None
        }
    };
    let mut changed = 0;
    let containers_now = containers.clone();
    let mut read_again = 0;
    for c in containers {
        let listed = listing.as_ref().and_then(|map| map.get(&c.lxd_name));
        let observed = match listed {
            Some(status) => Ok(status.clone()),
            None => host.call("state", |d| d.state(&c.lxd_name)).await.map(|s| s.status),
        };
        let Some((to, meta)) = verdict(&c, &observed).filter(|(to, _)| *to != c.status) else { continue };
        let recorded = if listed.is_none() {
            // Read alone just now: recorded as read.
            record(st, &c, to, by, meta).await
        } else if read_again < READ_AGAIN_MAX {
            read_again += 1;
            record_read_again(st, &host, &c, by).await
        } else {
            // A host where that many changed (a reboot) catches up over the next passes.
            continue;
        };
        match recorded {
            Ok(true) => changed += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(container = %c.container_id, error = %e, "reconciler could not record a change"),
        }
    }
    let settled: Vec<ContainerRow> = containers_now
        .into_iter()
        .filter(|c| [status::RUNNING, status::STOPPED, status::PAUSED].contains(&c.status.as_str()))
        .collect();
    match super::firewall::repair::pass(st, &host, server_id, &settled).await {
        Ok(n) => changed += n,
        Err(e) => tracing::warn!(server = %server_id, error = %e, "reconciler could not check firewalls"),
    }
    match super::ops::repair_proxy_files(st, &host, server_id).await {
        Ok(n) => changed += n,
        Err(e) => tracing::warn!(server = %server_id, error = %e, "reconciler could not check proxy files"),
    }
    if let Some(listing) = &listing {
        match strays_among(st, listing.keys()).await {
            Ok(found) => {
                for name in found {
                    tracing::warn!(instance = %name, server = %server_id, "an instance made for this server has no container row; left alone");
                }
            }
            Err(e) => tracing::warn!(server = %server_id, error = %e, "reconciler could not look for stray instances"),
        }
    }
    Ok(changed)
}

/// Instances made for this server (tagged `user.hoody.server_id`) whose container row is gone:
/// a restored backup, rows removed by hand, another control plane restored from this one's
/// database. They are reported, never removed: which side is right is an operator's call, and a
/// removal would destroy user data the database merely forgot. Untagged instances and those
/// tagged for another server are not ours and are not reported.
pub async fn strays(st: &AppState, host: &Host, server_id: &str) -> Result<Vec<String>, ApiError> {
    let listing = host.call("statuses_with", |d| d.statuses_with(SERVER_KEY, server_id)).await?;
    strays_among(st, listing.keys()).await
}

/// Of these instance names (all tagged for one server), those named for a container id that
/// has no row.
async fn strays_among(st: &AppState, names: impl Iterator<Item = &String>) -> Result<Vec<String>, ApiError> {
    let ids: Vec<String> =
        names.filter_map(|n| n.strip_prefix("c-")).filter(|id| crate::db::is_id(id)).map(str::to_owned).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let known = crate::db::containers::existing(&st.db, &ids).await?;
    Ok(ids.into_iter().filter(|id| !known.iter().any(|k| k == id)).map(|id| format!("c-{id}")).collect())
}

/// Containers whose server was removed from the registry: nothing can run them.
async fn orphans(st: &AppState, by: &Trigger) -> Result<usize, ApiError> {
    let mut changed = 0;
    for c in crate::db::containers::orphaned(&st.db).await? {
        if record(st, &c, status::FAILED, by, json!({"reason": "server_gone"})).await? {
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
        match super::run(st, super::ops::Delete::new(c, Trigger::system("reconciler"))).await {
            Ok(()) => done += 1,
            Err(e) => tracing::warn!(container = %id, error = %e, "reconciler could not finish a delete"),
        }
    }
    Ok(done)
}
