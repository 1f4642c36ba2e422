//! Containers when their host misbehaves (the fault-injecting driver around the real LXD):
//! a blackholed host answers by the deadline + 0.5 s with 504 and the container never shows
//! `running`; no transaction idles in Postgres during the host call; a failing host is 502
//! and then the breaker answers 503 + Retry-After at once; a blackholed host does not take a
//! healthy one down; replies that are too big, malformed or not HTTP are a 502.

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

use crate::fixtures::{lxc_status, pin_faulty, socket, LxdApp, DEADLINE};

/// Transactions left open while the host call hangs: idle in a transaction for longer than a
/// background worker's pause between two statements of its own short transaction (under a loaded
/// machine those pauses show up as a moment of "idle in transaction"; a transaction held across
/// the blackholed call would sit there for the whole deadline).
async fn idle_in_transaction(app: &LxdApp) -> i64 {
    sqlx::query_scalar(
        "select count(*) from pg_stat_activity where datname = current_database() \
         and state like 'idle in transaction%' and state_change < now() - interval '300 milliseconds'",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
