//! What a container's instance holds (config, devices, network keys) and the host calls that
//! make it so; the ops in `super::ops` call these inside the runner.

use std::collections::BTreeMap;

use super::host_of;
use crate::{
    db::containers::ContainerRow,
    error::ApiError,
    host::{Host, HostError, StateAction},
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

/// Make the instance's config what the row says (environment, autostart, labels).
pub async fn sync_config(host: &Host, c: &ContainerRow) -> Result<(), HostError> {
    let set = config_of(c);
    let current = host.call("config", |d| d.config(&c.lxd_name)).await?;
    // The warm pool's mark goes too: an instance claimed from a pool is a container from then on.
    let stale = |k: &str| (k.starts_with("environment.") && !set.contains_key(k)) || k == super::ops::warm::WARM_KEY;
    let unset: Vec<String> = current.keys().filter(|k| stale(k)).cloned().collect();
    if unset.is_empty() && set.iter().all(|(k, v)| current.get(k) == Some(v)) {
        return Ok(());
    }
    host.call("update_config", |d| d.update_config(&c.lxd_name, &set, &unset)).await
}

/// `/etc/environment` inside the instance, so new logins (PAM, SSH) see the variables too
/// (`KEY="value"` lines; values never hold line breaks: they are refused at the edge).
pub async fn write_etc_environment(host: &Host, c: &ContainerRow) -> Result<(), HostError> {
    let mut text = String::from("# Managed by hoody: the container's environment variables.\n");
    for (k, v) in c.env() {
        let v = v.replace('\\', "\\\\").replace('"', "\\\"");
        text.push_str(&format!("{k}=\"{v}\"\n"));
    }
    host.call("push_file", |d| d.push_file(&c.lxd_name, "/etc/environment", text.as_bytes(), 0o644)).await
}

/// After a copy, a sync or a claim: the instance's config, network keys and devices as the
/// container's row says, whatever the source instance carried.
pub async fn settle_instance(st: &AppState, host: &Host, c: &ContainerRow) -> Result<(), ApiError> {
    sync_config(host, c).await?;
    super::network::desired(st, &c.container_id).await?.apply(st, host, &c.lxd_name, false).await?;
    let dev = kvm_device();
    host.call("set_device", |d| d.set_device(&c.lxd_name, KVM_DEVICE, c.kvm.then_some(&dev))).await?;
    // `eth0` on the container's own firewall bridge with its rules, or on the profile's network:
    // never on the bridge of the instance it was copied from.
    super::firewall::host::settle(st, host, c).await
}

/// Remove the instance from its host (stopping it first); gone already counts as done.
pub async fn destroy(st: &AppState, c: &ContainerRow) -> Result<(), ApiError> {
    let host = match host_of(st, c.server_id.as_deref()).await {
        Ok(h) => h,
        // No server any more: nothing left to remove.
        Err(ApiError::Conflict { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    remove_instance(&host, &c.lxd_name).await.map_err(ApiError::from)?;
    // Its firewall's bridge and ACL go with it (the rules' row goes with the container's), also
    // when a change that failed half-way left them without a record: two idempotent calls.
    super::firewall::host::remove(&host, &c.container_id, &c.lxd_name, false).await
}

/// Stop (if it runs) and delete one instance; gone already counts as done.
pub async fn remove_instance(host: &Host, name: &str) -> Result<(), HostError> {
    match host.call("state", |d| d.state(name)).await {
        Ok(s) if s.status != "Stopped" => {
            match host.call("set_state", |d| d.set_state(name, StateAction::ForceStop)).await {
                Ok(()) | Err(HostError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(_) => {}
        Err(HostError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(e),
    }
    match host.call("delete", |d| d.delete(name)).await {
        Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    }
}
