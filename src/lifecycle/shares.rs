//! Storage shares on their hosts. A share is mounted on a target container as an LXD disk
//! device (`hoody-share-<share id>`) whose source is the shared directory inside the source
//! container's rootfs on the host, at `/mnt/shares/<alias or share id>`, `readonly` for
//! read-only shares. [`SyncMounts`] makes one target's devices match what the database says
//! (enabled, unexpired, accepted by the receiver, both ends on one host), locking the target.
//! Before any device is added, every component of the source path is checked through LXD's file
//! API: a symlink (or anything not a directory) refuses the mount and the share turns `failed`,
//! so a link planted by the source's owner can never bind a host path into the target.
//! [`run_sweeper`] records expiries and repairs what differs (new containers of a target project,
//! shares gone with their source container, work a failed host left half done).

use std::collections::{BTreeMap, HashSet};

use serde_json::json;

use super::{host_of, HostOp, LockKey, Trigger};
use crate::{
    db::{
        containers::{self, ContainerRow},
        storage_shares::{self as shares, DesiredMount, DeviceRow},
    },
    error::ApiError,
    events::{publish, Event, EventKind, ResourceType, Tx},
    host::Host,
    shutdown::Stop,
    state::AppState,
};

pub const DEVICE_PREFIX: &str = "hoody-share-";
pub const MOUNT_ROOT: &str = "/mnt/shares";

/// Why a source path cannot be mounted (shown as the share's `status_message`), or `Ok`.
pub async fn check_source(host: &Host, lxd_name: &str, path: &str) -> Result<Result<(), String>, ApiError> {
    let mut prefix = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        prefix.push('/');
        prefix.push_str(part);
        let kind = host.call("path_kind", |d| d.path_kind(lxd_name, &prefix)).await?;
        match kind.as_deref() {
            Some("directory") => {}
            Some("symlink") => {
                return Ok(Err(format!(
                    "{prefix} is a symbolic link in the source container; shares never follow links"
                )))
            }
            Some(_) => return Ok(Err(format!("{prefix} is not a directory in the source container"))),
            None => return Ok(Err(format!("{prefix} does not exist in the source container"))),
        }
    }
    Ok(Ok(()))
}

/// What a sync did on one target.
#[derive(Debug, Default)]
pub struct Synced {
    /// Devices there now (added or kept).
    pub mounted: Vec<DeviceRow>,
    /// Shares whose device is not there (removed, or never added).
    pub unmounted: Vec<String>,
    /// Shares refused at mount time, with why.
    pub refused: Vec<(String, String)>,
    /// Host calls that failed (the sweeper tries again).
    pub errors: usize,
}

/// Make `target`'s share devices match the database. `excluding`: a share about to be deleted,
/// treated as not wanted.
pub struct SyncMounts {
    target: ContainerRow,
    excluding: Option<String>,
    by: Trigger,
    desired: Vec<DesiredMount>,
    recorded: Vec<DeviceRow>,
}

impl SyncMounts {
    pub fn new(target: ContainerRow, excluding: Option<String>, by: Trigger) -> Self {
        Self { target, excluding, by, desired: Vec::new(), recorded: Vec::new() }
    }
}

fn device_name(share_id: &str) -> String {
    format!("{DEVICE_PREFIX}{share_id}")
}

/// Mount paths: the alias when no earlier share on this target took it, else the share id.
fn mount_paths(desired: &[DesiredMount]) -> Vec<String> {
    let mut used = HashSet::new();
    desired
        .iter()
        .map(|d| {
            let name = d.alias.clone().filter(|a| !used.contains(a)).unwrap_or_else(|| d.share_id.clone());
            used.insert(name.clone());
            format!("{MOUNT_ROOT}/{name}")
        })
        .collect()
}

impl HostOp for SyncMounts {
    type Out = Synced;

