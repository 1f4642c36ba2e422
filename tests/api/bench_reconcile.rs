//! What one reconcile pass (`lifecycle::reconciler::pass`) costs, as the number of containers and
//! of hosts grows: host calls by driver method, the pass's wall time, and the SQL statements it
//! ran (from `pg_stat_statements`, when the PostgreSQL it runs on loads it). A measurement, not a
//! test: every function here is `#[ignore]`d and prints its figures; `scripts/bench reconcile`
//! runs them on a private PostgreSQL with `pg_stat_statements`. Nothing is timed against a goal.
//!
//! Two kinds of host:
//! - `bench_reconcile_real_lxd`: the local LXD, with `BENCH_RECONCILE_REAL` (default 200)
//!   containers made through the API (`POST /projects/{id}/containers`, as a user would) and a
//!   project proxy document, so that each instance was also given its proxy file. Every instance
//!   it made is deleted at the end.
//! - `bench_reconcile_fault_hosts`: `BENCH_RECONCILE_SHAPES` (default `1x1000,1x10000,10x1000`:
//!   hosts × rows per host, `@<ms>` adds that latency to every host call) of container rows made
//!   in SQL on registered servers, each server pinned to a fault-injecting driver
//!   ([`Faulty`]) around a stand-in host ([`Fleet`]) that holds an instance for every row; a
//!   tenth of the containers have a firewall and every one has been given a proxy file, so the
//!   firewall and proxy-file repairs have their full work.
//!
//! Each shape runs `BENCH_RECONCILE_PASSES` (default 3) passes. Before the first, one container
//! in a thousand (a hundred on the real LXD) is stopped behind our back (drift): the first pass
//! changes what it finds; the later ones are a steady pass (nothing to change), the figure to
//! read. On the real LXD, the files the document write's own pushes did not write are written
//! first by reconcile passes (reported as catching up).
//!
//! One real test lives here too, since it needs the stand-in host: a pass reads back a bounded
//! round of proxy files per host (`a_pass_reads_back_a_bounded_round_of_proxy_files`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use hoody_api::host::{
    fault::{Fault, Faulty},
    lxd::Lxd,
    Acl, Devices, ExecOutput, Host, HostDriver, HostError, HostFuture, HostLimits, HostResources, ImageInfo,
    InstanceSpec, InstanceState, NetworkInfo, ServerInfo, SnapshotInfo, StateAction,
};
use reqwest::Method;
use serde_json::json;
use sqlx::PgPool;

use crate::{
    fixtures::{lxc, socket, LxdApp},
    harness::TestApp,
};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ---------------------------------------------------------------------------------------------
// Counting every host call, by driver method.

/// Wraps a driver and counts each call by method name.
struct Counting {
    inner: Arc<dyn HostDriver>,
    calls: Mutex<BTreeMap<&'static str, usize>>,
    /// The instances whose files were read, in order.
    files_read: Mutex<Vec<String>>,
}

impl Counting {
    fn new(inner: Arc<dyn HostDriver>) -> Self {
        Self { inner, calls: Mutex::new(BTreeMap::new()), files_read: Mutex::new(Vec::new()) }
    }

    fn take_files_read(&self) -> Vec<String> {
        std::mem::take(&mut *self.files_read.lock().unwrap())
    }

    fn hit(&self, method: &'static str) -> &dyn HostDriver {
        *self.calls.lock().unwrap().entry(method).or_default() += 1;
        self.inner.as_ref()
    }

