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

mod real_lxd;
mod standin;

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::{Duration, Instant},
};

use hoody_api::host::{
    fault::{Fault, Faulty},
    Host, HostLimits,
};
use sqlx::PgPool;

use self::standin::{Counting, Fleet};
use crate::harness::TestApp;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
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