    fn kind(&self) -> &'static str {
        "storage.share.mount"
    }

    fn locks(&self) -> Vec<LockKey> {
        vec![LockKey::container(&self.target.container_id)]
    }

    fn trigger(&self) -> &Trigger {
        &self.by
    }

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let id = &self.target.container_id;
        self.desired = shares::desired_for(&mut **tx, id).await?;
        if let Some(x) = &self.excluding {
            self.desired.retain(|d| &d.share_id != x);
        }
        self.recorded = shares::devices_of(&mut **tx, id).await?;
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<Synced, ApiError> {
        let t = &self.target;
        let host = host_of(st, t.server_id.as_deref()).await?;
        let mut out = Synced::default();
        let present = match host.call("devices", |d| d.devices(&t.lxd_name)).await {
            Ok(p) => p,
            // The instance is gone: nothing of ours is on it.
            Err(crate::host::HostError::NotFound(_)) => {
                out.unmounted = self.recorded.iter().map(|r| r.share_id.clone()).collect();
                return Ok(out);
            }
            Err(e) => return Err(e.into()),
        };
        let mut wanted = HashSet::new();
        for (d, mount_path) in self.desired.iter().zip(mount_paths(&self.desired)) {
            let name = device_name(&d.share_id);
            let source = match host.call("host_path", |h| h.host_path(&d.source_lxd_name, &d.source_path)).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(share = %d.share_id, error = %e, "share source not resolved");
                    out.errors += 1;
                    wanted.insert(name);
                    continue;
                }
            };
            let mut spec = BTreeMap::from([
                ("type".to_owned(), "disk".to_owned()),
                ("source".to_owned(), source.clone()),
                ("path".to_owned(), mount_path.clone()),
            ]);
            if d.readonly {
                spec.insert("readonly".into(), "true".into());
            }
            let row = DeviceRow {
                share_id: d.share_id.clone(),
                device: name.clone(),
                source,
                readonly: d.readonly,
                mount_path,
            };
            if present.get(&name) == Some(&spec) {
                wanted.insert(name);
                out.mounted.push(row);
                continue;
            }
            // Checked again at every mount: the source's owner may have planted a link since.
            match check_source(&host, &d.source_lxd_name, &d.source_path).await {
                Ok(Ok(())) => {}
                Ok(Err(why)) => {
                    out.refused.push((d.share_id.clone(), why));
                    continue;
                }
                Err(e) => {
                    tracing::warn!(share = %d.share_id, error = %e, "share source not checked");
                    out.errors += 1;
                    wanted.insert(name);
                    continue;
                }
            }
            match host.call("set_device", |h| h.set_device(&t.lxd_name, &name, Some(&spec))).await {
                Ok(()) => out.mounted.push(row),
                Err(e) => {
                    tracing::warn!(share = %d.share_id, error = %e, "share not mounted");
                    out.errors += 1;
                }
            }
            wanted.insert(name);
        }
        for name in present.keys().filter(|n| n.starts_with(DEVICE_PREFIX) && !wanted.contains(*n)) {
            match host.call("set_device", |h| h.set_device(&t.lxd_name, name, None)).await {
                Ok(()) => out.unmounted.push(name[DEVICE_PREFIX.len()..].to_owned()),
                Err(e) => {
                    tracing::warn!(device = %name, error = %e, "share not unmounted");
                    out.errors += 1;
                }
            }
        }
        // Rows of devices that are not on the host (removed behind our back) go too.
        for r in &self.recorded {
            if !present.contains_key(&r.device) && !out.mounted.iter().any(|m| m.share_id == r.share_id) {
                out.unmounted.push(r.share_id.clone());
            }
        }
        Ok(out)
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, out: &Synced) -> Result<(), ApiError> {
        let id = &self.target.container_id;
        for m in &out.mounted {
            shares::record_device(&mut **tx, id, m).await?;
        }
        for s in &out.unmounted {
            shares::forget_device(&mut **tx, id, s).await?;
        }
        for (s, why) in &out.refused {
            shares::forget_device(&mut **tx, id, s).await?;
            shares::set_failed(&mut **tx, s, why).await?;
            if let Some(row) = shares::by_id(&mut **tx, s).await? {
                let data = json!({"status": "failed", "status_message": why, "container_id": id});
                publish(tx, share_event(&row, EventKind::StorageShareUpdated, data)).await?;
            }
        }
        Ok(())
    }
}

/// A share's event, in its source container's project and realms.
pub fn share_event(s: &shares::ShareRow, kind: EventKind, data: serde_json::Value) -> Event {
    Event::new(kind, ResourceType::StorageShare, &s.share_id, &s.owner_id, data)
        .in_project(&s.source_project_id)
        .in_container(&s.source_container_id)
        .in_realms(&s.realm_ids)
}

/// Sync every container in `targets` (errors are logged: the sweeper repairs); how many host
/// calls failed.
pub async fn sync_targets(st: &AppState, targets: &[String], excluding: Option<&str>, by: &Trigger) -> usize {
    let mut errors = 0;
    for id in targets {
        let row = match containers::by_id(&st.db, id).await {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "share target not read");
                errors += 1;
                continue;
            }
        };
        match super::run(st, SyncMounts::new(row, excluding.map(str::to_owned), by.clone())).await {
            Ok(s) => errors += s.errors,
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "share mounts not synced");
                errors += 1;
            }
        }
    }
    errors
}

/// One sweep: expiries recorded (their events), then every target whose devices differ synced.
pub async fn sweep(st: &AppState) -> Result<usize, ApiError> {
    let mut tx = st.db.begin().await?;
    let expired = shares::take_expired(&mut *tx).await?;
    for row in shares::rows(&mut *tx, &expired).await? {
        let data = json!({"expires_at": row.expires_at.map(|t| t.timestamp())});
        publish(&mut tx, share_event(&row, EventKind::StorageShareExpired, data)).await?;
    }
    tx.commit().await?;
    let targets = shares::targets_to_sync(&st.db).await?;
    sync_targets(st, &targets, None, &Trigger::system("share_sweeper")).await;
    Ok(targets.len())
}

pub async fn run_sweeper(st: AppState, stop: Stop) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(st.cfg.share_sweep_interval) => {}
            _ = stop.wait() => return,
        }
        if let Err(e) = sweep(&st).await {
            tracing::warn!(error = %e, "share sweep failed");
        }
    }
}