    fn take(&self) -> BTreeMap<&'static str, usize> {
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
struct Fleet {
    server_id: String,
    statuses: BTreeMap<String, String>,
    firewalls: Vec<String>,
    /// Instances that lost their proxy file.
    lost_files: Vec<String>,
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

// ---------------------------------------------------------------------------------------------
// SQL statements, from pg_stat_statements.

/// `pg_stat_statements` of this database, by statement: (text, calls, exec ms, rows).
type Statements = HashMap<i64, (String, i64, f64, i64)>;

async fn statements(db: &PgPool) -> Option<Statements> {
    let rows: Vec<(i64, String, i64, f64, i64)> = sqlx::query_as(
        "select queryid, query, calls, total_exec_time, rows from pg_stat_statements \
         where dbid = (select oid from pg_database where datname = current_database()) \
           and query not like '%pg_stat_statements%'",
    )
    .fetch_all(db)
    .await
    .ok()?;
    Some(rows.into_iter().map(|(id, q, c, t, r)| (id, (q, c, t, r))).collect())
}

/// What ran between two snapshots: (statements, exec ms, the three costliest by time: text,
/// calls, ms).
type SqlDelta = (i64, f64, Vec<(String, i64, f64)>);

fn delta(before: &Statements, after: &Statements) -> SqlDelta {
    let mut each: Vec<(String, i64, f64)> = after
        .iter()
        .filter_map(|(id, (q, c, t, _))| {
            let (c0, t0) = before.get(id).map(|b| (b.1, b.2)).unwrap_or((0, 0.0));
            (c - c0 > 0).then(|| (q.split_whitespace().collect::<Vec<_>>().join(" "), c - c0, t - t0))
        })
        .collect();
    each.sort_by(|a, b| b.2.total_cmp(&a.2));
    let calls = each.iter().map(|e| e.1).sum();
    let ms = each.iter().map(|e| e.2).sum();
    each.truncate(3);
    (calls, ms, each)
}

// ---------------------------------------------------------------------------------------------
// One pass, measured.

struct Measured {
    took: Duration,
    changed: usize,
    calls: BTreeMap<&'static str, usize>,
    sql: Option<SqlDelta>,
}

async fn measure(app: &TestApp, counters: &[Arc<Counting>]) -> Measured {
    for c in counters {
        c.take();
    }
    let before = statements(&app.db).await;
    let started = Instant::now();
    let changed = hoody_api::lifecycle::reconciler::pass(&app.state).await.expect("pass");
    let took = started.elapsed();
    let after = statements(&app.db).await;
    let mut calls = BTreeMap::new();
    for c in counters {
        for (m, n) in c.take() {
            *calls.entry(m).or_default() += n;
        }
    }
    let sql = before.zip(after).map(|(b, a)| delta(&b, &a));
    Measured { took, changed, calls, sql }
}

fn report(label: &str, pass: usize, m: &Measured) {
    let total: usize = m.calls.values().sum();
    let by: Vec<String> = m.calls.iter().map(|(k, v)| format!("{k} {v}")).collect();
    let sql = match &m.sql {
        Some((n, ms, top)) => {
            let top: Vec<String> = top
                .iter()
                .map(|(q, c, t)| format!("{c}× {t:.1} ms `{}`", q.chars().take(90).collect::<String>()))
                .collect();
            format!("{n} SQL statements, {ms:.1} ms in PostgreSQL; costliest: {}", top.join("; "))
        }
        None => "SQL: n/a (pg_stat_statements not loaded)".to_owned(),
    };
    println!(
        "RECONCILE {label} | pass {pass} | {:.1} ms | changed {} | host calls {total} ({}) | {sql}",
        m.took.as_secs_f64() * 1000.0,
        m.changed,
        by.join(", ")
    );
}

/// Statements the background loops run while nothing else happens, per second (what a pass's
/// figure includes besides its own).
async fn idle_rate(app: &TestApp) -> Option<f64> {
    let before = statements(&app.db).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = statements(&app.db).await?;
    Some(delta(&before, &after).0 as f64 / 2.0)
}

async fn pg_stat_statements_on(db: &PgPool) -> bool {
    sqlx::query("create extension if not exists pg_stat_statements").execute(db).await.is_ok()
        && statements(db).await.is_some()
}

// ---------------------------------------------------------------------------------------------
// Rows on stand-in hosts.

/// The app with the loops that call hosts on their own held off (the reconciler, which the
/// measurement runs by hand, and the share and rental sweepers), so that the counts are the pass's.
fn quiet(c: &mut hoody_api::config::Config) {
    c.reconcile_interval = Duration::from_secs(86_400);
    c.share_sweep_interval = Duration::from_secs(86_400);
    c.rental_sweep_interval = Duration::from_secs(86_400);
}

struct Shape {
    hosts: usize,
    per_host: usize,
    latency_ms: u64,
}

fn shapes() -> Vec<Shape> {
    let spec = std::env::var("BENCH_RECONCILE_SHAPES").unwrap_or_else(|_| "1x1000,1x10000,10x1000".into());
    spec.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            let (dims, latency) = s.trim().split_once('@').unwrap_or((s.trim(), "0"));
            let (h, n) = dims.split_once('x').expect("a shape is <hosts>x<rows>[@<ms>]");
            Shape {
                hosts: h.parse().expect("hosts"),
                per_host: n.parse().expect("rows per host"),
                latency_ms: latency.trim_end_matches("ms").parse().expect("latency in ms"),
            }
        })
        .collect()
}

