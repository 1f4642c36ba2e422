//! The host-operation runner seen from outside: a client that hangs up mid-operation still gets
//! the whole change recorded (row, status log, event); changes to one container take turns on
//! the host (no lost env write, no snapshot past the limit, no overlapping LXD calls); waiting
//! too long for a busy container is a 409 with Retry-After and nothing done.

use std::{sync::Arc, time::Duration};

use hoody_api::host::{
    fault::{Fault, Faulty},
    HostLimits,
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::{lxc, lxc_status, pin_through, LxdApp};

/// The real LXD behind a driver that waits `delay` before every call.
fn slow_host(app: &LxdApp, delay: Duration) -> Arc<Faulty> {
    let limits =
        HostLimits { max_concurrent: 16, queue_wait: Duration::from_secs(2), call_timeout: Duration::from_secs(30) };
    let f = pin_through(app, limits);
    f.set(Fault::Slow(delay));
    f
}

/// Send a request and hang up after `after`, before the answer comes.
async fn hang_up(app: &LxdApp, method: Method, path: &str, token: &str, body: Option<Value>, after: Duration) {
    let client = reqwest::Client::builder().timeout(after).build().unwrap();
    let mut req = client.request(method, format!("{}{path}", app.base)).bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let sent = req.send().await;
    assert!(sent.is_err_and(|e| e.is_timeout()), "the client was meant to hang up before the answer");
}

async fn events(app: &LxdApp, id: &str) -> Vec<String> {
    sqlx::query_scalar("select event_type from event where container_id = $1 order by id")
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn log(app: &LxdApp, id: &str) -> Vec<String> {
    sqlx::query_scalar("select to_status from container_status_log where container_id = $1 order by transition_time")
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// Wait (≤ 10 s) until the runner has no op running on the container.
async fn settled(app: &LxdApp, id: &str) {
    for _ in 0..200 {
        let running: i64 =
            sqlx::query_scalar("select count(*) from host_op where $1 = any(keys) and state = 'running'")
                .bind(format!("container:{id}"))
                .fetch_one(&app.db)
                .await
                .unwrap();
        if running == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("host work on {id} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_hangs_up_mid_operation_still_gets_it_all_recorded() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("hangup@example.com").await;
    let project = app.project(&s.token, "Hangups").await;
    let id = app.running(&s.token, &project, json!({"name": "hung"})).await;
    let name = format!("c-{id}");
    let base = format!("/api/v1/containers/{id}");
    slow_host(&app, Duration::from_millis(400));
    let cut = Duration::from_millis(150);

    // Each lifecycle operation: the row, the status log and the event, although nobody waited.
    for (op, status, lxd) in [
        ("pause", "paused", "FROZEN"),
        ("resume", "running", "RUNNING"),
        ("restart", "running", "RUNNING"),
        ("stop", "stopped", "STOPPED"),
        ("start", "running", "RUNNING"),
        ("force-stop", "stopped", "STOPPED"),
    ] {
        let before = events(&app, &id).await.len();
        hang_up(&app, Method::POST, &format!("{base}/{op}"), &s.token, None, cut).await;
        settled(&app, &id).await;
        let row = app.get(&base, Some(&s.token)).await;
        assert_eq!(row.data()["status"], status, "{op}: the row");
        assert_eq!(log(&app, &id).await.last().map(String::as_str), Some(status), "{op}: the status log");
        let ev = events(&app, &id).await;
        assert_eq!(ev.len(), before + 1, "{op}: one event");
        assert_eq!(ev.last().unwrap(), &format!("container.{status}"), "{op}: the event");
        assert_eq!(lxc_status(&name), lxd, "{op}: what LXD says");
    }

    // A snapshot: its record and its event.
    hang_up(&app, Method::POST, &format!("{base}/snapshots"), &s.token, Some(json!({"alias": "hung"})), cut).await;
    settled(&app, &id).await;
    let snap: String =
        sqlx::query_scalar("select name from container_snapshot where container_id = $1 and alias = 'hung'")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(lxc(&["info", &name]).contains(&snap), "LXD has the snapshot");
    assert_eq!(events(&app, &id).await.last().unwrap(), "container.snapshot.created");

    // A restore: its last use and its event.
    hang_up(&app, Method::PUT, &format!("{base}/snapshots/{snap}"), &s.token, None, cut).await;
    settled(&app, &id).await;
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select last_used_at from container_snapshot where container_id = $1 and name = $2")
            .bind(&id)
            .bind(&snap)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(used.is_some(), "the restore is recorded");
    assert_eq!(events(&app, &id).await.last().unwrap(), "container.snapshot.restored");

    // A network setting: stored, on the instance, and its event.
    let body = json!({"type": "http", "proxy": "http://proxy.example.com:3128"});
    hang_up(&app, Method::PUT, &format!("{base}/network"), &s.token, Some(body), cut).await;
    settled(&app, &id).await;
    let network: Option<Value> = sqlx::query_scalar("select network from container where container_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(network.unwrap()["type"], "http");
    assert_eq!(lxc(&["config", "get", &name, "user.hoody.network.type"]), "http");
    assert_eq!(events(&app, &id).await.last().unwrap(), "container.network.updated");

    // Every op is in the journal, finished.
    let journal: Vec<(String, String)> =
        sqlx::query_as("select kind, state from host_op where $1 = any(keys) order by started_at")
            .bind(format!("container:{id}"))
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(journal.iter().all(|(_, state)| state == "done"), "{journal:?}");
    assert!(journal.len() >= 10, "{journal:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_env_and_container_writes_lose_nothing_and_lxd_ends_equal() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("env-race@example.com").await;
    let project = app.project(&s.token, "Races").await;
    let id = app.running(&s.token, &project, json!({"name": "racer"})).await;
    let base = format!("/api/v1/containers/{id}");
    let env_paths: Vec<String> = (0..10).map(|i| format!("{base}/env/N{i}")).collect();
    let env_writes = env_paths
        .iter()
        .enumerate()
        .map(|(i, path)| app.call(Method::PUT, path, &s.token, Some(json!({"value": format!("v{i}")}))));
    let updates = (0..10).map(|i| {
        let body = json!({"comment": format!("c{i}"), "autostart": i % 2 == 0});
        app.call(Method::PUT, &base, &s.token, Some(body))
    });
    let (a, b) = tokio::join!(futures::future::join_all(env_writes), futures::future::join_all(updates));
    for r in a.iter().chain(b.iter()) {
        r.expect(200);
    }
    let r = app.get(&format!("{base}/env"), Some(&s.token)).await;
    let env = r.data()["environment_vars"].as_object().unwrap().clone();
    for i in 0..10 {
        assert_eq!(env.get(&format!("N{i}")), Some(&json!(format!("v{i}"))), "N{i} kept: {env:?}");
        let on_lxd = lxc(&["config", "get", &format!("c-{id}"), &format!("environment.N{i}")]);
        assert_eq!(on_lxd, format!("v{i}"), "N{i} on LXD");
    }
    // The runtime env and /etc/environment inside the instance show them too.
    let etc = lxc(&["exec", &format!("c-{id}"), "--", "cat", "/etc/environment"]);
    assert!(etc.contains("N9=\"v9\""), "{etc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_snapshots_stop_at_the_limit_and_name_it() {
    let app = LxdApp::spawn_with(|c| c.max_snapshots = 3).await;
    let s = app.verified_user("snap-race@example.com").await;
    let project = app.project(&s.token, "Snaps").await;
    let id = app.running(&s.token, &project, json!({"name": "snappy"})).await;
    let path = format!("/api/v1/containers/{id}/snapshots");
    let calls = (0..8).map(|_| app.call(Method::POST, &path, &s.token, Some(json!({}))));
    let answers = futures::future::join_all(calls).await;
    let made = answers.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(made, 3, "{:?}", answers.iter().map(|r| r.text.clone()).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "max_snapshots", "{}", r.text);
    }
    let listed = app.get(&path, Some(&s.token)).await;
    assert_eq!(listed.data()["snapshot_count"], 3);
    let on_lxd = lxc(&["query", &format!("/1.0/instances/c-{id}/snapshots")]);
    assert_eq!(serde_json::from_str::<Vec<String>>(&on_lxd).unwrap().len(), 3, "LXD holds exactly 3");
    let records: i64 = sqlx::query_scalar("select count(*) from container_snapshot where container_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(records, 3, "refused snapshots leave no record");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_and_updates_on_one_container_take_turns_on_the_host() {
    // Eight changes in a row on a loaded test machine: room for the last to wait its turn.
    let app = LxdApp::spawn_with(|c| {
        c.host_lock_wait = Duration::from_secs(20);
        c.request_timeout = Duration::from_secs(60);
    })
    .await;
    let s = app.verified_user("turns@example.com").await;
    let project = app.project(&s.token, "Turns").await;
    let id = app.running(&s.token, &project, json!({"name": "turns"})).await;
    let base = format!("/api/v1/containers/{id}");
    let f = slow_host(&app, Duration::from_millis(50));
    let snapshots = format!("{base}/snapshots");
    let mut calls = Vec::new();
    for i in 0..4 {
        calls.push(app.call(Method::POST, &snapshots, &s.token, Some(json!({"alias": format!("s{i}")}))));
        calls.push(app.call(
            Method::PUT,
            &base,
            &s.token,
            Some(json!({"environment_vars": {"ROUND": format!("{i}")}})),
        ));
    }
    let started = std::time::Instant::now();
    for r in futures::future::join_all(calls).await {
        assert!(r.status.is_success(), "{}", r.text);
    }
    assert!(started.elapsed() < Duration::from_secs(55), "no request waited out its deadline");
    // One change at a time: the container's changes never overlapped on LXD. (Reads are not
    // counted: a background loop's listing of the host may come at any time.)
    assert_eq!(f.peak_changes_in_flight(), 1, "changes to one container overlapped");
    let on_lxd = lxc(&["query", &format!("/1.0/instances/c-{id}/snapshots")]);
    assert_eq!(serde_json::from_str::<Vec<String>>(&on_lxd).unwrap().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_that_cannot_get_its_turn_is_409_with_retry_after_and_does_nothing() {
    let app = LxdApp::spawn_with(|c| c.host_lock_wait = Duration::from_secs(1)).await;
    let s = app.verified_user("busy@example.com").await;
    let project = app.project(&s.token, "Busy").await;
    let id = app.running(&s.token, &project, json!({"name": "busy"})).await;
    let base = format!("/api/v1/containers/{id}");
    slow_host(&app, Duration::from_millis(1500));
    let snapshots = format!("{base}/snapshots");
    let slow = app.call(Method::POST, &snapshots, &s.token, Some(json!({"alias": "first"})));
    let late = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        app.call(Method::POST, &format!("{base}/stop"), &s.token, None).await
    };
    let (first, second) = tokio::join!(slow, late);
    first.expect(201);
    second.expect(409);
    assert_eq!(second.code(), "container_busy");
    assert!(second.headers.get("retry-after").is_some(), "Retry-After is set");
    assert_eq!(lxc_status(&format!("c-{id}")), "RUNNING", "the refused stop did nothing");
    let stops: i64 =
        sqlx::query_scalar("select count(*) from host_op where kind = 'container.operate' and $1 = any(keys)")
            .bind(format!("container:{id}"))
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stops, 0, "nothing was recorded for it");
}
