//! Account-wide limits (per tier, from settings), held under concurrency: parallel creates never
//! pass them, failed containers do not count, administrators and the standard tier get more.

use std::time::Duration;

use hoody_api::{
    host::{fault::Fault, HostLimits},
    quota::AccountLimits,
};
use reqwest::Method;
use serde_json::json;

use crate::{
    fixtures::{lxc, pin_through, LxdApp},
    harness::TestApp,
};

const TIGHT: AccountLimits =
    AccountLimits { projects: 2, containers: 1, snapshots: 2, tokens: 2, firewall_rules: 2, aliases: 2, shares: 2 };
const ROOMY: AccountLimits = AccountLimits {
    projects: 50,
    containers: 50,
    snapshots: 50,
    tokens: 50,
    firewall_rules: 50,
    aliases: 50,
    shares: 50,
};

fn limited(c: &mut hoody_api::config::Config) {
    c.quotas.free = TIGHT;
    c.quotas.standard = ROOMY;
}

fn refused_for(r: &crate::harness::Resp, limit: &str) {
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], format!("limits.{limit}"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_project_creates_stop_at_the_free_tier_limit_and_the_standard_tier_goes_further() {
    let app = TestApp::spawn_with(limited).await;
    let s = app.verified_user("quota-projects@example.com").await;
    let creates = (0..6).map(|i| app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": format!("p{i}")}))));
    let answers = futures::future::join_all(creates).await;
    assert_eq!(answers.iter().filter(|r| r.status.as_u16() == 201).count(), 2);
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        refused_for(r, "projects");
    }
    let held: i64 = sqlx::query_scalar("select count(*) from project where user_id = $1")
        .bind(&s.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(held, 2, "the database holds exactly the limit");
    sqlx::query("update app_user set tier = 'standard' where user_id = $1")
        .bind(&s.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "third"}))).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_stop_at_the_limit_and_administrators_are_not_limited() {
    let app = TestApp::spawn_with(limited).await;
    let s = app.verified_user("quota-tokens@example.com").await;
    let creates =
        (0..5).map(|i| app.post_auth("/api/v1/auth/tokens", &s.token, Some(json!({"alias": format!("t{i}")}))));
    let answers = futures::future::join_all(creates).await;
    assert_eq!(answers.iter().filter(|r| r.status.as_u16() == 201).count(), 2);
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        refused_for(r, "tokens");
    }
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&s.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    app.post_auth("/api/v1/auth/tokens", &s.token, Some(json!({"alias": "admin"}))).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_stop_at_the_account_limit_and_failed_ones_do_not_count() {
    let app = LxdApp::spawn_with(limited).await;
    let s = app.verified_user("quota-containers@example.com").await;
    let a = app.project(&s.token, "A").await;
    let b = app.project(&s.token, "B").await;

    // A host outage: the create fails, and its `failed` row does not use up the account.
    let limits =
        HostLimits { max_concurrent: 4, queue_wait: Duration::from_millis(200), call_timeout: Duration::from_secs(5) };
    let f = pin_through(&app, limits);
    f.set(Fault::Fail);
    let failed = app.create(&s.token, &a, json!({"name": "unlucky"})).await;
    failed.expect(502);
    app.state.hosts.unpin(&app.server_id);

    // Four creates at once over two projects: one container, the rest refused by the account limit.
    let creates = (0..4).map(|i| {
        let project = if i % 2 == 0 { a.clone() } else { b.clone() };
        let app = &app;
        let token = s.token.clone();
        async move { app.create(&token, &project, json!({"name": format!("q-{i}")})).await }
    });
    let answers = futures::future::join_all(creates).await;
    assert_eq!(
        answers.iter().filter(|r| r.status.as_u16() == 201).count(),
        1,
        "{:?}",
        answers.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        refused_for(r, "containers");
    }
    let running: i64 = sqlx::query_scalar(
        "select count(*) from container c join project p on p.project_id = c.project_id where p.user_id = $1 and c.status = 'running'",
    )
    .bind(&s.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(running, 1);
    let on_lxd: Vec<String> = answers
        .iter()
        .filter_map(|r| r.data()["id"].as_str())
        .filter(|id| !lxc(&["list", &format!("c-{id}"), "-c", "n", "--format", "csv"]).is_empty())
        .map(str::to_owned)
        .collect();
    assert_eq!(on_lxd.len(), 1, "LXD holds exactly one instance of theirs");

    // Snapshots count account-wide too.
    let id = on_lxd[0].clone();
    let path = format!("/api/v1/containers/{id}/snapshots");
    for _ in 0..2 {
        app.call(Method::POST, &path, &s.token, Some(json!({}))).await.expect(201);
    }
    refused_for(&app.call(Method::POST, &path, &s.token, Some(json!({}))).await, "snapshots");
}
