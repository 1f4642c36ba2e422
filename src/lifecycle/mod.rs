//! Containers on their hosts. Every change that touches a host is a [`HostOp`] carried out by
//! [`run`] (the runner: lock, record the intent, call the host with no transaction open, record
//! the result and its events; `ops` holds the container ops). A status change is one
//! [`transition`] inside the op's transaction: the row, a status-log row and the
//! `container.<status>` event. The reconciler compares what the database says with what the
//! hosts report; the free tier sets up a new user's default container.

pub mod env;
pub mod firewall;
pub mod free_tier;
pub mod network;
pub mod ops;
pub mod provision;

pub mod reconciler;
pub mod runner;
pub mod shares;
pub mod warm_pool;

pub use runner::{run, HostOp, LockKey};

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};

use crate::{
    db::{
        containers::{self, ContainerRow},
        status_log,
    },
    error::ApiError,
    events::{publish, Event, EventKind, ResourceType, Tx},
    host::{Host, HostError, InstanceState},
    state::AppState,
};

/// Statuses a container can have.
pub mod status {
    pub const CREATING: &str = "creating";
    pub const RUNNING: &str = "running";
    pub const PAUSED: &str = "paused";
    pub const STOPPED: &str = "stopped";
    pub const FAILED: &str = "failed";
    pub const COPYING: &str = "copying";
    pub const DELETING: &str = "deleting";
    pub const CLAIMING: &str = "claiming";
    /// In the middle of something on the host: other changes wait.
    pub fn busy(s: &str) -> bool {
        matches!(s, CREATING | COPYING | DELETING | CLAIMING)
    }
}

/// Who or what caused a change, for the status log.
#[derive(Debug, Clone)]
pub struct Trigger(pub String);

impl Trigger {
    pub fn user(user_id: &str) -> Self {
        Self(format!("user:{user_id}"))
    }
    pub fn system(what: &str) -> Self {
        Self(what.to_owned())
    }
}

/// A container's event, with its project, container and realms filled in.
pub fn container_event(c: &ContainerRow, kind: EventKind, data: Value) -> Event {
    Event::new(kind, ResourceType::Container, &c.container_id, &c.owner_id, data)
        .in_project(&c.project_id)
        .in_container(&c.container_id)
        .in_realms(&c.realm_ids)
}

/// Move `c` to `to` if it is still in one of `from` (any status when empty), inside `tx`: the
/// row, a status log row and the `container.<to>` event. Returns whether it moved.
pub async fn transition(
    tx: &mut Tx,
    c: &ContainerRow,
    from: &[&str],
    to: &str,
    by: &Trigger,
    metadata: Option<Value>,
) -> Result<bool, ApiError> {
    let Some((prev, since)) = containers::status_since_for_update(tx, &c.container_id).await? else {
        return Ok(false);
    };
    if !from.is_empty() && !from.contains(&prev.as_str()) {
        return Ok(false);
    }
    let now = chrono::Utc::now();
    containers::set_status(&mut **tx, &c.container_id, to, now).await?;
    let entry = status_log::Entry {
        container_id: &c.container_id,
        from: Some(&prev),
        to,
        at: now,
        duration_ms: Some((now - since).num_milliseconds()),
        by: &by.0,
        metadata: metadata.as_ref(),
    };
    status_log::insert(&mut **tx, &entry).await?;
    let data =
        json!({"from_status": prev, "to_status": to, "name": c.name, "triggered_by": by.0, "metadata": metadata});
    publish(tx, container_event(c, EventKind::container_status(to), data)).await?;
    Ok(true)
}

/// The same, in a transaction of its own (the reconciler's changes, which call no host).
pub async fn transition_now(
    st: &AppState,
    c: &ContainerRow,
    from: &[&str],
    to: &str,
    by: &Trigger,
    metadata: Option<Value>,
) -> Result<bool, ApiError> {
    let mut tx = st.db.begin().await?;
    let moved = transition(&mut tx, c, from, to, by, metadata).await?;
    tx.commit().await?;
    Ok(moved)
}

/// The first status log row of a new container (no previous status) and its event.
pub async fn born(tx: &mut Tx, c: &ContainerRow, by: &Trigger) -> Result<(), ApiError> {
    status_log::insert_first(&mut **tx, &c.container_id, &c.status, &by.0).await?;
    let data = json!({"to_status": c.status, "name": c.name, "triggered_by": by.0});
    publish(tx, container_event(c, EventKind::container_status(&c.status), data)).await?;
    Ok(())
}

/// The host a container lives on.
pub async fn host_of(st: &AppState, server_id: Option<&str>) -> Result<Arc<Host>, ApiError> {
    let gone = || ApiError::conflict("server_gone", "The container's server is no longer registered");
    let id = server_id.ok_or_else(gone)?;
    let row = crate::servers::by_id(&st.db, id).await?.ok_or_else(gone)?;
    st.hosts.for_server(&row, &st.sealer)
}

/// Run host work in its own task and wait for it: the work finishes even if the request is
/// dropped (client gone, request timeout), so the result is always recorded.
pub async fn detached<T: Send + 'static>(
    work: impl std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::spawn(work).await.map_err(|e| ApiError::Internal(anyhow::anyhow!("host work panicked: {e}")))?
}

/// A short reason for the status log, without the host's own words.
pub fn reason(e: &HostError) -> Value {
    let r = match e {
        HostError::Unavailable { .. } => "host_unavailable",
        HostError::Timeout => "host_timeout",
        HostError::NotFound(_) => "instance_missing",
        HostError::Refused(_) => "host_refused",
        HostError::Failed(_) => "host_failed",
    };
    json!({ "reason": r })
}

/// The same for a failure already turned into our error.
pub fn reason_of(e: &ApiError) -> Value {
    let r = match e.status().as_u16() {
        504 => "host_timeout",
        503 => "host_unavailable",
        502 => "host_failed",
        404 => "instance_missing",
        409 => "host_refused",
        _ => "failed",
    };
    json!({ "reason": r })
}

/// Our status for what LXD reports.
pub fn status_of(lxd_status: &str) -> &'static str {
    match lxd_status {
        "Running" => status::RUNNING,
        "Frozen" => status::PAUSED,
        "Stopped" => status::STOPPED,
        _ => status::FAILED,
    }
}

/// Instance states read for `?runtime=`, kept a short while (`HOODY_RUNTIME_CACHE_MS`).
pub struct RuntimeCache {
    ttl: Duration,
    map: Mutex<HashMap<String, (Instant, InstanceState)>>,
}

impl RuntimeCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, map: Mutex::default() }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, InstanceState)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, key: &str) -> Option<InstanceState> {
        self.map().get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, s)| s.clone())
    }

    pub fn put(&self, key: &str, state: InstanceState) {
        if self.ttl.is_zero() {
            return;
        }
        let mut map = self.map();
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < self.ttl);
        }
        map.insert(key.to_owned(), (Instant::now(), state));
    }

    /// Drop what was read of `key` (its host state changed: `crate::invalidate`).
    pub fn forget(&self, key: &str) {
        self.map().remove(key);
    }

    pub fn clear(&self) {
        self.map().clear();
    }
}
