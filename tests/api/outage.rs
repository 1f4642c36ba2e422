//! Issue 12, item 14: a database outage neither floods the log (one `database unavailable` line per
//! 10 s, not one per request) nor loses the activity records made meanwhile (held, bounded, and
//! written when the database is back).

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use hoody_api::{config::Config, state::AppState, writeback::activity::Activity};
use serde_json::{json, Value};
use sqlx::postgres::PgConnectOptions;
use tokio::{
    net::{TcpListener, TcpStream},
    task::AbortHandle,
};

use crate::harness::{fresh_database_url, Served, TestApp, PASSWORD};

#[tokio::test]
async fn a_database_outage_logs_one_line_per_ten_seconds_not_one_per_request() {
    // Nothing listens on port 1: the database is away for the whole run.
    let served = Served::start(
        "postgres://hoody@127.0.0.1:1/hoody",
        "info",
        &[("HOODY_DB_ACQUIRE_TIMEOUT_MS", "100")],
        "/healthz",
    )
    .await;
    let client = reqwest::Client::new();
    let base = served.base.clone();
    const N: usize = 40;
    let mut refused = 0;
    for _ in 0..N / 8 {
        let batch = (0..8).map(|_| client.get(format!("{base}/api/v1/auth/available-regions")).send());
        for r in futures::future::join_all(batch).await {
            let r = r.unwrap();
            assert_eq!(r.status(), 503);
            refused += 1;
        }
    }
    assert_eq!(refused, N);

    let (out, err, _) = served.stop();
    let lines: Vec<Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["fields"]["message"] == "database unavailable")
        .collect();
    assert_eq!(lines.len(), 1, "{N} refused requests logged {} `database unavailable` lines:\n{out}{err}", lines.len());
    assert_eq!(lines[0]["fields"]["suppressed"], 0, "the first line of a period has held nothing back yet");
}

/// A TCP relay in front of the test PostgreSQL that can be cut (every relayed connection dropped,
/// new ones refused) and restored: an outage the server recovers from on its own.
struct Relay {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<AbortHandle>>>,
    accept: AbortHandle,
}

impl Relay {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let (u, c) = (up.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut from, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    continue;
                }
                let relay = tokio::spawn(async move {
                    if let Ok(mut to) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut from, &mut to).await;
                    }
                });
                c.lock().unwrap().push(relay.abort_handle());
            }
        })
        .abort_handle();
        Self { addr, up, conns, accept }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

fn held(metrics: &str) -> Option<u64> {
    metrics
        .lines()
        .find(|l| l.starts_with("hoody_writeback_held{queue=\"activity\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn activity_recorded_during_an_outage_is_written_when_the_database_is_back() {
    let url = fresh_database_url().await;
    let direct: PgConnectOptions = url.parse().unwrap();
    let pg: SocketAddr = format!("{}:{}", direct.get_host(), direct.get_port()).parse().unwrap();
    let relay = Relay::start(pg).await;
    let db = sqlx::PgPool::connect_with(direct.clone()).await.unwrap();

    let data_dir = std::env::temp_dir().join(format!("hoody-outage-{}", hoody_api::db::new_id()));
    let mut cfg = Config::with_data_dir(data_dir.clone());
    cfg.writeback_interval = Duration::from_millis(300);
    cfg.db_acquire_timeout = Duration::from_millis(300);
    cfg.lxd_socket = data_dir.join("no-lxd.socket");
    cfg.free_tier = false;
    let relayed = direct.clone().host("127.0.0.1").port(relay.addr.port());
    let state = AppState::new(hoody_api::db::pool(&cfg, relayed), cfg, Arc::new(AtomicBool::new(true))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hoody_api::run(listener, state.clone(), async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();

    // A user and a session, made while the database is up.
    let user_id = hoody_api::db::new_id();
    let hash = hoody_api::auth::password::hash_now(PASSWORD).unwrap();
    sqlx::query(
        "insert into app_user (user_id, username, email, password_hash, email_verified) values ($1, 'outage', 'outage@example.com', $2, true)",
    )
    .bind(&user_id)
    .bind(hash)
    .execute(&db)
    .await
    .unwrap();
    let login = client
        .post(format!("{base}/api/v1/users/auth/login"))
        .json(&json!({"email": "outage@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login = TestApp::read(login).await;
    let token = login.data()["token"].as_str().unwrap_or_else(|| panic!("login: {}", login.text)).to_owned();
    let me = client.get(format!("{base}/api/v1/users/auth/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(me.status(), 200);

    // The database goes away. Requests made now cannot authenticate, but records already queued
    // (and those the request layer queues in the meantime) must survive it.
    relay.cut();
    const N: usize = 25;
    for i in 0..N {
        state.activity.push(Activity {
            user_id: user_id.clone(),
            token_id: None,
            realm_id: None,
            method: "GET".into(),
            route: Some("/api/v1/outage".into()),
            path: format!("/api/v1/outage/{i}"),
            status: 200,
            duration_ms: 1.0,
            ip: "127.0.0.1".into(),
            user_agent: None,
            at: chrono::Utc::now(),
        });
    }
    let metrics = || async { client.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap() };
    // Wait for the writer to have tried and held the batch (bounded: checked after the rows).
    let mut seen = None;
    for _ in 0..50 {
        let m = metrics().await;
        seen = held(&m);
        if seen.is_some_and(|n| n >= N as u64) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = client.get(format!("{base}/api/v1/users/auth/me")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(r.status(), 503);

    relay.restore();
    let count = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from activity_log where user_id = $1 and route = '/api/v1/outage'",
        )
        .bind(&user_id)
        .fetch_one(&db)
        .await
        .unwrap()
    };
    let mut written = 0;
    for _ in 0..100 {
        written = count().await;
        if written >= N as i64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(written, N as i64, "every record made during the outage is written once it ends");
    assert!(seen.is_some_and(|n| n >= N as u64), "/metrics showed the batch held during the outage: {seen:?}");
    // The /me made before the outage is there too, and nothing was dropped.
    let me_rows: i64 = sqlx::query_scalar(
        "select count(*) from activity_log where user_id = $1 and path = '/api/v1/users/auth/me' and status_code = 200",
    )
    .bind(&user_id)
    .fetch_one(&db)
    .await
    .unwrap();
    assert_eq!(me_rows, 1);
    let m = metrics().await;
    assert_eq!(held(&m), Some(0), "{m}");
    assert!(m.contains("hoody_writeback_dropped_total{queue=\"activity\"} 0"), "{m}");

    let _ = stop.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(data_dir);
}
