//! Storage shares on their hosts. A share's files live in an LXD custom storage volume
//! (`share-<share id>`, in the source's root pool), never in a host path: LXD mounts the volume
//! itself, on the source container at `source_path` (device `hoody-sharesrc-<share id>`) and on
//! each target at `/mnt/shares/<alias or share id>` (device `hoody-share-<share id>`, `readonly`
//! for read-only shares). A symbolic link inside a container can only point inside that
//! container's own view, so nothing a container holds can expose a host path (LXD 5.0 also
//! refuses to start an instance whose mount path has become a symbolic link). Defence in depth:
//! the source path is still checked through LXD's file API (no symbolic link along it) before the
//! source device is added. [`SyncMounts`] makes one container's devices match the database,
//! locking it. [`run_sweeper`] records expiries, repairs what differs (new containers of a target
//! project, shares gone with their source container, devices carried by copies and restores, work
//! a failed host left half done) and deletes the volumes of shares that are gone.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;

use super::{host_of, HostOp, LockKey, Trigger};
use crate::{
    db::{
        containers::{self, ContainerRow},
        storage_shares::{self as shares, DesiredMount, DeviceRow, VolumeRow},
    },
    error::ApiError,
    events::{publish, Event, EventKind, ResourceType, Tx},
    host::Host,
    shutdown::Stop,
    state::AppState,
};

/// Target devices: `hoody-share-<share id>`.
pub const DEVICE_PREFIX: &str = "hoody-share-";
/// Source devices: `hoody-sharesrc-<share id>`.
pub const SOURCE_PREFIX: &str = "hoody-sharesrc-";
/// What both kinds of device names start with (what the host lists; [`share_of_device`] tells
/// ours from other names that merely start alike).
const ANY_PREFIX: &str = "hoody-share";
pub const MOUNT_ROOT: &str = "/mnt/shares";

/// The share a device of ours is for; `None` for any other device.
pub fn share_of_device(name: &str) -> Option<&str> {
    name.strip_prefix(SOURCE_PREFIX).or_else(|| name.strip_prefix(DEVICE_PREFIX)).filter(|id| !id.is_empty())
}

/// The settings of a share's disk device: its volume at `mount_path`.
fn device_spec(pool: &str, volume: &str, mount_path: &str, readonly: bool) -> BTreeMap<String, String> {
    let mut spec = BTreeMap::from([
        ("type".to_owned(), "disk".to_owned()),
        ("pool".to_owned(), pool.to_owned()),
        ("source".to_owned(), volume.to_owned()),
        ("path".to_owned(), mount_path.to_owned()),
    ]);
    if readonly {
        spec.insert("readonly".into(), "true".into());
    }
    spec
}

/// Why a source path cannot be shared (shown as the share's `status_message`), or `Ok`: every
/// component a directory, none a symbolic link.
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

/// Whether the directory is empty (the share's volume is mounted over it: files there would be
/// hidden, so a share starts from an empty directory).
pub async fn is_empty_dir(host: &Host, lxd_name: &str, path: &str) -> Result<bool, ApiError> {
    let body = host.call("read_file", |d| d.read_file(lxd_name, path)).await?.unwrap_or_default();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    Ok(v["metadata"].as_array().is_some_and(|a| a.is_empty()))
}

/// What a sync did on one container.
#[derive(Debug, Default)]
pub struct Synced {
    /// Devices there now (added or kept).
    pub mounted: Vec<DeviceRow>,
    /// Shares whose device is not there (removed, or never added).
    pub unmounted: Vec<String>,
    /// Shares refused at mount time, with why.
    pub refused: Vec<(String, String)>,
    /// Shares whose device could not be added or removed (the sweeper tries again).
    pub failed: HashSet<String>,
}

/// Host calls that failed in a sync of several containers: per share, and those that failed a
/// whole container (not read, devices not listed).
#[derive(Debug, Default)]
pub struct SyncErrors {
    pub whole: usize,
    pub shares: HashSet<String>,
}

impl SyncErrors {
    /// Whether `share_id`'s devices may not be as wanted.
    pub fn touching(&self, share_id: &str) -> bool {
        self.whole > 0 || self.shares.contains(share_id)
    }
}

