//! Containers when their host misbehaves (the fault-injecting driver around the real LXD):
//! a blackholed host answers by the deadline + 0.5 s with 504 and the container never shows
//! `running`; no transaction idles in Postgres during the host call; a failing host is 502
//! and then the breaker answers 503 + Retry-After at once. And the reconciler: what LXD
//! reports (stopped behind our back, gone, unreachable) becomes the container's status.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use hoody_api::host::{
    fault::{Fault, Faulty},
    lxd::Lxd,
    Host, HostLimits,
};
use reqwest::Method;
use serde_json::json;

use crate::fixtures::{exists, lxc, lxc_status, socket, LxdApp};

const DEADLINE: Duration = Duration::from_secs(2);

/// Put a fault-injecting driver (around the real LXD) in front of the `local` server.
pub fn pin_faulty(app: &LxdApp) -> Arc<Faulty> {
    let f = Arc::new(Faulty::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    let limits = HostLimits { max_concurrent: 4, queue_wait: Duration::from_millis(200), call_timeout: DEADLINE };
    app.state.hosts.pin(&app.server_id, Arc::new(Host::new("local", f.clone(), limits)));
    f
}

async fn idle_in_transaction(app: &LxdApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn statuses(app: &LxdApp, id: &str) -> Vec<String> {
    sqlx::query_scalar("select to_status from container_status_log where container_id = $1 order by transition_time")
        .bind(id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_blackholed_host_times_out_in_time_and_never_shows_running() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("blackhole@example.com").await;
    let project = app.project(&s.token, "Dark").await;
    let f = pin_faulty(&app);
    f.set(Fault::Blackhole);

    // Create: while the host call hangs, no transaction idles in Postgres.
    let started = Instant::now();
    let create = app.create(&s.token, &project, json!({"name": "lost"}));
    let watch = async {
        tokio::time::sleep(DEADLINE / 2).await;
        idle_in_transaction(&app).await
    };
    let (r, idle) = tokio::join!(create, watch);
    let took = started.elapsed();
    r.expect(504);
    assert!(took < DEADLINE + Duration::from_millis(500), "answered after {took:?}");
    assert_eq!(idle, 0, "a transaction was left open across the host call");
    let id: String =
        sqlx::query_scalar("select container_id from container where name = 'lost'").fetch_one(&app.db).await.unwrap();
    app.track(&id);
    assert_eq!(statuses(&app, &id).await, ["creating", "failed"]);
    let r = app.get(&format!("/api/v1/containers/{id}"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "failed");
    let logs: Vec<Option<serde_json::Value>> = sqlx::query_scalar(
        "select metadata from container_status_log where container_id = $1 and to_status = 'failed'",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(logs[0].as_ref().unwrap()["reason"], "host_timeout");

    // A running container: stop against the blackhole is 504 in time, and it stays running.
    f.set(Fault::None);
    let r = app.create(&s.token, &project, json!({"name": "alive"})).await;
    r.expect(201);
    let alive = r.data()["id"].as_str().unwrap().to_owned();
    f.set(Fault::Blackhole);
    let started = Instant::now();
    let path = format!("/api/v1/containers/{alive}/stop");
    let stop = app.call(Method::POST, &path, &s.token, None);
    let watch = async {
        tokio::time::sleep(DEADLINE / 2).await;
        idle_in_transaction(&app).await
    };
    let (r, idle) = tokio::join!(stop, watch);
    r.expect(504);
    assert!(started.elapsed() < DEADLINE + Duration::from_millis(500));
    assert_eq!(idle, 0);
    let r = app.get(&format!("/api/v1/containers/{alive}"), Some(&s.token)).await;
    assert_eq!(r.data()["status"], "running");
    assert_eq!(lxc_status(&format!("c-{alive}")), "RUNNING");
}

#[tokio::test]
async fn a_failing_host_is_a_bad_gateway_then_the_breaker_answers_at_once() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("failing@example.com").await;
    let project = app.project(&s.token, "Flaky").await;
    let f = pin_faulty(&app);
    f.set(Fault::Fail);
    let r = app.create(&s.token, &project, json!({"name": "broken-1"})).await;
    r.expect(502);
    assert!(!r.text.to_lowercase().contains("lxd"), "the host's own words leak: {}", r.text);
    // Each failed create is one failed call; five trip the breaker.
    for i in 2..=5 {
        app.create(&s.token, &project, json!({"name": format!("broken-{i}")})).await;
    }
    let started = Instant::now();
    let r = app.create(&s.token, &project, json!({"name": "broken-6"})).await;
    r.expect(503);
    assert!(r.headers.get("retry-after").is_some(), "503 without Retry-After");
    assert!(started.elapsed() < Duration::from_millis(500), "the open breaker must answer at once");
    let failed: i64 =
        sqlx::query_scalar("select count(*) from container where status = 'failed'").fetch_one(&app.db).await.unwrap();
    assert_eq!(failed, 6, "every attempt is recorded as failed, none lost");
}

#[tokio::test]
async fn the_reconciler_takes_over_what_lxd_reports() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("reconcile@example.com").await;
    let project = app.project(&s.token, "Drift").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let name = format!("c-{id}");
    let status = |app: &LxdApp| {
        let id = id.clone();
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("select status from container where container_id = $1")
                .bind(&id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };

    // Nothing drifted: nothing changes.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    // Stopped behind our back.
    lxc(&["stop", &name, "--force"]);
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(status(&app).await, "stopped");
    let (by, meta): (String, serde_json::Value) = sqlx::query_as(
        "select triggered_by, metadata from container_status_log where container_id = $1 order by transition_time desc limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(by, "reconciler");
    assert_eq!(meta["observed"], "stopped");

    // The host unreachable: failed, then back when it answers again.
    let f = pin_faulty(&app);
    f.set(Fault::Blackhole);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "failed");
    app.state.hosts.unpin(&app.server_id);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "stopped");

    // The instance gone: failed, with the reason.
    lxc(&["delete", &name, "--force"]);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "failed");
    let meta: serde_json::Value = sqlx::query_scalar(
        "select metadata from container_status_log where container_id = $1 order by transition_time desc limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(meta["reason"], "instance_missing");
    let events: i64 = sqlx::query_scalar(
        "select count(*) from event where container_id = $1 and data->>'triggered_by' = 'reconciler'",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(events, 4, "every reconciled change is an event");
}

#[tokio::test]
async fn a_blackholed_host_does_not_take_the_healthy_one_down() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("bulkhead@example.com").await;
    let project = app.project(&s.token, "Bulkhead").await;
    let healthy = app.running(&s.token, &project, json!({})).await;
    // A second server whose host is blackholed, with rows for 20 containers on it.
    let dark = hoody_api::db::new_id();
    sqlx::query("insert into server (server_id, name, region, is_free) values ($1, 'dark', 'local', true)")
        .bind(&dark)
        .execute(&app.db)
        .await
        .unwrap();
    let f = Arc::new(Faulty::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    f.set(Fault::Blackhole);
    let cap = 4;
    let limits = HostLimits { max_concurrent: cap, queue_wait: Duration::from_millis(300), call_timeout: DEADLINE };
    app.state.hosts.pin(&dark, Arc::new(Host::new("dark", f.clone(), limits)));
    let mut ids = Vec::new();
    for i in 0..20 {
        let id = hoody_api::db::new_id();
        sqlx::query(
            "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status) \
             values ($1, $2, $3, 'c-' || $1, $4, '#000000', 'hoody-busybox', 'running')",
        )
        .bind(&id)
        .bind(&project)
        .bind(&dark)
        .bind(format!("dark-{i}"))
        .execute(&app.db)
        .await
        .unwrap();
        ids.push(id);
    }
    // 200 operations against the dark host while the healthy one serves stats.
    let dark_calls = (0..200).map(|i| {
        let path = format!("/api/v1/containers/{}/stats", ids[i % ids.len()]);
        let (app, token) = (&app, s.token.clone());
        async move { app.get(&path, Some(&token)).await.status.as_u16() }
    });
    let healthy_calls = (0..20).map(|_| {
        let path = format!("/api/v1/containers/{healthy}/stats");
        let (app, token) = (&app, s.token.clone());
        async move { app.get(&path, Some(&token)).await.status.as_u16() }
    });
    let (dark_codes, healthy_codes) =
        tokio::join!(futures::future::join_all(dark_calls), futures::future::join_all(healthy_calls));
    assert!(healthy_codes.iter().all(|c| *c == 200), "the healthy host suffered: {healthy_codes:?}");
    assert!(dark_codes.iter().all(|c| *c == 503 || *c == 504), "{dark_codes:?}");
    assert!(dark_codes.contains(&503), "calls past the cap are turned away, not queued forever");
    assert!(f.peak_in_flight() <= cap, "in flight on the dark host: {} > cap {cap}", f.peak_in_flight());
}

#[tokio::test]
async fn simultaneous_creates_cannot_overshoot_the_project_quota() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("quota-race@example.com").await;
    let r = app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "One", "max_containers": 1}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    // A host that fails every call: each create that gets in leaves a `failed` row, which holds
    // nothing and does not count, but never two at once in `creating`.
    let f = pin_faulty(&app);
    f.set(Fault::Fail);
    let creates = (0..6).map(|i| app.create(&s.token, &project, json!({"name": format!("racer-{i}")})));
    let codes: Vec<u16> = futures::future::join_all(creates).await.iter().map(|r| r.status.as_u16()).collect();
    assert!(codes.iter().all(|c| *c == 502 || *c == 422), "{codes:?}");
    assert!(codes.contains(&502), "{codes:?}");
    let live: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1 and status <> 'failed'")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0, "failed creates leave only failed rows");
    let made: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(made, codes.iter().filter(|c| **c == 502).count() as i64, "one row per create that got in");
    // The host is back: six at once against the quota of one give exactly one container.
    f.set(Fault::None);
    let creates = (0..6).map(|i| app.create(&s.token, &project, json!({"name": format!("second-{i}")})));
    let answers = futures::future::join_all(creates).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?}");
    for r in answers.iter().filter(|r| r.status.as_u16() == 422) {
        assert_eq!(r.body["details"]["fields"][0]["path"], "max_containers");
    }
    let live: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1 and status <> 'failed'")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn busy_containers_and_their_projects_are_not_deleted_under_the_host() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("busy@example.com").await;
    let project = app.project(&s.token, "Busy").await;
    // A row in the middle of a create (no instance yet).
    let mut n =
        hoody_api::db::containers::NewContainer::new(&project, &app.server_id, "midway".into(), "hoody-busybox".into());
    n.status = "creating";
    hoody_api::db::containers::insert(&app.db, &n).await.unwrap();
    let r = app.call(Method::DELETE, &format!("/api/v1/containers/{}", n.container_id), &s.token, None).await;
    r.expect(409);
    assert_eq!(r.code(), "container_busy");
    let r = app.call(Method::DELETE, &format!("/api/v1/projects/{project}"), &s.token, None).await;
    r.expect(409);
    assert_eq!(r.code(), "project_busy");
    let left: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 1);
    // Its server removed from the registry: the reconciler marks it failed, and then it goes.
    sqlx::query("update container set server_id = null where container_id = $1")
        .bind(&n.container_id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    let r = app.get(&format!("/api/v1/containers/{}", n.container_id), Some(&s.token)).await;
    assert_eq!(r.data()["status"], "failed");
    app.call(Method::DELETE, &format!("/api/v1/containers/{}", n.container_id), &s.token, None).await.expect(200);
    app.call(Method::DELETE, &format!("/api/v1/projects/{project}"), &s.token, None).await.expect(200);
}

#[tokio::test]
async fn the_reconciler_finishes_a_delete_its_process_left_half_done() {
    let app = LxdApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
        // Stuck work is taken over after 6 × the host timeout + 30 s.
        c.host_limits.call_timeout = Duration::from_secs(1);
    })
    .await;
    let s = app.verified_user("half@example.com").await;
    let project = app.project(&s.token, "Half").await;
    let id = app.running(&s.token, &project, json!({})).await;
    // The process died right after recording the intent.
    sqlx::query("update container set status = 'deleting', status_changed_at = now() - interval '1 hour' where container_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert!(!crate::fixtures::exists(&format!("c-{id}")), "the instance is gone");
    let left: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    let last: String =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at desc limit 1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(last, "container.deleted");
}

