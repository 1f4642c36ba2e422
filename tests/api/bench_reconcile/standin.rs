//! The hosts the reconcile measurement runs against: [`Counting`] counts every call a driver
//! gets, by method; [`Fleet`] is a stand-in host holding many instances in memory, for the
//! fault-injecting driver to wrap.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use chrono::{DateTime, Utc};
use hoody_api::host::{
    Acl, Devices, ExecOutput, HostDriver, HostError, HostFuture, HostResources, ImageInfo, InstanceSpec, InstanceState,
    NetworkInfo, ServerInfo, SnapshotInfo, StateAction,
};

// ---------------------------------------------------------------------------------------------
// Counting every host call, by driver method.

/// Wraps a driver and counts each call by method name.
pub struct Counting {
    inner: Arc<dyn HostDriver>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    /// The instances whose files were read, in order.
    files_read: Mutex<Vec<String>>,
}

impl Counting {
    pub fn new(inner: Arc<dyn HostDriver>) -> Self {
        Self { inner, calls: Mutex::new(BTreeMap::new()), files_read: Mutex::new(Vec::new()) }
    }

    pub fn take_files_read(&self) -> Vec<String> {
        std::mem::take(&mut *self.files_read.lock().unwrap())
    }

    fn hit(&self, method: &'static str) -> &dyn HostDriver {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        self.inner.as_ref()
    }

    pub fn take(&self) -> BTreeMap<&'static str, usize> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

impl HostDriver for Counting {
    fn info(&self) -> HostFuture<'_, ServerInfo> {
        self.hit("info").info()
    }
    fn resources(&self) -> HostFuture<'_, HostResources> {
        self.hit("resources").resources()
    }
    fn create<'a>(&'a self, spec: &'a InstanceSpec) -> HostFuture<'a, ()> {
        self.hit("create").create(spec)
    }
    fn set_state<'a>(&'a self, name: &'a str, action: StateAction) -> HostFuture<'a, ()> {
        self.hit("set_state").set_state(name, action)
    }
    fn update_config<'a>(
        &'a self,
        name: &'a str,
        set: &'a BTreeMap<String, String>,
        unset: &'a [String],
    ) -> HostFuture<'a, ()> {
        self.hit("update_config").update_config(name, set, unset)
    }
    fn config<'a>(&'a self, name: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        self.hit("config").config(name)
    }
    fn set_device<'a>(
        &'a self,
        name: &'a str,
        device: &'a str,
        spec: Option<&'a BTreeMap<String, String>>,
    ) -> HostFuture<'a, ()> {
        self.hit("set_device").set_device(name, device, spec)
    }
    fn state<'a>(&'a self, name: &'a str) -> HostFuture<'a, InstanceState> {
        self.hit("state").state(name)
    }
    fn exists<'a>(&'a self, name: &'a str) -> HostFuture<'a, bool> {
        self.hit("exists").exists(name)
    }
    fn snapshot<'a>(
        &'a self,
        name: &'a str,
        snapshot: &'a str,
        expires_at: Option<DateTime<Utc>>,
    ) -> HostFuture<'a, ()> {
        self.hit("snapshot").snapshot(name, snapshot, expires_at)
    }
    fn snapshots<'a>(&'a self, name: &'a str) -> HostFuture<'a, Vec<SnapshotInfo>> {
        self.hit("snapshots").snapshots(name)
    }
    fn restore<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        self.hit("restore").restore(name, snapshot)
    }
    fn rename_snapshot<'a>(&'a self, name: &'a str, from: &'a str, to: &'a str) -> HostFuture<'a, ()> {
        self.hit("rename_snapshot").rename_snapshot(name, from, to)
    }
    fn delete_snapshot<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_snapshot").delete_snapshot(name, snapshot)
    }
    fn copy<'a>(&'a self, source: &'a str, target: &'a str, refresh: bool) -> HostFuture<'a, ()> {
        self.hit("copy").copy(source, target, refresh)
    }
    fn delete<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete").delete(name)
    }
    fn push_file<'a>(&'a self, name: &'a str, path: &'a str, content: &'a [u8], mode: u32) -> HostFuture<'a, ()> {
        self.hit("push_file").push_file(name, path, content, mode)
    }
    fn read_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<Vec<u8>>> {
        self.files_read.lock().unwrap().push(name.to_owned());
        self.hit("read_file").read_file(name, path)
    }
    fn delete_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_file").delete_file(name, path)
    }
    fn statuses_with<'a>(&'a self, key: &'a str, value: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        self.hit("statuses_with").statuses_with(key, value)
    }
    fn image_exists<'a>(&'a self, alias: &'a str) -> HostFuture<'a, bool> {
        self.hit("image_exists").image_exists(alias)
    }
    fn networks(&self) -> HostFuture<'_, Vec<NetworkInfo>> {
        self.hit("networks").networks()
    }
    fn create_bridge<'a>(&'a self, name: &'a str, config: &'a BTreeMap<String, String>) -> HostFuture<'a, ()> {
        self.hit("create_bridge").create_bridge(name, config)
    }
    fn delete_network<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_network").delete_network(name)
    }
    fn acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, Option<Acl>> {
        self.hit("acl").acl(name)
    }
    fn acls<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, Vec<Acl>> {
        self.hit("acls").acls(prefix)
    }
    fn put_acl<'a>(&'a self, acl: &'a Acl) -> HostFuture<'a, ()> {
        self.hit("put_acl").put_acl(acl)
    }
    fn delete_acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_acl").delete_acl(name)
    }
    fn exec<'a>(&'a self, name: &'a str, command: &'a [&'a str]) -> HostFuture<'a, ()> {
        self.hit("exec").exec(name, command)
    }
    fn exec_output<'a>(
        &'a self,
        name: &'a str,
        command: &'a [String],
        wait: Duration,
        max_output: usize,
    ) -> HostFuture<'a, ExecOutput> {
        self.hit("exec_output").exec_output(name, command, wait, max_output)
    }
    fn publish_image<'a>(
        &'a self,
        source: &'a str,
        alias: &'a str,
        properties: &'a BTreeMap<String, String>,
    ) -> HostFuture<'a, ImageInfo> {
        self.hit("publish_image").publish_image(source, alias, properties)
    }
    fn delete_image<'a>(&'a self, fingerprint: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_image").delete_image(fingerprint)
    }
    fn path_kind<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<String>> {
        self.hit("path_kind").path_kind(name, path)
    }
    fn devices<'a>(&'a self, name: &'a str) -> HostFuture<'a, Devices> {
        self.hit("devices").devices(name)
    }
    fn snapshot_devices<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, Devices> {
        self.hit("snapshot_devices").snapshot_devices(name, snapshot)
    }
    fn root_pool<'a>(&'a self, name: &'a str) -> HostFuture<'a, String> {
        self.hit("root_pool").root_pool(name)
    }
    fn ensure_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        self.hit("ensure_volume").ensure_volume(pool, volume)
    }
    fn delete_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        self.hit("delete_volume").delete_volume(pool, volume)
    }
    fn devices_named<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, BTreeMap<String, Devices>> {
        self.hit("devices_named").devices_named(prefix)
    }
}