/// Container ids for host `h`, row `i`: the row number first (a container's firewall bridge is
/// named after the first 13 characters of its id), 24 hex characters.
fn row_id(h: usize, i: usize) -> String {
    format!("{i:08x}{h:04x}bbbbbbbbbbbb")
}

/// `hosts` registered servers with `per_host` running container rows each (owned by a user per
/// hundred containers, one project each), every one given its proxy file, a tenth with a
/// firewall applied, one in a thousand reported stopped by its host; each server pinned to a
/// fault-injecting driver around a [`Fleet`] holding its instances. The containers named in
/// `lost_files` have lost their proxy file. Returns each server's id, counter and fault switch.
async fn seed_fleet(
    app: &TestApp,
    hosts: usize,
    per_host: usize,
    lost_files: &[String],
) -> Vec<(String, Arc<Counting>, Arc<Faulty>)> {
    let owners = (hosts * per_host).div_ceil(100);
    sqlx::query(
        "insert into app_user (user_id, username, email, email_verified) \
         select lpad(to_hex(u), 24, 'a'), 'bench-' || u, 'bench-' || u || '@example.com', true \
         from generate_series(1, $1) u",
    )
    .bind(owners as i32)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query(
        "insert into project (project_id, user_id, alias, color) \
         select lpad(to_hex(u), 24, 'e'), lpad(to_hex(u), 24, 'a'), 'bench', '#ABCDEF' \
         from generate_series(1, $1) u",
    )
    .bind(owners as i32)
    .execute(&app.db)
    .await
    .unwrap();
    let mut made = Vec::new();
    for h in 0..hosts {
        let server_id = hoody_api::db::new_id();
        hoody_api::db::servers::insert(&app.db, &server_id, &format!("bench-{h}"), "bench").await.unwrap();
        let ids: Vec<String> = (0..per_host).map(|i| row_id(h, i)).collect();
        let projects: Vec<String> =
            (0..per_host).map(|i| format!("{:e>24}", format!("{:x}", 1 + (h * per_host + i) % owners))).collect();
        sqlx::query(
            "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status) \
             select id, p, $3, 'c-' || id, 'bench-' || id, '#ABCDEF', 'hoody-busybox', 'running' \
             from unnest($1::text[], $2::text[]) as r(id, p)",
        )
        .bind(&ids)
        .bind(&projects)
        .bind(&server_id)
        .execute(&app.db)
        .await
        .unwrap();
        sqlx::query(
            "insert into proxy_file (container_id, container_version, project_version) \
             select id, 0, 0 from unnest($1::text[]) id",
        )
        .bind(&ids)
        .execute(&app.db)
        .await
        .unwrap();
        let firewalled: Vec<String> = ids.iter().step_by(10).cloned().collect();
        let networks: Vec<String> =
            firewalled.iter().map(|id| hoody_api::lifecycle::firewall::host::network_name(id)).collect();
        sqlx::query(
            "insert into container_firewall (container_id, network, subnet, version, applied_version) \
             select id, n, '10.200.0.0/28', 1, 1 from unnest($1::text[], $2::text[]) as f(id, n)",
        )
        .bind(&firewalled)
        .bind(&networks)
        .execute(&app.db)
        .await
        .unwrap();
        let statuses = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (format!("c-{id}"), if i % 1000 == 999 { "Stopped" } else { "Running" }.to_owned()))
            .collect();
        let fleet = Fleet {
            server_id: server_id.clone(),
            statuses,
            firewalls: networks,
            lost_files: lost_files.iter().map(|id| format!("c-{id}")).collect(),
        };
        let counting = Arc::new(Counting::new(Arc::new(fleet)));
        let faulty = Arc::new(Faulty::new(counting.clone()));
        app.state
            .hosts
            .pin(&server_id, Arc::new(Host::new(format!("bench-{h}"), faulty.clone(), HostLimits::default())));
        made.push((server_id, counting, faulty));
    }
    sqlx::query("analyze").execute(&app.db).await.unwrap();
    made
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/bench reconcile"]
async fn bench_reconcile_fault_hosts() {
    let passes = env_usize("BENCH_RECONCILE_PASSES", 3).max(1);
    for shape in shapes() {
        let app = TestApp::spawn_with(quiet).await;
        let sql_on = pg_stat_statements_on(&app.db).await;
        let hosts = seed_fleet(&app, shape.hosts, shape.per_host, &[]).await;
        for (_, _, faulty) in &hosts {
            if shape.latency_ms > 0 {
                faulty.set(Fault::Slow(Duration::from_millis(shape.latency_ms)));
            }
        }
        let counters: Vec<Arc<Counting>> = hosts.iter().map(|h| h.1.clone()).collect();
        let drifted = (0..shape.per_host).filter(|i| i % 1000 == 999).count() * shape.hosts;
        let label = format!(
            "fault {} host(s) x {} rows{} (drifted {drifted})",
            shape.hosts,
            shape.per_host,
            if shape.latency_ms > 0 { format!(" @ {} ms per call", shape.latency_ms) } else { String::new() }
        );
        if sql_on {
            if let Some(rate) = idle_rate(&app).await {
                println!("RECONCILE {label} | idle: {rate:.1} SQL statements/s from the background loops");
            }
        }
        for pass in 1..=passes {
            report(&label, pass, &measure(&app, &counters).await);
        }
        let stopped: i64 = sqlx::query_scalar("select count(*) from container where status = 'stopped'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        println!("RECONCILE {label} | after the passes: {stopped} of {drifted} drifted containers recorded stopped");
        breakdown(&app, &label, &hosts[0].0).await;
        for (server_id, _, _) in &hosts {
            app.state.hosts.unpin(server_id);
        }
    }
}

/// Where one server's share of a steady pass goes: its parts run one by one, each timed (the
/// rows the pass reads, the listing and the look-up of strays, the firewall and proxy-file
/// repairs).
async fn breakdown(app: &TestApp, label: &str, server_id: &str) {
    let st = &app.state;
    let row = hoody_api::servers::by_id(&app.db, server_id).await.unwrap().unwrap();
    let host = st.hosts.for_server(&row, &st.sealer).unwrap();
    let t = Instant::now();
    let rows = hoody_api::db::containers::to_reconcile(&app.db, server_id, 3600).await.unwrap();
    let read_rows = t.elapsed();
    let t = Instant::now();
    let strays = hoody_api::lifecycle::reconciler::strays(st, &host, server_id).await.unwrap();
    let listing_and_strays = t.elapsed();
    let t = Instant::now();
    hoody_api::lifecycle::firewall::repair::pass(st, &host, server_id, &rows).await.unwrap();
    let firewalls = t.elapsed();
    let t = Instant::now();
    hoody_api::lifecycle::ops::repair_proxy_files(st, &host, server_id).await.unwrap();
    let files = t.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "RECONCILE {label} | one server's parts: rows to check {} read in {:.1} ms; listing + strays ({}) {:.1} ms; \
         firewall repair {:.1} ms; proxy-file repair {:.1} ms",
        rows.len(),
        ms(read_rows),
        strays.len(),
        ms(listing_and_strays),
        ms(firewalls),
        ms(files)
    );
}