#[tokio::test]
async fn project_stats_keep_to_the_request_realm_and_the_containers_leaf() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("stats-realm@example.com").await;
    let realm = hoody_api::db::new_id();
    let r =
        app.post_auth(&format!("/api/v1/projects/?realm_id={realm}"), &s.token, Some(json!({"alias": "Mixed"}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    let inside = app.running(&s.token, &project, json!({"name": "inside", "realm_ids": [realm]})).await;
    app.running(&s.token, &project, json!({"name": "outside"})).await;
    let r = app.get(&format!("/api/v1/projects/{project}/stats?realm_id={realm}"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["summary"]["container_count"], 1);
    assert_eq!(r.data()["stats"][0]["id"], inside.as_str());
    let r = app.get(&format!("/api/v1/projects/{project}/stats"), Some(&s.token)).await;
    assert_eq!(r.data()["summary"]["container_count"], 2);
    // A token with projects.read only gets the count, not the containers' figures.
    let (tok, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"read": true}}})).await;
    let r = app.get(&format!("/api/v1/projects/{project}/stats"), Some(&tok)).await;
    r.expect(200);
    assert_eq!(r.data()["summary"]["container_count"], 2);
    assert_eq!(r.data()["stats"], json!([]));
}

/// A stand-in for an LXD that answers badly, on its own unix socket: every connection gets
/// `reply` once the request head is read (an empty reply closes the connection unanswered).
fn broken_lxd(dir: &std::path::Path, name: &str, reply: Vec<u8>) -> std::path::PathBuf {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let path = dir.join(name);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let reply = Arc::new(reply);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let reply = reply.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = conn.write_all(&reply).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    path
}

