//! Container hosts. `HostDriver` is what the control plane needs from a host; `lxd::Lxd` speaks
//! LXD's own REST API (`/1.0/…`) over its unix socket; `fault::Faulty` wraps any driver with
//! injected delays, failures and blackholes for the reliability tests. `Host` is how handlers
//! reach a driver: a per-host cap on concurrent calls, a circuit breaker and a deadline on every
//! call. LXD's own statuses and texts never reach our clients: they are logged, and clients get
//! 502/503/504 in the envelope.

pub mod breaker;
pub mod fault;
pub mod https;
pub mod lxd;
mod lxd_exec;
mod lxd_net;
pub mod registry;
pub mod stats;
pub mod unix;

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::Semaphore;

use self::{
    breaker::{Breaker, BreakerState},
    stats::{HostStats, Outcome},
};
use crate::error::ApiError;

pub type HostFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, HostError>> + Send + 'a>>;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The host cannot be reached now (connect failed, breaker open, too many calls in flight).
    #[error("host unavailable: {reason}")]
    Unavailable { reason: String, retry_after_secs: u64 },
    /// The call or its operation did not finish in time.
    #[error("host call timed out")]
    Timeout,
    /// The instance or snapshot does not exist on the host.
    #[error("not found on the host: {0}")]
    NotFound(String),
    /// The host refused the request as it stands (already exists, already running…).
    #[error("refused by the host: {0}")]
    Refused(String),
    /// The host answered with an error or something unreadable.
    #[error("host failure: {0}")]
    Failed(String),
}

impl HostError {
    /// Counts against the host's health (the breaker): the host, not the request, went wrong.
    pub fn is_host_fault(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout | Self::Failed(_))
    }
}

impl From<HostError> for ApiError {
    fn from(e: HostError) -> Self {
        tracing::warn!(error = %e, "host call failed");
        match e {
            HostError::Unavailable { retry_after_secs, .. } => ApiError::Unavailable { retry_after_secs },
            HostError::Timeout => ApiError::HostTimeout,
            HostError::NotFound(_) => ApiError::not_found("not_found_on_host", "The instance is not on its host"),
            HostError::Refused(_) => {
                ApiError::conflict("host_refused", "The host refused the operation in the instance's current state")
            }
            HostError::Failed(_) => ApiError::BadGateway,
        }
    }
}

/// A new instance: a container from an image alias with its starting config.
#[derive(Debug, Clone)]
pub struct InstanceSpec {
    pub name: String,
    pub image_alias: String,
    /// `environment.*`, `boot.autostart`, `limits.*`, `user.*`.
    pub config: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateAction {
    Start,
    Stop,
    ForceStop,
    Restart,
    Freeze,
    Unfreeze,
}

/// What the host reports about a running (or stopped) instance.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InstanceState {
    /// LXD's status: Running, Stopped, Frozen, …
    pub status: String,
    pub cpu_usage_ns: i64,
    pub memory_usage_bytes: i64,
    pub disk_usage_bytes: i64,
    pub processes: i64,
    pub network: BTreeMap<String, NetworkState>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkState {
    pub addresses: Vec<String>,
    pub bytes_received: i64,
    pub bytes_sent: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub name: String,
    pub created_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub server_version: String,
    pub api_extensions: Vec<String>,
}

/// A network as the host lists it.
#[derive(Debug, Clone, Serialize)]
pub struct NetworkInfo {
    pub name: String,
    /// Created through the host's API (a bridge it runs), not a physical interface.
    pub managed: bool,
    /// Its `ipv4.address` (gateway/prefix), when it has one.
    pub ipv4: Option<String>,
}

/// One network ACL rule in the host's own fields (`action`, `protocol`, `source`,
/// `destination`, `source_port`, `destination_port`, `icmp_type`, `icmp_code`, `description`,
/// `state`).
pub type AclRule = BTreeMap<String, String>;
/// An instance's devices: name → settings (`type`, `path`, `source`…).
pub type Devices = BTreeMap<String, BTreeMap<String, String>>;

/// A network ACL: its rules per direction, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Acl {
    pub name: String,
    pub ingress: Vec<AclRule>,
    pub egress: Vec<AclRule>,
}

/// An image on a host, as published.
#[derive(Debug, Clone, Serialize)]
pub struct ImageInfo {
    pub fingerprint: String,
    pub size_bytes: i64,
    /// The host's word (`x86_64`, `aarch64`…).
    pub architecture: String,
}