/// Make a container's share devices (as a source and as a target) match the database.
/// `excluding`: a share about to be deleted, treated as not wanted.
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
        let wanted: HashSet<String> = self.desired.iter().map(|d| device_name(d.is_source, &d.share_id)).collect();
        // Removals first: a path a device leaves may be the path another one takes.
        for name in present.keys().filter(|n| share_of_device(n).is_some() && !wanted.contains(*n)) {
            let share = share_of_device(name).unwrap_or(name).to_owned();
            match host.call("set_device", |h| h.set_device(&t.lxd_name, name, None)).await {
                Ok(()) => out.unmounted.push(share),
                Err(e) => {
                    tracing::warn!(device = %name, error = %e, "share not unmounted");
                    out.failed.insert(share);
                }
            }
        }
        for d in &self.desired {
            let name = device_name(d.is_source, &d.share_id);
            let spec = device_spec(&d.pool, &d.volume, &d.mount_path, d.readonly);
            let row = DeviceRow {
                share_id: d.share_id.clone(),
                device: name.clone(),
                pool: d.pool.clone(),
                source: d.volume.clone(),
                readonly: d.readonly,
                mount_path: d.mount_path.clone(),
            };
            if present.get(&name) == Some(&spec) {
                out.mounted.push(row);
                continue;
            }
            // Defence in depth: the volume never follows a link, but the source path must not be one.
            if d.is_source {
                match check_source(&host, &t.lxd_name, &d.mount_path).await {
                    Ok(Ok(())) => {}
                    Ok(Err(why)) => {
                        if present.contains_key(&name) {
                            // Not left as it was (a restore may have brought back other settings).
                            if let Err(e) = host.call("set_device", |h| h.set_device(&t.lxd_name, &name, None)).await {
                                tracing::warn!(device = %name, error = %e, "share not unmounted");
                                out.failed.insert(d.share_id.clone());
                            }
                        }
                        out.refused.push((d.share_id.clone(), why));
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(share = %d.share_id, error = %e, "share source not checked");
                        out.failed.insert(d.share_id.clone());
                        continue;
                    }
                }
            }
            let added = async {
                host.call("ensure_volume", |h| h.ensure_volume(&d.pool, &d.volume)).await?;
                host.call("set_device", |h| h.set_device(&t.lxd_name, &name, Some(&spec))).await
            };
            match added.await {
                Ok(()) => out.mounted.push(row),
                Err(e) => {
                    tracing::warn!(share = %d.share_id, error = %e, "share not mounted");
                    out.failed.insert(d.share_id.clone());
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
        for s in &out.unmounted {
            shares::forget_device(&mut **tx, id, s).await?;
        }
        for m in &out.mounted {
            shares::record_device(&mut **tx, id, m).await?;
            // A sync that read the share before its delete may have made its volume again: the
            // row lets the sweeper delete it once no device uses it.
            let v = VolumeRow {
                share_id: m.share_id.clone(),
                server_id: self.target.server_id.clone(),
                pool: m.pool.clone(),
                volume: m.source.clone(),
            };
            shares::record_volume(&mut **tx, &v).await?;
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

/// Sync every container in `targets` (errors are logged: the sweeper repairs); the host calls
/// that failed.
pub async fn sync_targets(st: &AppState, targets: &[String], excluding: Option<&str>, by: &Trigger) -> SyncErrors {
    let mut errors = SyncErrors::default();
    for id in targets {
        let row = match containers::by_id(&st.db, id).await {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "share target not read");
                errors.whole += 1;
                continue;
            }
        };
        match super::run(st, SyncMounts::new(row, excluding.map(str::to_owned), by.clone())).await {
            Ok(s) => errors.shares.extend(s.failed),
            Err(e) => {
                tracing::warn!(container = %id, error = %e, "share mounts not synced");
                errors.whole += 1;
            }
        }
    }
    errors
}

/// The device of a share on a container: its source's, or a target's.
fn device_name(is_source: bool, share_id: &str) -> String {
    format!("{}{share_id}", if is_source { SOURCE_PREFIX } else { DEVICE_PREFIX })
}

/// Remove every share device from an instance (a copy carries its source's, a restore its
/// snapshot's: the next sync puts back what the database says, as it says it).
pub async fn strip_devices(host: &Host, lxd_name: &str) -> Result<(), ApiError> {
    let present = host.call("devices", |d| d.devices(lxd_name)).await?;
    for name in present.keys().filter(|n| share_of_device(n).is_some()) {
        host.call("set_device", |d| d.set_device(lxd_name, name, None)).await?;
    }
    Ok(())
}

/// Before a restore: the volumes the snapshot's share devices name, made again when their share
/// was deleted since (LXD refuses to start an instance whose disk names a missing volume), each
/// recorded so the sweeper deletes it once the device is gone. The devices themselves are
/// stripped after the restore ([`strip_devices`]).
pub async fn volumes_for_restore(st: &AppState, host: &Host, c: &ContainerRow, snapshot: &str) -> Result<(), ApiError> {
    let devices = host.call("snapshot_devices", |d| d.snapshot_devices(&c.lxd_name, snapshot)).await?;
    for (name, spec) in &devices {
        let Some(share_id) = share_of_device(name) else { continue };
        let (Some(pool), Some(volume)) = (spec.get("pool"), spec.get("source")) else { continue };
        if volume != &format!("share-{share_id}") {
            continue;
        }
        let v = VolumeRow {
            share_id: share_id.to_owned(),
            server_id: c.server_id.clone(),
            pool: pool.clone(),
            volume: volume.clone(),
        };
        // Kept while the restore may need it; the sweeper deletes it after (no device uses it then).
        let until = chrono::Utc::now() + st.cfg.host_lock_wait + st.cfg.host_op_deadline * 2;
        shares::hold_volume(&st.db, &v, until).await?;
        host.call("ensure_volume", |d| d.ensure_volume(pool, volume)).await?;
    }
    Ok(())
}

/// Sync one container now (after a restore or a copy brought back devices of its own).
pub async fn sync_container(st: &AppState, container_id: &str, by: &Trigger) {
    sync_targets(st, &[container_id.to_owned()], None, by).await;
}

/// Delete a volume whose share is gone once no device uses it and no restore holds it; whether
/// it is gone. The row is claimed first (a restore that holds it meanwhile keeps it), and put
/// back when the host could not delete the volume.
pub async fn drop_volume(st: &AppState, v: &VolumeRow) -> Result<bool, ApiError> {
    let Some(v) = shares::claim_volume(&st.db, &v.share_id).await? else { return Ok(false) };
    let host = match host_of(st, v.server_id.as_deref()).await {
        Ok(h) => h,
        // The server left the registry: its volumes went with it.
        Err(ApiError::Conflict { .. }) => return Ok(true),
        Err(e) => {
            shares::record_volume(&st.db, &v).await?;
            return Err(e);
        }
    };
    if let Err(e) = host.call("delete_volume", |d| d.delete_volume(&v.pool, &v.volume)).await {
        shares::record_volume(&st.db, &v).await?;
        return Err(e.into());
    }
    Ok(true)
}

/// Settled containers whose share devices on their host differ from the rows, in name or in
/// any setting (a copy or a restore carried devices no row tracks or a writable one where the
/// share is read-only now, or one was removed behind our back).
async fn drifted(st: &AppState) -> Result<Vec<String>, ApiError> {
    type Recorded = (String, String, BTreeMap<String, BTreeMap<String, String>>);
    let mut by_server: HashMap<String, BTreeMap<String, Recorded>> = HashMap::new();
    for r in shares::settled_with_devices(&st.db).await? {
        let Some(server) = r.server_id else { continue };
        let entry = by_server
            .entry(server)
            .or_default()
            .entry(r.container_id.clone())
            .or_insert_with(|| (r.container_id, r.lxd_name, BTreeMap::new()));
        if let Some(d) = r.device {
            entry.2.insert(d.device.clone(), device_spec(&d.pool, &d.source, &d.mount_path, d.readonly));
        }
    }
    let mut out = Vec::new();
    for (server, rows) in by_server {
        let host = match host_of(st, Some(&server)).await {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(server = %server, error = %e, "share devices not listed");
                continue;
            }
        };
        let on_host = match host.call("devices_named", |d| d.devices_named(ANY_PREFIX)).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(server = %server, error = %e, "share devices not listed");
                continue;
            }
        };
        for (container_id, lxd_name, recorded) in rows.into_values() {
            let mut there = on_host.get(&lxd_name).cloned().unwrap_or_default();
            there.retain(|name, _| share_of_device(name).is_some());
            if there != recorded {
                out.push(container_id);
            }
        }
    }
    Ok(out)
}

