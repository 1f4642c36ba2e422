//! Container state changes, done the one way the design allows: record the intent and commit,
//! call the host outside any transaction, record the result. Every status change is one short
//! transaction that updates the row, appends a status-log row and an event row.
//! Host work runs in its own task, so a client that hangs up does not leave a change half done.

pub mod free_tier;
pub mod provision;
pub mod reconciler;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use sqlx::PgExecutor;

use crate::{
    db::{containers::ContainerRow, new_id},
    error::ApiError,
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

/// One event row.
#[allow(clippy::too_many_arguments)]
pub async fn event(
    db: impl PgExecutor<'_>,
    user_id: &str,
    event_type: &str,
    resource_type: &str,
    resource_id: &str,
    project_id: Option<&str>,
    container_id: Option<&str>,
    realm_ids: &[String],
    data: Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "insert into event (event_id, user_id, event_type, resource_type, resource_id, project_id, container_id, \
         realm_ids, data) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(user_id)
    .bind(event_type)
    .bind(resource_type)
    .bind(resource_id)
    .bind(project_id)
    .bind(container_id)
    .bind(realm_ids)
    .bind(data)
    .execute(db)
    .await?;
    Ok(())
}

/// One event row about a container.
pub async fn container_event(db: impl PgExecutor<'_>, c: &ContainerRow, kind: &str, data: Value) -> sqlx::Result<()> {
    let (project, container) = (Some(c.project_id.as_str()), Some(c.container_id.as_str()));
    event(db, &c.owner_id, kind, "container", &c.container_id, project, container, &c.realm_ids, data).await
}

/// Move `c` to `to` if it is still in one of `from` (any status when empty): the row, a status
/// log row and a `container.<to>` event, in one transaction. Returns whether it moved.
pub async fn transition(
    st: &AppState,
    c: &ContainerRow,
    from: &[&str],
    to: &str,
    by: &Trigger,
    metadata: Option<Value>,
) -> Result<bool, ApiError> {
    let mut tx = st.db.begin().await?;
    let prev: Option<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("select status, status_changed_at from container where container_id = $1 for update")
            .bind(&c.container_id)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((prev, since)) = prev else { return Ok(false) };
    if !from.is_empty() && !from.contains(&prev.as_str()) {
        return Ok(false);
    }
    let now = chrono::Utc::now();
    sqlx::query("update container set status = $2, status_changed_at = $3 where container_id = $1")
        .bind(&c.container_id)
        .bind(to)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let duration_ms = (now - since).num_milliseconds();
    sqlx::query(
        "insert into container_status_log (log_id, container_id, from_status, to_status, transition_time, \
         duration_ms, triggered_by, metadata) values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(&c.container_id)
    .bind(&prev)
    .bind(to)
    .bind(now)
    .bind(duration_ms)
    .bind(&by.0)
    .bind(&metadata)
    .execute(&mut *tx)
    .await?;
    let data =
        json!({"from_status": prev, "to_status": to, "name": c.name, "triggered_by": by.0, "metadata": metadata});
    container_event(&mut *tx, c, &format!("container.{to}"), data).await?;
    tx.commit().await?;
    Ok(true)
}

/// The first status log row of a new container (no previous status).
pub async fn born(db: &mut sqlx::PgConnection, c: &ContainerRow, by: &Trigger) -> sqlx::Result<()> {
    sqlx::query(
        "insert into container_status_log (log_id, container_id, from_status, to_status, triggered_by) \
         values ($1, $2, null, $3, $4)",
    )
    .bind(new_id())
    .bind(&c.container_id)
    .bind(&c.status)
    .bind(&by.0)
    .execute(&mut *db)
    .await?;
    let data = json!({"to_status": c.status, "name": c.name, "triggered_by": by.0});
    let kind = format!("container.{}", c.status);
    container_event(db, c, &kind, data).await
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

/// Instance states read for `?runtime=`, kept two seconds.
#[derive(Default)]
pub struct RuntimeCache(Mutex<HashMap<String, (Instant, InstanceState)>>);

impl RuntimeCache {
    const TTL: Duration = Duration::from_secs(2);

    pub fn get(&self, key: &str) -> Option<InstanceState> {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.get(key).filter(|(at, _)| at.elapsed() < Self::TTL).map(|(_, s)| s.clone())
    }

    pub fn put(&self, key: &str, state: InstanceState) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        }
        map.insert(key.to_owned(), (Instant::now(), state));
    }
}
