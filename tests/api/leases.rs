//! Background work once per cluster (`hoody_api::lease`): two replicas on one database share
//! each loop's work instead of doing it twice, and the work moves to the other replica when its
//! holder stops or dies. Replicas here are in-process servers (their own state, pools, caches)
//! and real `hoody-api` processes; every wait has a deadline.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use hoody_api::{
    host::{fault::Faulty, lxd::Lxd, Host, HostLimits},
    shutdown,
};
use reqwest::Method;
use serde_json::json;

use crate::{
    fixtures::{lxc, socket, LxdApp},
    harness::{Served, TestApp},
};

/// Wait until `ok()` holds (polling every 20 ms) or panic naming `what` after `within`; how long
/// it took.
async fn until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test]
async fn a_leased_loop_runs_on_one_replica_and_moves_when_its_holder_stops() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let period = Duration::from_millis(500);
    let runs = [Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0))];
    let mut stops = Vec::new();
    for (app, count) in [(&a, &runs[0]), (&b, &runs[1])] {
        let (trigger, stop) = shutdown::channel();
        let count = count.clone();
        tokio::spawn(hoody_api::lease::every(app.state.clone(), stop, "test_loop", period, move |_| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
            }
        }));
        stops.push(Some(trigger));
    }
    tokio::time::sleep(period * 10 + period / 2).await;
    let (ra, rb) = (runs[0].load(Ordering::SeqCst), runs[1].load(Ordering::SeqCst));
    // Ten periods went by: each replica ticked ten times; together they did the work about
    // ten times (a lease taken over at a tick's edge may add one), not twenty.
    assert!((8..=11).contains(&(ra + rb)), "the work ran {ra} + {rb} times in ten periods");
    let (holder, other) = if ra >= rb { (0, 1) } else { (1, 0) };
    assert!(runs[other].load(Ordering::SeqCst) <= 1, "both replicas did the work: {ra} and {rb}");
    let held: String =
        sqlx::query_scalar("select holder from worker_lease where name = 'test_loop'").fetch_one(&a.db).await.unwrap();
    let holder_state = if holder == 0 { &a.state } else { &b.state };
    assert_eq!(held, holder_state.replica_id, "the lease row names the replica doing the work");

    // The holder's loop stops without giving its lease back (as a replica that died): the
    // other one takes the work over once the lease lapses, within a period and a tick.
    stops[holder].take().unwrap().fire();
    let before = runs[other].load(Ordering::SeqCst);
    let took =
        until("the other replica took the work over", period * 3, || runs[other].load(Ordering::SeqCst) > before).await;
    eprintln!("taken over {took:?} after the holder stopped (period {period:?})");
    let frozen = runs[holder].load(Ordering::SeqCst);
    tokio::time::sleep(period * 2).await;
    assert_eq!(runs[holder].load(Ordering::SeqCst), frozen, "a stopped loop does no more work");
}