/// What a command run with [`HostDriver::exec_output`] left: its exit code and the first bytes
/// of what it printed.
#[derive(Debug, Clone, Default)]
pub struct ExecOutput {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// It printed more than was kept.
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
}

/// A host machine's capacity and use, as LXD reports it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HostResources {
    /// Hardware threads.
    pub cores: Option<i64>,
    pub mem_total: Option<i64>,
    pub mem_used: Option<i64>,
    pub storage_total: Option<i64>,
    pub storage_used: Option<i64>,
}

/// What the control plane asks of a host. Names are LXD instance names.
pub trait HostDriver: Send + Sync {
    fn info(&self) -> HostFuture<'_, ServerInfo>;
    /// The machine's capacity and use (`GET /1.0/resources`), and the space of the storage pool
    /// its instances go on (the `default` profile's root disk pool, where `create` puts them).
    fn resources(&self) -> HostFuture<'_, HostResources>;
    /// Create (not start) an instance.
    fn create<'a>(&'a self, spec: &'a InstanceSpec) -> HostFuture<'a, ()>;
    fn set_state<'a>(&'a self, name: &'a str, action: StateAction) -> HostFuture<'a, ()>;
    /// Set and unset config keys in one change (keys not named keep their values).
    fn update_config<'a>(
        &'a self,
        name: &'a str,
        set: &'a BTreeMap<String, String>,
        unset: &'a [String],
    ) -> HostFuture<'a, ()>;
    fn config<'a>(&'a self, name: &'a str) -> HostFuture<'a, BTreeMap<String, String>>;
    /// Add (or replace) a device of the instance, or remove it with `None`.
    fn set_device<'a>(
        &'a self,
        name: &'a str,
        device: &'a str,
        spec: Option<&'a BTreeMap<String, String>>,
    ) -> HostFuture<'a, ()>;
    fn state<'a>(&'a self, name: &'a str) -> HostFuture<'a, InstanceState>;
    fn exists<'a>(&'a self, name: &'a str) -> HostFuture<'a, bool>;
    fn snapshot<'a>(
        &'a self,
        name: &'a str,
        snapshot: &'a str,
        expires_at: Option<DateTime<Utc>>,
    ) -> HostFuture<'a, ()>;
    fn snapshots<'a>(&'a self, name: &'a str) -> HostFuture<'a, Vec<SnapshotInfo>>;
    fn restore<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()>;
    fn rename_snapshot<'a>(&'a self, name: &'a str, from: &'a str, to: &'a str) -> HostFuture<'a, ()>;
    fn delete_snapshot<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()>;
    /// Copy an instance (`source` = `name` or `name/snapshot`) to `target`; `refresh` syncs an
    /// existing target instead.
    fn copy<'a>(&'a self, source: &'a str, target: &'a str, refresh: bool) -> HostFuture<'a, ()>;
    fn delete<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()>;
    /// Write a file inside an instance (root-owned, `mode`), making its parent directories.
    fn push_file<'a>(&'a self, name: &'a str, path: &'a str, content: &'a [u8], mode: u32) -> HostFuture<'a, ()>;
    /// A file inside an instance; `None` when there is none.
    fn read_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<Vec<u8>>>;
    /// Remove a file inside an instance; a missing one counts as removed.
    fn delete_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, ()>;
    /// The status (Running, Stopped, Frozen, …) of every instance whose config `key` is `value`,
    /// by name, in one call: what the reconciler reads a host with. The host filters where it
    /// can (LXD's `api_filtering`) and the key is checked on each instance besides.
    fn statuses_with<'a>(&'a self, key: &'a str, value: &'a str) -> HostFuture<'a, BTreeMap<String, String>>;

    // Networks and network ACLs (the firewall).
    fn networks(&self) -> HostFuture<'_, Vec<NetworkInfo>>;
    /// Create a managed bridge with `config` (`ipv4.address`, `security.acls`, …).
    fn create_bridge<'a>(&'a self, name: &'a str, config: &'a BTreeMap<String, String>) -> HostFuture<'a, ()>;
    /// Remove a network; a missing one counts as removed.
    fn delete_network<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()>;
    /// One ACL; `None` when there is none.
    fn acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, Option<Acl>>;
    /// Every ACL whose name starts with `prefix`, rules included, in one call.
    fn acls<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, Vec<Acl>>;
    /// Create the ACL, or replace its rules when it exists.
    fn put_acl<'a>(&'a self, acl: &'a Acl) -> HostFuture<'a, ()>;
    /// Remove an ACL; a missing one counts as removed.
    fn delete_acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()>;
    /// Start a command inside a running instance, without waiting for it to end (it runs the
    /// instance's own programs, which may take as long as they like).
    fn exec<'a>(&'a self, name: &'a str, command: &'a [&'a str]) -> HostFuture<'a, ()>;
    /// Run `command` (an argv: no shell) inside a running instance and wait up to `wait` for it to
    /// end (`Timeout` when it has not; it is not stopped): its exit code and at most `max_output`
    /// bytes of each of stdout and stderr. A command that cannot start (not found) ends with the
    /// code it gets (127).
    fn exec_output<'a>(
        &'a self,
        name: &'a str,
        command: &'a [String],
        wait: Duration,
        max_output: usize,
    ) -> HostFuture<'a, ExecOutput>;

    // Images (`hoody-api images publish`).
    /// Publish a stopped instance (`source` = `name`) or a snapshot (`name/snapshot`) as an image
    /// on this host, reachable as `alias`, with `properties` (`os`, `release`, `description`…).
    fn publish_image<'a>(
        &'a self,
        source: &'a str,
        alias: &'a str,
        properties: &'a BTreeMap<String, String>,
    ) -> HostFuture<'a, ImageInfo>;
    /// Delete an image by fingerprint; a missing one counts as deleted.
    fn delete_image<'a>(&'a self, fingerprint: &'a str) -> HostFuture<'a, ()>;
    /// Whether the host has an image reachable as `alias` (what a create names).
    fn image_exists<'a>(&'a self, alias: &'a str) -> HostFuture<'a, bool>;
    // Storage shares.
    /// What is at `path` inside an instance, without following a final symlink (`file`,
    /// `directory`, `symlink`); `None` when nothing is there. Earlier components are followed.
    fn path_kind<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<String>>;
    /// The instance's own devices (not its profiles'), by name.
    fn devices<'a>(&'a self, name: &'a str) -> HostFuture<'a, Devices>;
    /// The devices a snapshot of the instance holds (what a restore brings back).
    fn snapshot_devices<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, Devices>;
    /// The storage pool of the instance's root disk.
    fn root_pool<'a>(&'a self, name: &'a str) -> HostFuture<'a, String>;
    /// Make the custom volume `volume` in `pool` (there already counts as done).
    fn ensure_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()>;
    /// Delete the custom volume (gone already counts as done; `Refused` while a device uses it).
    fn delete_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()>;
    /// Every instance's own devices whose name starts with `prefix`, with their settings, by
    /// instance name (instances without one left out).
    fn devices_named<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, BTreeMap<String, Devices>>;
}

