//! The free tier places new users' default containers by the same rule: spread over the free
//! servers of their region, else over any free server; never on a drained one.

use std::time::Duration;

use serde_json::json;

use super::Two;
use crate::harness::PASSWORD;

/// Sign up (in `region`) and verify; the default container's id once it runs, and its server.
async fn newcomer(two: &Two, email: &str, region: &str) -> (String, String) {
    two.post("/api/v1/auth/signup", json!({"email": email, "password": PASSWORD, "region": region})).await.expect(200);
    let mut token = None;
    for _ in 0..100 {
        if let Some(m) = two.mails_to(email).last() {
            token = Some(crate::harness::link_token(m, "verify-email"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = two.post("/api/v1/auth/verify-email", json!({"token": token.expect("a verification mail")})).await;
    r.expect(200);
    let id = r.data()["container"]["id"].as_str().expect(&r.text).to_owned();
    two.track(&id);
    let server = r.data()["server"]["id"].as_str().unwrap().to_owned();
    for _ in 0..300 {
        let s: String = sqlx::query_scalar("select status from container where container_id = $1")
            .bind(&id)
            .fetch_one(&two.db)
            .await
            .unwrap();
        if s == "running" {
            break;
        }
        assert_ne!(s, "failed", "{email}'s default container failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(two.row_server(&id).await, server);
    assert_eq!(crate::fixtures::lxc_status(&format!("c-{id}")), "RUNNING");
    (id, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_containers_spread_over_the_free_servers() {
    let two = Two::spawn_with(|c| c.free_tier = true).await;
    let mut on = Vec::new();
    for i in 0..4 {
        on.push(newcomer(&two, &format!("new{i}@example.com"), "local").await.1);
    }
    let on_local = on.iter().filter(|s| **s == two.local).count();
    let on_remote = on.iter().filter(|s| **s == two.remote).count();
    assert_eq!((on_local, on_remote), (2, 2), "{on:?}");

    // A user of region `far`: its free server first, though it holds more.
    two.set(&two.remote, "region = 'far'").await;
    let (_, s) = newcomer(&two, "farther@example.com", "far").await;
    assert_eq!(s, two.remote);
    hoody_api::servers::drain(&two.db, "remote", true).await.unwrap();
    let (_, s) = newcomer(&two, "drained@example.com", "far").await;
    assert_eq!(s, two.local, "their region's only free server is drained: any free server");
}