/// After a change of `user_id`'s access (a project permission lowered or removed): the shares
/// they created leave the targets they may no longer reach now, in the background, not at the
/// next sweep. Every container their shares may be on is synced (each sync reads the database
/// under the container's lock, so one that began before the change is followed by one after).
pub fn resync_creator_soon(st: &AppState, user_id: &str, by: Trigger) {
    let st = st.clone();
    let user_id = user_id.to_owned();
    tokio::spawn(async move {
        match shares::targets_of_creator(&st.db, &user_id).await {
            Ok(targets) => {
                sync_targets(&st, &targets, None, &by).await;
            }
            Err(e) => tracing::warn!(error = %e, "share mounts not re-checked; the sweeper will"),
        }
    });
}

/// One sweep: expiries recorded (their events), then every container whose devices differ
/// synced, then the volumes of shares that are gone deleted.
pub async fn sweep(st: &AppState) -> Result<usize, ApiError> {
    let mut tx = st.db.begin().await?;
    let expired = shares::take_expired(&mut *tx).await?;
    for row in shares::rows(&mut *tx, &expired).await? {
        let data = json!({"expires_at": row.expires_at.map(|t| t.timestamp())});
        publish(&mut tx, share_event(&row, EventKind::StorageShareExpired, data)).await?;
    }
    tx.commit().await?;
    let mut targets = shares::targets_to_sync(&st.db).await?;
    for id in drifted(st).await? {
        if !targets.contains(&id) {
            targets.push(id);
        }
    }
    sync_targets(st, &targets, None, &Trigger::system("share_sweeper")).await;
    for v in shares::orphan_volumes(&st.db).await? {
        if let Err(e) = drop_volume(st, &v).await {
            tracing::warn!(share = %v.share_id, error = %e, "share volume not deleted");
        }
    }
    Ok(targets.len())
}

pub async fn run_sweeper(st: AppState, stop: Stop) {
    let period = st.cfg.share_sweep_interval;
    crate::lease::every(st, stop, "share_sweep", period, |st| async move {
        if let Err(e) = sweep(&st).await {
            tracing::warn!(error = %e, "share sweep failed");
        }
    })
    .await
}