/// The host both replicas use for `server_id`: one counting driver in front of the real LXD.
fn shared_host(apps: &[&TestApp], server_id: &str) -> Arc<Faulty> {
    let f = Arc::new(Faulty::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    let host = Arc::new(Host::new("local", f.clone(), HostLimits::default()));
    for app in apps {
        app.state.hosts.pin(server_id, host.clone());
    }
    f
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_ask_each_host_once_per_interval() {
    // The first app registers the local LXD and never reconciles within the test; its two
    // replicas reconcile every second.
    let base = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let interval = Duration::from_secs(1);
    let a = base.replica_with(|c| c.reconcile_interval = interval).await;
    let b = base.replica_with(|c| c.reconcile_interval = interval).await;
    let reads = shared_host(&[&a, &b], &base.server_id);
    let listed = || reads.status_reads("statuses_with");
    let first = listed();
    until("a first reconcile pass", Duration::from_secs(5), || listed() > first).await;
    let from = listed();
    tokio::time::sleep(interval * 5).await;
    let asked = listed() - from;
    // Five intervals: five listings of the host (fewer on a loaded machine), where two replicas
    // each reconciling it would make ten.
    assert!((2..=6).contains(&asked), "the host was listed {asked} times in five intervals by two replicas");

    // The holder stops (cleanly: it gives its lease back); the other goes on listing the host.
    let holder: String = sqlx::query_scalar("select holder from worker_lease where name = $1")
        .bind(format!("reconcile:{}", base.server_id))
        .fetch_one(&base.db)
        .await
        .unwrap();
    let survivor = if holder == a.state.replica_id {
        a.shutdown().await;
        b
    } else {
        assert_eq!(holder, b.state.replica_id, "the lease is held by one of the two replicas");
        b.shutdown().await;
        a
    };
    let from = listed();
    until("the surviving replica lists the host", Duration::from_secs(3), || listed() > from).await;
    let held: Vec<String> = sqlx::query_scalar("select holder from worker_lease where name like 'reconcile:%'")
        .fetch_all(&base.db)
        .await
        .unwrap();
    assert_eq!(held, vec![survivor.state.replica_id.clone()]);
}

/// `hoody_reconciler_servers_checked_total` of a running binary.
async fn servers_checked(base: &str) -> u64 {
    let page = reqwest::get(format!("{base}/metrics")).await.unwrap().text().await.unwrap();
    page.lines()
        .find_map(|l| l.strip_prefix("hoody_reconciler_servers_checked_total ")?.trim().parse().ok())
        .expect("the series is exported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_process_holding_a_host_moves_its_reconciling_to_the_other() {
    let app = TestApp::spawn().await;
    let url = app.database_url();
    let lxd = socket();
    let env = [("HOODY_RECONCILE_INTERVAL_SECS", "1"), ("HOODY_LXD_SOCKET", lxd.as_str())];
    let mut procs = [
        Some(Served::start(&url, "warn", &env, "/readyz").await),
        Some(Served::start(&url, "warn", &env, "/readyz").await),
    ];
    let bases: Vec<String> = procs.iter().map(|p| p.as_ref().unwrap().base.clone()).collect();
    // Both processes registered the same local LXD (one row) and reconcile it by turns of its lease.
    let started = Instant::now();
    while servers_checked(&bases[0]).await + servers_checked(&bases[1]).await == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no process reconciled the local server");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let servers: i64 = sqlx::query_scalar("select count(*) from server").fetch_one(&app.db).await.unwrap();
    assert_eq!(servers, 1);
    let before = [servers_checked(&bases[0]).await, servers_checked(&bases[1]).await];
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = [servers_checked(&bases[0]).await, servers_checked(&bases[1]).await];
    let done = [after[0] - before[0], after[1] - before[1]];
    assert!((2..=6).contains(&(done[0] + done[1])), "one server checked {done:?} times by two processes in 5 s");
    let holder = if done[0] >= done[1] { 0 } else { 1 };
    assert!(done[1 - holder] <= 1, "both processes reconciled the server: {done:?}");

    // SIGKILL: no shutdown, the lease stays until it lapses (one interval).
    procs[holder].take().unwrap().kill();
    let survivor = &bases[1 - holder];
    let from = servers_checked(survivor).await;
    let killed = Instant::now();
    while servers_checked(survivor).await == from {
        assert!(killed.elapsed() < Duration::from_secs(3), "the surviving process never took the server over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!("taken over {:?} after the kill (interval 1 s)", killed.elapsed());
    if let Some(p) = procs[1 - holder].take() {
        p.kill();
    }
}

/// The container's host state as `?runtime=true` shows it on `base`.
async fn host_status(client: &reqwest::Client, base: &str, token: &str, id: &str) -> String {
    let r = client.get(format!("{base}/api/v1/containers/{id}?runtime=true")).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    body["data"]["runtime_info"]["host_state"]["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_on_one_process_is_seen_at_once_by_the_others_runtime_cache() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("runtime-cache@example.com").await;
    let (token, _) = app.new_token(&s.token, json!({"permission_template": "full_access"})).await;
    let project = app.project(&s.token, "rcache").await;
    let id = app.running(&s.token, &project, json!({"name": "rcache"})).await;
    // The other process keeps a reading 10 s (2 s by default), so that a pause is not seen
    // there merely because the reading lapsed.
    let other = Served::start(&app.database_url(), "warn", &[("HOODY_RUNTIME_CACHE_MS", "10000")], "/readyz").await;
    let client = reqwest::Client::new();
    // It reads (and keeps) the running state; read twice, half a second apart, because its
    // listener drops every entry when it connects (just after start).
    assert_eq!(host_status(&client, &other.base, &token, &id).await, "running");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let read = Instant::now();
    assert_eq!(host_status(&client, &other.base, &token, &id).await, "running");

    // A pause (a freeze: milliseconds on the host) through this process.
    app.call(Method::POST, &format!("/api/v1/containers/{id}/pause"), &s.token, None).await.expect(200);
    assert_eq!(lxc(&["list", &format!("c-{id}"), "-c", "s", "--format", "csv"]).trim(), "FROZEN");
    assert!(read.elapsed() < Duration::from_millis(8000), "too slow to tell: the other's reading lapsed anyway");
    // Well within the reading's life, the other process already shows what LXD shows.
    let asked = Instant::now();
    let mut seen = host_status(&client, &other.base, &token, &id).await;
    while seen != "paused" {
        assert!(asked.elapsed() < Duration::from_millis(300), "the other process still shows {seen:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen = host_status(&client, &other.base, &token, &id).await;
    }
    other.kill();
}

#[tokio::test]
async fn a_token_disabled_through_one_process_is_refused_at_once_by_another() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("principal-procs@example.com").await;
    let (token, token_id) = app.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    let other = Served::start(&app.database_url(), "warn", &[], "/readyz").await;
    let client = reqwest::Client::new();
    let me = |base: &str| client.get(format!("{base}/api/v1/users/auth/me")).bearer_auth(&token).send();
    // The other process caches the token (1 s).
    assert_eq!(me(&other.base).await.unwrap().status(), 200);
    app.request(
        Method::PUT,
        &format!("/api/v1/auth/tokens/{token_id}"),
        Some(&s.token),
        Some(json!({"is_enabled": false})),
    )
    .await
    .expect(200);
    let asked = Instant::now();
    loop {
        let status = me(&other.base).await.unwrap().status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(asked.elapsed() < Duration::from_millis(500), "still accepted by the other process after 500 ms");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    other.kill();
}