/// Limits every call to one host obeys.
#[derive(Debug, Clone, Copy)]
pub struct HostLimits {
    /// Calls in flight at once; more wait up to `queue_wait`, then 503.
    pub max_concurrent: usize,
    pub queue_wait: Duration,
    /// The whole call, operations included.
    pub call_timeout: Duration,
}

impl Default for HostLimits {
    fn default() -> Self {
        Self { max_concurrent: 16, queue_wait: Duration::from_secs(2), call_timeout: Duration::from_secs(10) }
    }
}

/// A host as handlers use it: its driver behind the cap, the breaker and the deadline.
pub struct Host {
    pub name: String,
    driver: Arc<dyn HostDriver>,
    permits: Semaphore,
    /// Commands that may run long ([`Host::call_within`]) queue here, so they never hold the
    /// permits container operations need.
    long_permits: Semaphore,
    breaker: Breaker,
    limits: HostLimits,
    stats: HostStats,
    /// The last reading of its capacity ([`Host::resources_cached`]); a failed one too.
    reading: tokio::sync::Mutex<Option<Reading>>,
}

/// A host's capacity as read at `taken` (when the read began), or why it could not be read.
#[derive(Debug, Clone)]
pub struct Reading {
    pub taken: DateTime<Utc>,
    at: std::time::Instant,
    pub resources: Result<HostResources, String>,
}