/// The proxy-file part of a pass reads back at most `PROXY_FILE_CHECKS_PER_PASS` files per host,
/// the next ones in container order each pass, so that a few passes go round them all; a file an
/// instance lost is found by the pass whose round reaches it, and written again (here the
/// stand-in host refuses the write: the attempt is what is counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_reads_back_a_bounded_round_of_proxy_files() {
    let app = TestApp::spawn_with(quiet).await;
    let k = hoody_api::lifecycle::ops::PROXY_FILE_CHECKS_PER_PASS;
    let n = 2 * k + k / 2;
    // The last container: the third pass reaches it.
    let lost = row_id(0, n - 1);
    let hosts = seed_fleet(&app, 1, n, std::slice::from_ref(&lost)).await;
    let counting = &hosts[0].1;
    let mut seen = std::collections::BTreeSet::new();
    for pass in 1..=3 {
        counting.take();
        hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
        let read = counting.take_files_read();
        let calls = counting.take();
        assert_eq!(read.len(), k, "pass {pass} reads one round of files: {calls:?}");
        assert_eq!(calls.get("statuses_with"), Some(&1), "pass {pass}: {calls:?}");
        assert_eq!(calls.get("state"), None, "pass {pass}: no read per container: {calls:?}");
        let reached = read.contains(&format!("c-{lost}"));
        assert_eq!(reached, pass == 3, "pass {pass}");
        assert_eq!(calls.get("push_file").copied().unwrap_or(0), usize::from(reached), "pass {pass}: {calls:?}");
        seen.extend(read);
    }
    assert_eq!(seen.len(), n, "three passes went round every file");
}

