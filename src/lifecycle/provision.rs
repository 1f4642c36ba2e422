//! Host work for a container's whole life: create and start, apply config, delete.

use std::collections::BTreeMap;

use super::{host_of, reason, reason_of, status, transition, Trigger};
use crate::{
    db::containers::ContainerRow,
    error::ApiError,
    host::{Host, HostError, InstanceSpec, StateAction},
    state::AppState,
};

/// The instance config a container's row asks for: its environment, autostart and our labels.
pub fn config_of(c: &ContainerRow) -> BTreeMap<String, String> {
    let mut cfg: BTreeMap<String, String> = c.env().into_iter().map(|(k, v)| (format!("environment.{k}"), v)).collect();
    cfg.insert("boot.autostart".into(), c.autostart.to_string());
    cfg.insert("user.hoody.container_id".into(), c.container_id.clone());
    cfg.insert("user.hoody.project_id".into(), c.project_id.clone());
    // Whose instance this is: the reconciler removes instances of its own server only.
    if let Some(server) = &c.server_id {
        cfg.insert(SERVER_KEY.into(), server.clone());
    }
    for (k, v) in [("ai", c.ai), ("hoody_kit", c.hoody_kit), ("dev_kit", c.dev_kit), ("ramdisk", c.ramdisk)] {
        cfg.insert(format!("user.hoody.{k}"), v.to_string());
    }
    cfg
}

/// The config key naming the registry server an instance was made for.
pub const SERVER_KEY: &str = "user.hoody.server_id";

/// The instance device that passes the host's `/dev/kvm` through (when the host has one).
pub const KVM_DEVICE: &str = "hoody-kvm";

pub fn kvm_device() -> BTreeMap<String, String> {
    [("type", "unix-char"), ("source", "/dev/kvm"), ("path", "/dev/kvm"), ("required", "false")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Create the instance from its image and start it: `creating` → `running`, or `failed`.
pub async fn create_and_start(st: AppState, c: ContainerRow, by: Trigger) -> Result<(), ApiError> {
    let host = match host_of(&st, c.server_id.as_deref()).await {
        Ok(h) => h,
        Err(e) => {
            transition(
                &st,
                &c,
                &[status::CREATING],
                status::FAILED,
                &by,
                Some(serde_json::json!({"reason": "no_host"})),
            )
            .await?;
            return Err(e);
        }
    };
    let spec = InstanceSpec { name: c.lxd_name.clone(), image_alias: c.container_image.clone(), config: config_of(&c) };
    let kvm = kvm_device();
    let done = async {
        host.call(|d| d.create(&spec)).await?;
        if c.kvm {
            host.call(|d| d.set_device(&spec.name, KVM_DEVICE, Some(&kvm))).await?;
        }
        host.call(|d| d.set_state(&spec.name, StateAction::Start)).await
    }
    .await;
    if let Err(e) = done {
        transition(&st, &c, &[status::CREATING], status::FAILED, &by, Some(reason(&e))).await?;
        return Err(e.into());
    }
    transition(&st, &c, &[status::CREATING], status::RUNNING, &by, None).await?;
    Ok(())
}

/// Make the instance's config what the row says (environment, autostart, labels).
pub async fn sync_config(host: &Host, c: &ContainerRow) -> Result<(), HostError> {
    let set = config_of(c);
    let current = host.call(|d| d.config(&c.lxd_name)).await?;
    let unset: Vec<String> =
        current.keys().filter(|k| k.starts_with("environment.") && !set.contains_key(*k)).cloned().collect();
    if unset.is_empty() && set.iter().all(|(k, v)| current.get(k) == Some(v)) {
        return Ok(());
    }
    host.call(|d| d.update_config(&c.lxd_name, &set, &unset)).await
}

/// After a copy, a sync or a claim: the instance's config, network keys and devices as the
/// container's row says, whatever the source instance carried.
pub async fn settle_instance(st: &AppState, host: &Host, c: &ContainerRow) -> Result<(), ApiError> {
    sync_config(host, c).await?;
    let (set, unset) = crate::api::containers::network::desired_keys(st, &c.container_id).await?;
    host.call(|d| d.update_config(&c.lxd_name, &set, &unset)).await?;
    let dev = kvm_device();
    host.call(|d| d.set_device(&c.lxd_name, KVM_DEVICE, c.kvm.then_some(&dev))).await?;
    Ok(())
}

/// A claimed prespawned instance: apply the new owner's config and make sure it runs.
pub async fn claim(st: AppState, c: ContainerRow, by: Trigger) -> Result<(), ApiError> {
    let done = async {
        let host = host_of(&st, c.server_id.as_deref()).await?;
        settle_instance(&st, &host, &c).await?;
        let state = host.call(|d| d.state(&c.lxd_name)).await?;
        match state.status.as_str() {
            "Running" => Ok(()),
            "Frozen" => Ok(host.call(|d| d.set_state(&c.lxd_name, StateAction::Unfreeze)).await?),
            _ => Ok(host.call(|d| d.set_state(&c.lxd_name, StateAction::Start)).await?),
        }
    }
    .await;
    if let Err(e) = done {
        transition(&st, &c, &[status::CLAIMING], status::FAILED, &by, Some(reason_of(&e))).await?;
        return Err(e);
    }
    transition(&st, &c, &[status::CLAIMING], status::RUNNING, &by, None).await?;
    Ok(())
}

/// Remove the instance from its host (stopping it first); gone already counts as done.
pub async fn destroy(st: &AppState, c: &ContainerRow) -> Result<(), ApiError> {
    let host = match host_of(st, c.server_id.as_deref()).await {
        Ok(h) => h,
        // No server any more: nothing left to remove.
        Err(ApiError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_instance(&host, &c.lxd_name).await.map_err(ApiError::from)
}

/// Stop (if it runs) and delete one instance; gone already counts as done.
pub async fn remove_instance(host: &Host, name: &str) -> Result<(), HostError> {
    match host.call(|d| d.state(name)).await {
        Ok(s) if s.status != "Stopped" => match host.call(|d| d.set_state(name, StateAction::ForceStop)).await {
            Ok(()) | Err(HostError::Refused(_)) => {}
            Err(e) => return Err(e),
        },
        Ok(_) => {}
        Err(HostError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    match host.call(|d| d.delete(name)).await {
        Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Delete a container: `deleting`, the instance removed, the row gone (its event stays).
/// On a host failure the container goes back to where it was.
pub async fn delete(st: AppState, c: ContainerRow, by: Trigger) -> Result<(), ApiError> {
    let before = c.status.clone();
    // Not while another host operation runs on it (creating, copying, claiming).
    let settled = [status::RUNNING, status::STOPPED, status::PAUSED, status::FAILED, status::DELETING];
    if !transition(&st, &c, &settled, status::DELETING, &by, None).await? {
        return Err(ApiError::conflict(
            "container_busy",
            "The container is busy on its host; try again when it is done",
        ));
    }
    if let Err(e) = destroy(&st, &c).await {
        let back = if before == status::DELETING { status::FAILED } else { before.as_str() };
        transition(&st, &c, &[status::DELETING], back, &by, Some(serde_json::json!({"reason": "delete_failed"})))
            .await?;
        return Err(e);
    }
    let mut tx = st.db.begin().await?;
    sqlx::query("delete from container where container_id = $1").bind(&c.container_id).execute(&mut *tx).await?;
    let data = serde_json::json!({"name": c.name, "triggered_by": by.0});
    super::container_event(&mut *tx, &c, "container.deleted", data).await?;
    tx.commit().await?;
    Ok(())
}
