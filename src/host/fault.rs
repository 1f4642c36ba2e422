//! A driver that misbehaves on purpose, for the reliability tests only: it wraps a real driver
//! and, as told, answers slowly, fails, never answers (a blackholed host), or does the work and
//! loses the reply.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use chrono::{DateTime, Utc};

use super::{
    Acl, Devices, ExecOutput, HostDriver, HostError, HostFuture, HostResources, ImageInfo, InstanceSpec, InstanceState,
    NetworkInfo, ServerInfo, SnapshotInfo, StateAction,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    /// Every call waits this long first.
    Slow(Duration),
    /// Every call fails as if the host answered 500.
    Fail,
    /// Every call hangs forever.
    Blackhole,
    /// Every call that changes something is carried out on the host, then its reply is lost (the
    /// connection resets); reads answer as usual.
    LoseReply,
}

pub struct Faulty {
    inner: Arc<dyn HostDriver>,
    fault: Mutex<Fault>,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// The same two for the calls that change something on the host.
    changes_in_flight: AtomicUsize,
    peak_changes: AtomicUsize,
    /// Calls of the counted driver methods: reads of instance status (`state`, `statuses_with`),
    /// what the reconciler's cost is measured in; `resources` and `create`, what placement does.
    status_reads: Mutex<BTreeMap<&'static str, usize>>,
    /// What `resources` answers instead of the host's own figures (synthetic capacities).
    resources: Mutex<Option<HostResources>>,
    /// What `statuses_with` answers instead of the host's listing (one taken earlier: stale).
    listing: Mutex<Option<BTreeMap<String, String>>>,
}

impl Faulty {
    pub fn new(inner: Arc<dyn HostDriver>) -> Self {
        Self {
            inner,
            fault: Mutex::new(Fault::None),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            changes_in_flight: AtomicUsize::new(0),
            peak_changes: AtomicUsize::new(0),
            status_reads: Mutex::new(BTreeMap::new()),
            resources: Mutex::new(None),
            listing: Mutex::new(None),
        }
    }

    /// Answer `statuses_with` with this listing, as if taken before the host changed (at once,
    /// whatever the fault); `None`: the host's own.
    pub fn set_listing(&self, listing: Option<BTreeMap<String, String>>) {
        *self.listing.lock().unwrap_or_else(|p| p.into_inner()) = listing;
    }

    /// Answer `resources` with these figures (faults still apply); `None`: the host's own.
    pub fn set_resources(&self, r: Option<HostResources>) {
        *self.resources.lock().unwrap_or_else(|p| p.into_inner()) = r;
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
    }

    /// How many times `method` (`state`, `statuses_with`, `resources` or `create`) was called.
    pub fn calls(&self, method: &str) -> usize {
        self.status_reads.lock().unwrap_or_else(|p| p.into_inner()).get(method).copied().unwrap_or(0)
    }

    /// [`Self::calls`] of a status read (`state` or `statuses_with`).
    pub fn status_reads(&self, method: &str) -> usize {
        self.calls(method)
    }

    fn count(&self, method: &'static str) {
        *self.status_reads.lock().unwrap_or_else(|p| p.into_inner()).entry(method).or_default() += 1;
    }

    /// Most calls that were inside this driver at once.
    pub fn peak_in_flight(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// Most calls that change something on the host (not reads) that were inside it at once.
    pub fn peak_changes_in_flight(&self) -> usize {
        self.peak_changes.load(Ordering::SeqCst)
    }

    fn read<'a, T: Send + 'a>(&'a self, call: HostFuture<'a, T>) -> HostFuture<'a, T> {
        self.wrap(call, false)
    }

    fn change<'a, T: Send + 'a>(&'a self, call: HostFuture<'a, T>) -> HostFuture<'a, T> {
        self.wrap(call, true)
    }

    fn wrap<'a, T: Send + 'a>(&'a self, call: HostFuture<'a, T>, changes: bool) -> HostFuture<'a, T> {
        let fault = *self.fault.lock().unwrap_or_else(|p| p.into_inner());
        Box::pin(async move {
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let _done = Leave(&self.in_flight);
            let _changing = changes.then(|| {
                let now = self.changes_in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak_changes.fetch_max(now, Ordering::SeqCst);
                Leave(&self.changes_in_flight)
            });
            match fault {
                Fault::None => call.await,
                Fault::Slow(d) => {
                    tokio::time::sleep(d).await;
                    call.await
                }
                Fault::Fail => Err(HostError::Failed("injected failure".into())),
                Fault::Blackhole => std::future::pending().await,
                Fault::LoseReply if !changes => call.await,
                Fault::LoseReply => {
                    let _ = call.await;
                    Err(HostError::Failed("connection reset after the call was carried out".into()))
                }
            }
        })
    }
}

struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl HostDriver for Faulty {
    fn info(&self) -> HostFuture<'_, ServerInfo> {
        self.read(self.inner.info())
    }
    fn resources(&self) -> HostFuture<'_, HostResources> {
        self.count("resources");
        match self.resources.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            Some(r) => self.read(Box::pin(async move { Ok(r) })),
            None => self.read(self.inner.resources()),
        }
    }
    fn create<'a>(&'a self, spec: &'a InstanceSpec) -> HostFuture<'a, ()> {
        self.count("create");
        self.change(self.inner.create(spec))
    }
    fn set_state<'a>(&'a self, name: &'a str, action: StateAction) -> HostFuture<'a, ()> {
        self.change(self.inner.set_state(name, action))
    }
    fn update_config<'a>(
        &'a self,
        name: &'a str,
        set: &'a BTreeMap<String, String>,
        unset: &'a [String],
    ) -> HostFuture<'a, ()> {
        self.change(self.inner.update_config(name, set, unset))
    }
    fn config<'a>(&'a self, name: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        self.read(self.inner.config(name))
    }
    fn set_device<'a>(
        &'a self,
        name: &'a str,
        device: &'a str,
        spec: Option<&'a BTreeMap<String, String>>,
    ) -> HostFuture<'a, ()> {
        self.change(self.inner.set_device(name, device, spec))
    }
    fn state<'a>(&'a self, name: &'a str) -> HostFuture<'a, InstanceState> {
        self.count("state");
        self.read(self.inner.state(name))
    }
    fn exists<'a>(&'a self, name: &'a str) -> HostFuture<'a, bool> {
        self.read(self.inner.exists(name))
    }
    fn snapshot<'a>(
        &'a self,
        name: &'a str,
        snapshot: &'a str,
        expires_at: Option<DateTime<Utc>>,
    ) -> HostFuture<'a, ()> {
        self.change(self.inner.snapshot(name, snapshot, expires_at))
    }
    fn snapshots<'a>(&'a self, name: &'a str) -> HostFuture<'a, Vec<SnapshotInfo>> {
        self.read(self.inner.snapshots(name))
    }
    fn restore<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.restore(name, snapshot))
    }
    fn rename_snapshot<'a>(&'a self, name: &'a str, from: &'a str, to: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.rename_snapshot(name, from, to))
    }
    fn delete_snapshot<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_snapshot(name, snapshot))
    }
    fn copy<'a>(&'a self, source: &'a str, target: &'a str, refresh: bool) -> HostFuture<'a, ()> {
        self.change(self.inner.copy(source, target, refresh))
    }
    fn delete<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete(name))
    }
    fn push_file<'a>(&'a self, name: &'a str, path: &'a str, content: &'a [u8], mode: u32) -> HostFuture<'a, ()> {
        self.change(self.inner.push_file(name, path, content, mode))
    }
    fn read_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<Vec<u8>>> {
        self.read(self.inner.read_file(name, path))
    }
    fn delete_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_file(name, path))
    }
    fn statuses_with<'a>(&'a self, key: &'a str, value: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        self.count("statuses_with");
        match self.listing.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            // Answered at once, whatever the fault: it was taken before.
            Some(stale) => Box::pin(async move { Ok(stale) }),
            None => self.read(self.inner.statuses_with(key, value)),
        }
    }
    fn networks(&self) -> HostFuture<'_, Vec<NetworkInfo>> {
        self.read(self.inner.networks())
    }
    fn create_bridge<'a>(&'a self, name: &'a str, config: &'a BTreeMap<String, String>) -> HostFuture<'a, ()> {
        self.change(self.inner.create_bridge(name, config))
    }
    fn delete_network<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_network(name))
    }
    fn acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, Option<Acl>> {
        self.read(self.inner.acl(name))
    }
    fn acls<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, Vec<Acl>> {
        self.read(self.inner.acls(prefix))
    }
    fn put_acl<'a>(&'a self, acl: &'a Acl) -> HostFuture<'a, ()> {
        self.change(self.inner.put_acl(acl))
    }
    fn delete_acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_acl(name))
    }
    fn exec<'a>(&'a self, name: &'a str, command: &'a [&'a str]) -> HostFuture<'a, ()> {
        self.change(self.inner.exec(name, command))
    }
    fn exec_output<'a>(
        &'a self,
        name: &'a str,
        command: &'a [String],
        wait: Duration,
        max_output: usize,
    ) -> HostFuture<'a, ExecOutput> {
        self.change(self.inner.exec_output(name, command, wait, max_output))
    }

    // Images.
    fn publish_image<'a>(
        &'a self,
        source: &'a str,
        alias: &'a str,
        properties: &'a BTreeMap<String, String>,
    ) -> HostFuture<'a, ImageInfo> {
        self.change(self.inner.publish_image(source, alias, properties))
    }
    fn delete_image<'a>(&'a self, fingerprint: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_image(fingerprint))
    }
    fn image_exists<'a>(&'a self, alias: &'a str) -> HostFuture<'a, bool> {
        self.read(self.inner.image_exists(alias))
    }

    fn path_kind<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<String>> {
        self.read(self.inner.path_kind(name, path))
    }
    fn devices<'a>(&'a self, name: &'a str) -> HostFuture<'a, Devices> {
        self.read(self.inner.devices(name))
    }
    fn snapshot_devices<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, Devices> {
        self.read(self.inner.snapshot_devices(name, snapshot))
    }
    fn root_pool<'a>(&'a self, name: &'a str) -> HostFuture<'a, String> {
        self.read(self.inner.root_pool(name))
    }
    fn ensure_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.ensure_volume(pool, volume))
    }
    fn delete_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        self.change(self.inner.delete_volume(pool, volume))
    }
    fn devices_named<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, BTreeMap<String, Devices>> {
        self.read(self.inner.devices_named(prefix))
    }
}
