//! The free tier: verification sets up a default project and container on the free server
//! (the host part in the background, never failing the login); the session responses show
//! them; `POST /users/me/retry-setup` repairs a failed setup and is idempotent.

use std::time::Duration;

use hoody_api::host::{fault::Fault, HostLimits};
use reqwest::Method;
use serde_json::json;

use crate::{
    fixtures::{lxc_status, pin_through, LxdApp},
    harness::{TestApp, PASSWORD},
};

/// Poll `sql` (one text column, `$1` = `arg`) until it reads `want`.
async fn wait_for(app: &LxdApp, sql: &str, arg: &str, want: &str) {
    let mut last = None;
    for _ in 0..200 {
        last = sqlx::query_scalar::<_, String>(sql).bind(arg).fetch_optional(&app.db).await.unwrap();
        if last.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql} with {arg} never read {want}; last {last:?}");
}

async fn wait_status(app: &LxdApp, id: &str, want: &str) {
    wait_for(app, "select status from container where container_id = $1", id, want).await
}

/// The account's setup state (the background setup writes it after the container's status).
async fn wait_setup(app: &LxdApp, email: &str, want: &str) {
    wait_for(app, "select setup_state from app_user where email = $1", email, want).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_sets_up_the_default_project_and_container() {
    let app = LxdApp::spawn_with(|c| c.free_tier = true).await;
    let token = app.signup("free@example.com", PASSWORD).await;
    let r = app.post("/api/v1/auth/verify-email", json!({"token": token})).await;
    r.expect(200);
    let d = r.data().clone();
    assert_eq!(d["project"]["alias"], "Default");
    assert_eq!(d["container"]["name"], "default");
    assert_eq!(d["server"]["name"], "local");
    assert_eq!(d["server"]["region"], "local");
    let container = d["container"]["id"].as_str().unwrap().to_owned();
    app.track(&container);
    wait_status(&app, &container, "running").await;
    assert_eq!(lxc_status(&format!("c-{container}")), "RUNNING");

    // Login shows the same objects, the server now ready.
    let r = app.post("/api/v1/users/auth/login", json!({"email": "free@example.com", "password": PASSWORD})).await;
    r.expect(200);
    assert_eq!(r.data()["container"]["id"], container);
    assert_eq!(r.data()["project"]["id"], d["project"]["id"]);
    assert_eq!(r.data()["server"]["is_ready"], true);
    let session = r.data()["token"].as_str().unwrap().to_owned();

    // Retry-setup with everything in place changes nothing.
    let r = app.post_auth("/api/v1/users/me/retry-setup", &session, None).await;
    r.expect(200);
    assert_eq!(r.data()["container"]["id"], container);
    assert!(r.data()["blocked_reason"].is_null());
    let count: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(count, 1);
    // The default project and container are ordinary ones for their owner.
    let r = app.get(&format!("/api/v1/containers/{container}"), Some(&session)).await;
    r.expect(200);
    assert_eq!(r.data()["is_default"], true);
    app.post_auth("/api/v1/users/me/retry-setup", &session, Some(json!({"region": ""}))).await.expect(422);
    app.post_auth("/api/v1/users/me/retry-setup", &session, Some(json!({"nope": 1}))).await.expect(422);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_setup_does_not_fail_the_login_and_retry_repairs_it() {
    let app = LxdApp::spawn_with(|c| c.free_tier = true).await;
    let limits =
        HostLimits { max_concurrent: 4, queue_wait: Duration::from_millis(200), call_timeout: Duration::from_secs(5) };
    let f = pin_through(&app, limits);
    f.set(Fault::Fail);

    let token = app.signup("unlucky@example.com", PASSWORD).await;
    let r = app.post("/api/v1/auth/verify-email", json!({"token": token})).await;
    r.expect(200);
    let first = r.data()["container"]["id"].as_str().unwrap().to_owned();
    app.track(&first);
    wait_status(&app, &first, "failed").await;
    wait_setup(&app, "unlucky@example.com", "failed").await;
    let session = app.login("unlucky@example.com", PASSWORD).await;

    // The host is back: retry replaces the failed container with a running one.
    app.state.hosts.unpin(&app.server_id);
    let r = app.call(Method::POST, "/api/v1/users/me/retry-setup", &session.token, Some(json!({}))).await;
    r.expect(200);
    let second = r.data()["container"]["id"].as_str().unwrap().to_owned();
    app.track(&second);
    assert_ne!(second, first);
    assert_eq!(r.data()["container"]["name"], "default");
    assert_eq!(r.data()["server"]["is_ready"], true);
    assert_eq!(lxc_status(&format!("c-{second}")), "RUNNING");
    let left: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 1, "the failed container was removed");
    wait_setup(&app, "unlucky@example.com", "done").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_setup_without_a_free_server_says_so() {
    let app = TestApp::spawn_with(|c| c.free_tier = true).await;
    let s = app.verified_user("nohost@example.com").await;
    let r = app.post_auth("/api/v1/users/me/retry-setup", &s.token, None).await;
    r.expect(412);
    assert_eq!(r.code(), "no_free_server");
    app.post_auth("/api/v1/users/me/retry-setup", "nope", None).await.expect(401);
    // Verification without a free server still signed the user in, with nulls.
    let r = app.post("/api/v1/users/auth/login", json!({"email": "nohost@example.com", "password": PASSWORD})).await;
    r.expect(200);
    assert!(r.data()["container"].is_null() && r.data()["server"].is_null() && r.data()["project"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_default_container_that_ran_is_not_replaced() {
    let app = LxdApp::spawn_with(|c| c.free_tier = true).await;
    let token = app.signup("kept@example.com", PASSWORD).await;
    let r = app.post("/api/v1/auth/verify-email", json!({"token": token})).await;
    r.expect(200);
    let id = r.data()["container"]["id"].as_str().unwrap().to_owned();
    app.track(&id);
    wait_status(&app, &id, "running").await;
    let session = app.login("kept@example.com", PASSWORD).await;
    // Its host goes away for a while: the reconciler marks it failed.
    pin_through(&app, HostLimits { call_timeout: Duration::from_millis(300), ..HostLimits::default() })
        .set(Fault::Blackhole);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    wait_status(&app, &id, "failed").await;
    app.state.hosts.unpin(&app.server_id);
    // Retry-setup does not throw away a container that ran: it says an operator must look.
    let r = app.post_auth("/api/v1/users/me/retry-setup", &session.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["blocked_reason"], "admin_recovery_required");
    assert_eq!(r.data()["container"]["id"], id);
    assert_eq!(lxc_status(&format!("c-{id}")), "RUNNING", "the instance is untouched");
    let n: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_setup_is_refused_when_the_free_tier_is_off() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("off@example.com").await;
    let r = app.post_auth("/api/v1/users/me/retry-setup", &s.token, None).await;
    r.expect(412);
    assert_eq!(r.code(), "free_tier_disabled");
    let n: i64 = sqlx::query_scalar("select count(*) from project").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
}