// ---------------------------------------------------------------------------------------------
// The local LXD.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/bench reconcile"]
async fn bench_reconcile_real_lxd() {
    let n = env_usize("BENCH_RECONCILE_REAL", 200);
    let passes = env_usize("BENCH_RECONCILE_PASSES", 3).max(1);
    let app = LxdApp::spawn_with(quiet).await;
    let sql_on = pg_stat_statements_on(&app.db).await;
    let s = app.verified_user("bench-reconcile@example.com").await;
    let project = app.project(&s.token, "Reconcile").await;

    // The containers, made as a user makes them, four at a time.
    let started = Instant::now();
    let made: Vec<(usize, u16, Option<String>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (app, token, project) = (&app, &s.token, &project);
            async move {
                let r = app.create(token, project, json!({"name": format!("bench-{i}")})).await;
                (i, r.status.as_u16(), r.data()["id"].as_str().map(str::to_owned))
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut ids: Vec<String> = made.iter().filter_map(|(_, _, id)| id.clone()).collect();
    ids.sort();
    let refused: Vec<_> = made.iter().filter(|(_, status, _)| *status != 201).map(|(i, s, _)| (*i, *s)).collect();
    println!(
        "RECONCILE real LXD | made {} containers through the API in {:.1} s; refused: {refused:?}",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // A project proxy document: every instance is given its file (the reconciler checks them).
    let r = app
        .request_with(
            Method::PUT,
            &format!("/api/v1/projects/{project}/proxy/permissions"),
            Some(&s.token),
            &[("if-match", "file:v0")],
            Some(json!({"project": project, "groups": {"office": {"type": "ip", "range": "10.0.0.0/8"}},
                        "permissions": {"office": {"http": [80]}}, "default": "deny"})),
        )
        .await;
    r.expect(200);
    // The pushes that write started run in the background, all at once: those the host's cap on
    // calls in flight turns away are left to the reconciler. Wait until no more land for 10 s.
    let n_files = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from proxy_file").fetch_one(&app.db).await.unwrap() as usize
    };
    let waited = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let files = n_files().await;
        if files >= ids.len() || waited.elapsed() > Duration::from_secs(600) {
            break;
        }
        if files != last.0 {
            last = (files, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "RECONCILE real LXD | {} of {} proxy files written by the document write's own pushes ({:.1} s)",
        n_files().await,
        ids.len(),
        waited.elapsed().as_secs_f64()
    );
    let counting = Arc::new(Counting::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    let limits = HostLimits { call_timeout: Duration::from_secs(60), ..HostLimits::default() };
    app.state.hosts.pin(&app.server_id, Arc::new(Host::new("local", counting.clone(), limits)));
    // The rest by reconcile passes: their repair writes the file of each container whose
    // documents moved on since its last file.
    for pass in 1..=10 {
        if n_files().await >= ids.len() {
            break;
        }
        report("real LXD catching up the proxy files", pass, &measure(&app, std::slice::from_ref(&counting)).await);
    }
    let running = lxc(&["list", "c-", "-c", "s", "--format", "csv"]).lines().filter(|l| *l == "RUNNING").count();
    println!("RECONCILE real LXD | LXD reports {running} instances running (c-*, all users of this LXD)");

    // Drift: one in a hundred stopped behind our back.
    let drifted: Vec<&String> = ids.iter().skip(50).step_by(100).collect();
    for id in &drifted {
        lxc(&["stop", &format!("c-{id}"), "--force"]);
    }

    let label = format!(
        "real LXD 1 host x {} containers, {} proxy files (drifted {})",
        ids.len(),
        n_files().await,
        drifted.len()
    );
    if sql_on {
        if let Some(rate) = idle_rate(&app).await {
            println!("RECONCILE {label} | idle: {rate:.1} SQL statements/s from the background loops");
        }
    }
    for pass in 1..=passes {
        report(&label, pass, &measure(&app, std::slice::from_ref(&counting)).await);
    }
    let stopped: i64 =
        sqlx::query_scalar("select count(*) from container where status = 'stopped'").fetch_one(&app.db).await.unwrap();
    println!(
        "RECONCILE {label} | after the passes: {stopped} of {} drifted containers recorded stopped",
        drifted.len()
    );
    breakdown(&app, &label, &app.server_id).await;
    app.state.hosts.unpin(&app.server_id);

    // Clean up: every instance made here, four at a time (the fixture's drop would do it one by one).
    let started = Instant::now();
    futures::stream::iter(ids.iter())
        .for_each_concurrent(4, |id| async move {
            let _ = tokio::process::Command::new("lxc").args(["delete", &format!("c-{id}"), "--force"]).output().await;
        })
        .await;
    let left = ids.iter().filter(|id| crate::fixtures::exists(&format!("c-{id}"))).count();
    println!("RECONCILE real LXD | deleted the instances in {:.1} s; {left} left", started.elapsed().as_secs_f64());
}