fn http_200(body: &[u8], chunked: bool) -> Vec<u8> {
    let mut out = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n".to_vec();
    if chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
        for chunk in body.chunks(64 * 1024) {
            out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            out.extend_from_slice(chunk);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\n\r\n");
    } else {
        out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// R11/API10: a host reply over 1 MiB, malformed JSON, something that is not HTTP, or no reply
/// at all is a 502 envelope; nothing panics and the server goes on answering.
#[tokio::test]
async fn broken_host_replies_are_a_bad_gateway_and_nothing_panics() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("garbled@example.com").await;
    let project = app.project(&s.token, "Garbled").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let dir = std::env::temp_dir().join(format!("hoody-broken-lxd-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let huge = {
        let mut b = br#"{"type":"sync","status_code":200,"metadata":{"pad":""#.to_vec();
        b.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        b.extend_from_slice(br#""}}"#);
        b
    };
    let cases: [(&str, Vec<u8>); 5] = [
        ("huge-length", http_200(&huge, false)),
        ("huge-chunked", http_200(&huge, true)),
        ("malformed", http_200(br#"{"type":"sync","metadata":{"status":"#, false)),
        ("not-http", b"SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02garbage\r\n\r\n".to_vec()),
        ("hang-up", Vec::new()),
    ];
    let limits = HostLimits { max_concurrent: 4, queue_wait: Duration::from_millis(200), call_timeout: DEADLINE };
    for (name, reply) in cases {
        let socket = broken_lxd(&dir, name, reply);
        let driver = Lxd::new(&socket, Duration::from_secs(5));
        let host = Arc::new(Host::new(name, Arc::new(driver), limits));
        // The driver itself: an error of ours, never a panic.
        let err = host.call("state", |d| d.state("c-anything")).await.expect_err(name);
        assert!(matches!(err, hoody_api::host::HostError::Failed(_)), "{name}: {err:?}");
        // Through the API: a 502 envelope without the host's words, then the next request works.
        app.state.hosts.pin(&app.server_id, host);
        let r = app.get(&format!("/api/v1/containers/{id}/stats"), Some(&s.token)).await;
        r.expect(502);
        assert!(!r.text.contains("garbage") && !r.text.contains("pad"), "{name}: {}", r.text);
        app.get("/api/v1/users/auth/me", Some(&s.token)).await.expect(200);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// An instance made for this server whose container row is gone (a restored backup, rows removed
/// by hand) is reported by the reconciler and left alone: removing it would destroy data the
/// database merely forgot. Instances without our tag, or tagged for another server, are not
/// reported; instances with their rows are not strays.
#[tokio::test]
async fn the_reconciler_reports_instances_whose_container_is_gone_and_leaves_them() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("strays@example.com").await;
    let project = app.project(&s.token, "Strays").await;
    let kept = app.running(&s.token, &project, json!({"name": "kept"})).await;
    let lost = app.running(&s.token, &project, json!({"name": "row-lost"})).await;
    assert_eq!(lxc(&["config", "get", &format!("c-{lost}"), "user.hoody.server_id"]), app.server_id);
    sqlx::query("delete from container where container_id = $1").bind(&lost).execute(&app.db).await.unwrap();
    let (untagged, foreign) = (hoody_api::db::new_id(), hoody_api::db::new_id());
    app.track(&untagged);
    app.track(&foreign);
    lxc(&["init", "hoody-busybox", &format!("c-{untagged}")]);
    lxc(&["init", "hoody-busybox", &format!("c-{foreign}"), "-c", "user.hoody.server_id=ffffffffffffffffffffffff"]);
    assert!(exists(&format!("c-{untagged}")) && exists(&format!("c-{foreign}")), "the strangers were made");

    let server = hoody_api::servers::by_id(&app.db, &app.server_id).await.unwrap().unwrap();
    let host = app.state.hosts.for_server(&server, &app.state.sealer).unwrap();
    // The host filters by our tag: one call, without the strangers.
    let key = hoody_api::lifecycle::provision::SERVER_KEY;
    let tagged = host.call("instances_with", |d| d.instances_with(key, &app.server_id)).await.unwrap();
    assert!(tagged.contains(&format!("c-{lost}")) && tagged.contains(&format!("c-{kept}")), "{tagged:?}");
    assert!(!tagged.contains(&format!("c-{untagged}")) && !tagged.contains(&format!("c-{foreign}")), "{tagged:?}");
    let found = hoody_api::lifecycle::reconciler::strays(&app.state, &host, &app.server_id).await.unwrap();
    assert_eq!(found, [format!("c-{lost}")]);
    // A whole pass reports it and changes nothing: every instance is still there, as it was.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    for id in [&lost, &untagged, &foreign, &kept] {
        assert!(exists(&format!("c-{id}")), "c-{id} was removed");
    }
    assert_eq!(lxc_status(&format!("c-{kept}")), "RUNNING");
    assert_eq!(lxc_status(&format!("c-{lost}")), "RUNNING");
}