// ---------------------------------------------------------------------------------------------
// A stand-in host holding many instances (in memory), for the fault-injecting driver to wrap.

/// A host whose instances are made for one server: each name with its status, a proxy file
/// (versions 0, 0: what the rows say was written), and for those with a firewall its ACL (no
/// rules) and bridge. What the reconciler reads answers from memory; anything else is a failure
/// (a pass that tried it would show in the counts and the log).
pub struct Fleet {
    pub server_id: String,
    /// Instance name → status.
    pub statuses: BTreeMap<String, String>,
    /// Bridges and ACLs of the instances with a firewall.
    pub firewalls: Vec<String>,
    /// Instances that lost their proxy file.
    pub lost_files: Vec<String>,
}

fn unsupported<'a, T: Send + 'a>(what: &'static str) -> HostFuture<'a, T> {
    Box::pin(async move { Err(HostError::Failed(format!("the stand-in host does not {what}"))) })
}

fn ready<'a, T: Send + 'a>(v: T) -> HostFuture<'a, T> {
    Box::pin(async move { Ok(v) })
}

impl HostDriver for Fleet {
    fn info(&self) -> HostFuture<'_, ServerInfo> {
        ready(ServerInfo { server_version: "5.0.2".into(), api_extensions: Vec::new() })
    }
    fn resources(&self) -> HostFuture<'_, HostResources> {
        ready(HostResources::default())
    }
    fn create<'a>(&'a self, _: &'a InstanceSpec) -> HostFuture<'a, ()> {
        unsupported("create")
    }
    fn set_state<'a>(&'a self, _: &'a str, _: StateAction) -> HostFuture<'a, ()> {
        unsupported("change states")
    }
    fn update_config<'a>(&'a self, _: &'a str, _: &'a BTreeMap<String, String>, _: &'a [String]) -> HostFuture<'a, ()> {
        unsupported("change configs")
    }
    fn config<'a>(&'a self, _: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        unsupported("read configs")
    }
    fn set_device<'a>(&'a self, _: &'a str, _: &'a str, _: Option<&'a BTreeMap<String, String>>) -> HostFuture<'a, ()> {
        unsupported("set devices")
    }
    fn state<'a>(&'a self, name: &'a str) -> HostFuture<'a, InstanceState> {
        let found = self.statuses.get(name).map(|s| InstanceState { status: s.clone(), ..InstanceState::default() });
        Box::pin(async move { found.ok_or_else(|| HostError::NotFound(name.to_owned())) })
    }
    fn exists<'a>(&'a self, name: &'a str) -> HostFuture<'a, bool> {
        ready(self.statuses.contains_key(name))
    }
    fn snapshot<'a>(&'a self, _: &'a str, _: &'a str, _: Option<DateTime<Utc>>) -> HostFuture<'a, ()> {
        unsupported("snapshot")
    }
    fn snapshots<'a>(&'a self, _: &'a str) -> HostFuture<'a, Vec<SnapshotInfo>> {
        ready(Vec::new())
    }
    fn restore<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("restore")
    }
    fn rename_snapshot<'a>(&'a self, _: &'a str, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("rename snapshots")
    }
    fn delete_snapshot<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete snapshots")
    }
    fn copy<'a>(&'a self, _: &'a str, _: &'a str, _: bool) -> HostFuture<'a, ()> {
        unsupported("copy")
    }
    fn delete<'a>(&'a self, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete")
    }
    fn push_file<'a>(&'a self, _: &'a str, _: &'a str, _: &'a [u8], _: u32) -> HostFuture<'a, ()> {
        unsupported("push files")
    }
    fn read_file<'a>(&'a self, name: &'a str, _: &'a str) -> HostFuture<'a, Option<Vec<u8>>> {
        let held = self.statuses.contains_key(name) && !self.lost_files.iter().any(|n| n == name);
        ready(held.then(|| br#"{"container_file_version": 0, "project_file_version": 0}"#.to_vec()))
    }
    fn delete_file<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete files")
    }
    fn statuses_with<'a>(&'a self, _: &'a str, value: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        ready(if value == self.server_id { self.statuses.clone() } else { BTreeMap::new() })
    }
    fn image_exists<'a>(&'a self, _: &'a str) -> HostFuture<'a, bool> {
        ready(true)
    }
    fn networks(&self) -> HostFuture<'_, Vec<NetworkInfo>> {
        ready(
            self.firewalls
                .iter()
                .map(|n| NetworkInfo { name: n.clone(), managed: true, ipv4: Some("10.200.0.1/28".into()) })
                .collect(),
        )
    }
    fn create_bridge<'a>(&'a self, _: &'a str, _: &'a BTreeMap<String, String>) -> HostFuture<'a, ()> {
        unsupported("make bridges")
    }
    fn delete_network<'a>(&'a self, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete networks")
    }
    fn acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, Option<Acl>> {
        let held = self.firewalls.iter().any(|n| n == name);
        ready(held.then(|| Acl { name: name.to_owned(), ingress: Vec::new(), egress: Vec::new() }))
    }
    fn acls<'a>(&'a self, _: &'a str) -> HostFuture<'a, Vec<Acl>> {
        ready(self.firewalls.iter().map(|n| Acl { name: n.clone(), ingress: Vec::new(), egress: Vec::new() }).collect())
    }
    fn put_acl<'a>(&'a self, _: &'a Acl) -> HostFuture<'a, ()> {
        unsupported("write ACLs")
    }
    fn delete_acl<'a>(&'a self, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete ACLs")
    }
    fn exec<'a>(&'a self, _: &'a str, _: &'a [&'a str]) -> HostFuture<'a, ()> {
        unsupported("run commands")
    }
    fn exec_output<'a>(&'a self, _: &'a str, _: &'a [String], _: Duration, _: usize) -> HostFuture<'a, ExecOutput> {
        unsupported("run commands")
    }
    fn publish_image<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: &'a BTreeMap<String, String>,
    ) -> HostFuture<'a, ImageInfo> {
        unsupported("publish images")
    }
    fn delete_image<'a>(&'a self, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete images")
    }
    fn path_kind<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, Option<String>> {
        ready(None)
    }
    fn devices<'a>(&'a self, _: &'a str) -> HostFuture<'a, Devices> {
        ready(Devices::new())
    }
    fn snapshot_devices<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, Devices> {
        ready(Devices::new())
    }
    fn root_pool<'a>(&'a self, _: &'a str) -> HostFuture<'a, String> {
        ready("default".to_owned())
    }
    fn ensure_volume<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("make volumes")
    }
    fn delete_volume<'a>(&'a self, _: &'a str, _: &'a str) -> HostFuture<'a, ()> {
        unsupported("delete volumes")
    }
    fn devices_named<'a>(&'a self, _: &'a str) -> HostFuture<'a, BTreeMap<String, Devices>> {
        ready(BTreeMap::new())
    }
}
