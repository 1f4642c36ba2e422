//! The binary with no DATABASE_URL starts its own PostgreSQL under the data dir, reuses it on the
//! next start and stops it on SIGTERM.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::json;
use sqlx::{postgres::PgConnectOptions, ConnectOptions};

use crate::harness::PASSWORD;

fn start(data_dir: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_hoody-api"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env("HOODY_DATA_DIR", data_dir)
        .env("HOODY_LISTEN", format!("127.0.0.1:{port}"))
        .env("HOODY_FREE_TIER", "off")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start hoody-api")
}

async fn wait_ready(client: &reqwest::Client, port: u16) {
    for _ in 0..600 {
        if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("server on {port} never became ready");
}

fn terminate(mut child: Child) {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    for _ in 0..300 {
        if let Some(exit) = child.try_wait().unwrap() {
            assert!(exit.success(), "hoody-api exited with {exit}");
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    panic!("hoody-api did not stop within 30 s of SIGTERM");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn serve_without_database_url_runs_a_private_cluster() {
    let dir = std::env::temp_dir().join(format!("hoody-embedded-{}", hoody_api::db::new_id()));
    let client = reqwest::Client::new();
    let port = free_port();
    let child = start(&dir, port);
    wait_ready(&client, port).await;
    let res = client
        .post(format!("http://127.0.0.1:{port}/api/v1/auth/signup"))
        .json(&json!({"email": "embedded@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let pg = dir.join("postgres").join("data");
    assert!(pg.join("PG_VERSION").exists());
    // Unix socket only: postgresql.conf is untouched, the listen address comes from the command line.
    let opts = std::fs::read_to_string(pg.join("postmaster.opts")).unwrap();
    assert!(opts.contains("listen_addresses="), "{opts}");
    terminate(child);
    assert!(!pg.join("postmaster.pid").exists(), "the cluster must stop with the server");

    // A second start reuses the cluster and its data.
    let port = free_port();
    let child = start(&dir, port);
    wait_ready(&client, port).await;
    let socket = dir.join("postgres").join("run");
    let mut conn = PgConnectOptions::new().socket(&socket).username("hoody").database("hoody").connect().await.unwrap();
    let n: i64 = sqlx::query_scalar("select count(*) from app_user where email = 'embedded@example.com'")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(n, 1);
    drop(conn);
    terminate(child);
    let _ = std::fs::remove_dir_all(dir);
}