impl Host {
    pub fn new(name: impl Into<String>, driver: Arc<dyn HostDriver>, limits: HostLimits) -> Self {
        Self {
            name: name.into(),
            driver,
            permits: Semaphore::new(limits.max_concurrent.max(1)),
            long_permits: Semaphore::new(limits.max_concurrent.max(1)),
            breaker: Breaker::default(),
            limits,
            stats: HostStats::default(),
            reading: tokio::sync::Mutex::new(None),
        }
    }

    /// Its capacity and use ([`HostDriver::resources`]), read at most once per `ttl` (a failure
    /// is remembered as long, so an unreachable host costs one wait per `ttl`, not one per
    /// caller); a read waits at most `wait`. Callers at once share one read.
    pub async fn resources_cached(&self, ttl: Duration, wait: Duration) -> Reading {
        let mut last = self.reading.lock().await;
        if let Some(r) = last.as_ref().filter(|r| r.at.elapsed() < ttl) {
            return r.clone();
        }
        let taken = Utc::now();
        let read = tokio::time::timeout(wait, self.call("resources", |d| d.resources())).await;
        let resources = match read {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {} ms", wait.as_millis())),
        };
        let r = Reading { taken, at: std::time::Instant::now(), resources };
        *last = Some(r.clone());
        r
    }

    /// Its calls by outcome, their durations and the breaker's openings (`/metrics`).
    pub fn stats(&self) -> &HostStats {
        &self.stats
    }

    pub fn breaker_state(&self) -> BreakerState {
        self.breaker.state()
    }

    /// Calls in flight now.
    pub fn in_flight(&self) -> usize {
        self.limits.max_concurrent.max(1) - self.permits.available_permits()
    }

    /// Run one driver call (`op` names it in the logs and traces) under this host's limits.
    #[tracing::instrument(name = "host_call", skip_all, fields(host = %self.name, op = op))]
    pub async fn call<'a, T>(
        &'a self,
        op: &'static str,
        f: impl FnOnce(&'a dyn HostDriver) -> HostFuture<'a, T>,
    ) -> Result<T, HostError> {
        self.limited(op, &self.permits, self.limits.call_timeout, f).await
    }

    /// [`Self::call`] for work that may legitimately take long (a command with its own timeout):
    /// `deadline` instead of the call timeout, and a cap of its own on calls in flight.
    #[tracing::instrument(name = "host_call", skip_all, fields(host = %self.name, op = op))]
    pub async fn call_within<'a, T>(
        &'a self,
        op: &'static str,
        deadline: Duration,
        f: impl FnOnce(&'a dyn HostDriver) -> HostFuture<'a, T>,
    ) -> Result<T, HostError> {
        self.limited(op, &self.long_permits, deadline, f).await
    }

    async fn limited<'a, T>(
        &'a self,
        op: &'static str,
        permits: &Semaphore,
        deadline: Duration,
        f: impl FnOnce(&'a dyn HostDriver) -> HostFuture<'a, T>,
    ) -> Result<T, HostError> {
        let admitted = match self.breaker.admit() {
            Ok(a) => a,
            Err(e) => {
                self.stats.count(Outcome::BreakerOpen);
                return Err(e);
            }
        };
        let _permit = match tokio::time::timeout(self.limits.queue_wait, permits.acquire()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.stats.count(Outcome::Saturated);
                return Err(HostError::Unavailable { reason: "too many calls in flight".into(), retry_after_secs: 1 });
            }
        };
        let started = std::time::Instant::now();
        let result = match tokio::time::timeout(deadline, f(self.driver.as_ref())).await {
            Ok(r) => r,
            Err(_) => Err(HostError::Timeout),
        };
        // Which call of a change was slow is otherwise invisible (the request only logs its
        // total): a quarter of the deadline is worth a line.
        let took = started.elapsed();
        self.stats.duration.observe(took);
        self.stats.count(Outcome::of(&result));
        if took >= deadline / 4 {
            tracing::warn!(host = %self.name, op, took_ms = took.as_millis() as u64, "slow host call");
        }
        match &result {
            Err(e) if e.is_host_fault() => {
                if admitted.failure() {
                    self.stats.breaker_opened();
                    tracing::warn!(host = %self.name, "host breaker opened");
                }
            }
            _ => admitted.success(),
        }
        if let Err(e) = &result {
            tracing::warn!(host = %self.name, op, error = %e, "host call failed");
        }
        result
    }
}
