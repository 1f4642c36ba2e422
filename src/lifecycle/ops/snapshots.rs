//! Snapshots: LXD keeps them (name, time, expiry); we keep their aliases and last restore.
//! Taking one counts the host's list under the container's lock, so parallel creates cannot
//! pass the limit.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::settled_now;
use crate::{
    db::{containers::ContainerRow, snapshots},
    error::ApiError,
    events::{publish, EventKind, Tx},
    host::{Host, HostError, SnapshotInfo, StateAction},
    lifecycle::{container_event, host_of, HostOp, Trigger},
    quota,
    state::AppState,
};

pub fn snapshot_not_found() -> ApiError {
    ApiError::not_found("snapshot_not_found", "Snapshot not found")
}

/// The snapshot as the host lists it; 404 when it does not.
async fn listed(host: &Host, c: &ContainerRow, name: &str) -> Result<SnapshotInfo, ApiError> {
    let list = host.call("snapshots", |d| d.snapshots(&c.lxd_name)).await?;
    list.into_iter().find(|s| s.name == name).ok_or_else(snapshot_not_found)
}

fn map_missing(e: HostError) -> ApiError {
    match e {
        HostError::NotFound(_) => snapshot_not_found(),
        e => e.into(),
    }
}

/// Take a snapshot. It is recorded before the host call; a reply lost on the way back (a failure
/// or a timeout after the call went out) may hide a snapshot the host did take, so the host's
/// list decides: listed, it is a success; not listed, the record goes with the error; the host
/// cannot say, the record stays with the error.
pub struct TakeSnapshot {
    c: ContainerRow,
    name: String,
    alias: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    max: i64,
    /// Set when the host could not say whether it took the snapshot.
    unknown: bool,
    by: Trigger,
}

impl TakeSnapshot {
    pub fn new(
        c: ContainerRow,
        name: String,
        alias: Option<String>,
        expires_at: Option<DateTime<Utc>>,
        max: i64,
        by: Trigger,
    ) -> Self {
        Self { c, name, alias, expires_at, max, unknown: false, by }
    }
}

impl HostOp for TakeSnapshot {
    type Out = ();

    names!("container.snapshot", locks: [c.container_id]);

    async fn intent(&mut self, st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.c.container_id).await?;
        quota::check_account(tx, &st.cfg, &self.c.owner_id, quota::Kind::Snapshots).await?;
        snapshots::insert(&mut **tx, &self.c.container_id, &self.name, self.alias.as_deref()).await?;
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let (c, name) = (&self.c, self.name.as_str());
        let host = host_of(st, c.server_id.as_deref()).await?;
        let held = host.call("snapshots", |d| d.snapshots(&c.lxd_name)).await?;
        if held.len() as i64 >= self.max {
            return Err(ApiError::invalid(
                "max_snapshots",
                format!("a container keeps at most {} snapshots; delete one first", self.max),
            ));
        }
        let Err(e) = host.call("snapshot", |d| d.snapshot(&c.lxd_name, name, self.expires_at)).await else {
            return Ok(());
        };
        let taken = match e {
            HostError::Failed(_) | HostError::Timeout => host
                .call("snapshots", |d| d.snapshots(&c.lxd_name))
                .await
                .ok()
                .map(|l| l.iter().any(|s| s.name == name)),
            _ => Some(false),
        };
        match taken {
            // Only the reply was lost: the snapshot is there.
            Some(true) => Ok(()),
            Some(false) => Err(e.into()),
            None => {
                self.unknown = true;
                Err(e.into())
            }
        }
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        let data = json!({"snapshot": self.name, "alias": self.alias});
        publish(tx, container_event(&self.c, EventKind::ContainerSnapshotCreated, data)).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, _e: &ApiError) -> Result<(), ApiError> {
        if !self.unknown {
            snapshots::delete(&mut **tx, &self.c.container_id, &self.name).await?;
        }
        Ok(())
    }
}

/// Roll the container back to a snapshot.
pub struct RestoreSnapshot {
    c: ContainerRow,
    name: String,
    by: Trigger,
}

impl RestoreSnapshot {
    pub fn new(c: ContainerRow, name: String, by: Trigger) -> Self {
        Self { c, name, by }
    }
}

impl HostOp for RestoreSnapshot {
    type Out = SnapshotInfo;

    names!("container.snapshot_restore", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.c.container_id).await.map(|_| ())
    }

    async fn work(&mut self, st: &AppState) -> Result<SnapshotInfo, ApiError> {
        let host = host_of(st, self.c.server_id.as_deref()).await?;
        let found = listed(&host, &self.c, &self.name).await?;
        // The snapshot brings back its own devices. Its share devices name volumes that must
        // exist for it to start; they are removed before it runs again (the sync after the
        // restore puts back the shares as they are now, never a writable mount of a share
        // read-only since), so a running instance is stopped first and started after.
        let state = host.call("state", |d| d.state(&self.c.lxd_name)).await?;
        let was_running = state.status == "Running";
        crate::lifecycle::shares::volumes_for_restore(st, &host, &self.c, &self.name).await?;
        if was_running {
            host.call("set_state", |d| d.set_state(&self.c.lxd_name, StateAction::ForceStop)).await?;
        }
        let restored = async {
            host.call("restore", |d| d.restore(&self.c.lxd_name, &self.name)).await.map_err(map_missing)?;
            crate::lifecycle::shares::strip_devices(&host, &self.c.lxd_name).await?;
            // `eth0` as the firewall says now, not as it was.
            crate::lifecycle::firewall::host::settle(st, &host, &self.c).await
        };
        let result = restored.await;
        if was_running {
            // Running again whatever happened, as it was before the request.
            host.call("set_state", |d| d.set_state(&self.c.lxd_name, StateAction::Start)).await?;
        }
        result?;
        Ok(found)
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &SnapshotInfo) -> Result<(), ApiError> {
        snapshots::mark_restored(&mut **tx, &self.c.container_id, &self.name).await?;
        let data = json!({"snapshot": self.name});
        publish(tx, container_event(&self.c, EventKind::ContainerSnapshotRestored, data)).await?;
        Ok(())
    }
}

/// Delete a snapshot from the host, and its record.
pub struct DeleteSnapshot {
    c: ContainerRow,
    name: String,
    by: Trigger,
}

impl DeleteSnapshot {
    pub fn new(c: ContainerRow, name: String, by: Trigger) -> Self {
        Self { c, name, by }
    }
}

impl HostOp for DeleteSnapshot {
    type Out = ();

    names!("container.snapshot_delete", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.c.container_id).await.map(|_| ())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let host = host_of(st, self.c.server_id.as_deref()).await?;
        listed(&host, &self.c, &self.name).await?;
        host.call("delete_snapshot", |d| d.delete_snapshot(&self.c.lxd_name, &self.name)).await.map_err(map_missing)
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        snapshots::delete(&mut **tx, &self.c.container_id, &self.name).await?;
        let data = json!({"snapshot": self.name});
        publish(tx, container_event(&self.c, EventKind::ContainerSnapshotDeleted, data)).await?;
        Ok(())
    }
}
