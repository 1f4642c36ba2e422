//! The database away or saturated: 503 with Retry-After in the envelope, never a 500; routes that
//! need no database keep answering.

use std::{
    sync::{atomic::AtomicBool, Arc},
    time::{Duration, Instant},
};

use hoody_api::{config::Config, state::AppState};

use crate::harness::TestApp;

#[tokio::test]
async fn an_exhausted_pool_answers_503_within_the_acquire_timeout() {
    let app = TestApp::spawn_with(|c| {
        c.db_max_connections = 2;
        c.db_acquire_timeout = Duration::from_millis(500);
    })
    .await;
    let s = app.verified_user("pool@example.com").await;
    let held = vec![app.db.acquire().await.unwrap(), app.db.acquire().await.unwrap()];
    let started = Instant::now();
    let r = app.get("/api/v1/auth/available-regions", None).await;
    let waited = started.elapsed();
    r.expect(503);
    assert_eq!(r.code(), "service_unavailable");
    assert!(r.headers.contains_key("retry-after"));
    assert!(r.body["retry_after"].as_u64().unwrap() >= 1);
    assert!(waited < Duration::from_millis(1500), "waited {waited:?}");
    app.get("/healthz", None).await.expect(200);
    // The principal lookup has its own connections: authenticated reads go on.
    app.get("/api/v1/users/auth/me", Some(&s.token)).await.expect(200);
    drop(held);
    app.get("/api/v1/auth/available-regions", None).await.expect(200);
}

#[tokio::test]
async fn database_down_keeps_liveness_and_fails_readiness() {
    let data_dir = std::env::temp_dir().join(format!("hoody-nodb-{}", hoody_api::db::new_id()));
    let mut cfg = Config::with_data_dir(data_dir.clone());
    cfg.db_acquire_timeout = Duration::from_millis(300);
    // Nothing listens on port 1.
    let opts: sqlx::postgres::PgConnectOptions = "postgres://hoody@127.0.0.1:1/hoody".parse().unwrap();
    let db = hoody_api::db::pool(&cfg, opts);
    let state = AppState::new(db, cfg, Arc::new(AtomicBool::new(true))).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(hoody_api::run(listener, state, async move {
        let _ = rx.await;
    }));
    let client = reqwest::Client::new();
    let get = |path: &str| client.get(format!("{base}{path}")).send();
    assert_eq!(get("/healthz").await.unwrap().status(), 200);
    let ready = get("/readyz").await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(ready.headers().contains_key("retry-after"));
    let r = TestApp::read(get("/api/v1/auth/available-regions").await.unwrap()).await;
    r.expect(503);
    assert!(!r.text.contains("sqlx") && !r.text.contains("127.0.0.1:1"), "{}", r.text);
    let _ = tx.send(());
    server.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(data_dir);
}
