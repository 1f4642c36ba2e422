//! The error envelope of every kind of refusal the server makes, snapshotted with insta
//! (`tests/api/snapshots/`), so that a changed envelope (a code, a message, a field path, a
//! header) is a diff someone reviews, never a silent change. Each snapshot holds the status, the
//! headers a client acts on and the whole body; what differs per run is redacted: the request id
//! (checked first to equal the `x-request-id` header) and the seconds left in a rate-limit window.
//!
//! A mismatch or a missing snapshot fails the test (`scripts/test` sets `INSTA_UPDATE=no`; CI
//! sets `CI=true`, which does the same). To accept a change: `cargo insta review` (cargo-insta),
//! or `INSTA_UPDATE=always cargo nextest run -E 'test(/^errors::/)'` and read the `git diff`.

use std::{collections::BTreeMap, time::Duration};

use axum::{extract::State, routing::put, Router};
use hoody_api::{
    db::{
        containers::{insert, NewContainer},
        documents::{self, Versioned},
    },
    error::ApiError,
    extract::{IfMatch, Json},
    middleware::request_context,
};
use insta::internals::{Content, ContentPath};
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::harness::{Resp, TestApp, PASSWORD};

const SIGNUP: &str = "/api/v1/auth/signup";
const PROJECTS: &str = "/api/v1/projects/";

/// What a client sees of a refusal: the status, the headers it acts on, the body.
fn seen(r: &Resp) -> Value {
    r.expect(r.status.as_u16());
    assert!(r.status.as_u16() >= 400, "not a refusal: {}", r.text);
    let rid = r.headers["x-request-id"].to_str().unwrap();
    assert!(!rid.is_empty());
    assert_eq!(r.body["request_id"], rid, "the body names the request's id");
    let headers: BTreeMap<&str, &str> = ["allow", "content-type", "retry-after", "www-authenticate"]
        .into_iter()
        .filter_map(|h| r.headers.get(h).map(|v| (h, v.to_str().unwrap())))
        .collect();
    if let Some(secs) = r.body.get("retry_after") {
        assert_eq!(headers.get("retry-after").copied(), Some(secs.to_string().as_str()), "header and body agree");
    }
    json!({"status": r.status.as_u16(), "headers": headers, "body": r.body})
}

/// Snapshot a refusal under `name`, the request id redacted.
#[track_caller]
fn snap(name: &str, r: &Resp) {
    insta::assert_json_snapshot!(name, seen(r), {".body.request_id" => "[request_id]"});
}

/// Seconds left in a window: they count down between runs, so the snapshot keeps their range.
fn seconds(value: Content, _: ContentPath<'_>) -> String {
    let secs = value.as_u64().or_else(|| value.as_str().and_then(|s| s.parse().ok()));
    assert!(secs.is_some_and(|s| (1..=3600).contains(&s)), "{value:?}");
    "[1..3600 seconds]".to_owned()
}

/// A verified user inserted directly, signed in; returns the access token.
async fn user(app: &TestApp, name: &str) -> (String, String) {
    let email = format!("{name}@example.com");
    let id = app.seed_user(&email, name, PASSWORD).await;
    (app.login(&email, PASSWORD).await.token, id)
}

async fn project(app: &TestApp, token: &str, alias: &str) -> String {
    let r = app.post_auth(PROJECTS, token, Some(json!({"alias": alias}))).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

/// Serve `router` behind the app's request context (request id, envelope) on a port of its own.
async fn serve(app: &TestApp, router: Router) -> String {
    let router = router.layer(axum::middleware::from_fn_with_state(app.state.clone(), request_context));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn refused_requests_name_what_is_wrong_with_them() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "shaper").await;

    // 400: a body that is no JSON; a body of the wrong shape, naming the field.
    snap("400_invalid_json", &app.post_raw(SIGNUP, "application/json", b"{oops".to_vec()).await);
    let r = app.post_auth(PROJECTS, &token, Some(json!({"alias": 5}))).await;
    assert_eq!(r.code(), "invalid_body", "{}", r.text);
    snap("400_invalid_body", &r);
    // 400: a query parameter and a path parameter that do not parse, each named.
    let r = app.get(&format!("{PROJECTS}?limit=abc"), Some(&token)).await;
    assert_eq!(r.code(), "invalid_query", "{}", r.text);
    snap("400_invalid_query", &r);
    let r = app.get("/api/v1/auth/tokens/%FF", Some(&token)).await;
    assert_eq!(r.code(), "invalid_path", "{}", r.text);
    snap("400_invalid_path", &r);
    // 422: well-formed, but a value breaks a rule; and a field the schema does not know.
    snap("422_validation_failed", &app.post_auth(PROJECTS, &token, Some(json!({"alias": ""}))).await);
    snap("422_unknown_field", &app.post_auth(PROJECTS, &token, Some(json!({"alias": "A", "bogus": 1}))).await);

    // The HTTP layer: no such route, no such method, too big, not JSON.
    snap("404_route_not_found", &app.get("/api/v1/nope", None).await);
    snap("405_method_not_allowed", &app.request(Method::DELETE, SIGNUP, None, None).await);
    let big = serde_json::to_vec(&json!({"email": "big@example.com", "password": "x".repeat(2 << 20)})).unwrap();
    snap("413_payload_too_large", &app.post_raw(SIGNUP, "application/json", big).await);
    snap("415_unsupported_media_type", &app.post_raw(SIGNUP, "text/plain", b"{}".to_vec()).await);
    let stored: i64 = sqlx::query_scalar("select count(*) from project").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, 0, "no refusal stored anything");
}

#[tokio::test]
async fn unauthenticated_and_forbidden_callers_are_told_why() {
    let app = TestApp::spawn().await;
    snap("401_missing_token", &app.get(PROJECTS, None).await);
    snap("401_invalid_token", &app.get(PROJECTS, Some("not-a-token")).await);
    snap(
        "401_wrong_password",
        &app.post("/api/v1/users/auth/login", json!({"email": "nobody@example.com", "password": PASSWORD})).await,
    );

    let (owner, _) = user(&app, "owner").await;
    let (reader, reader_id) = user(&app, "reader").await;
    let p = project(&app, &owner, "Guarded").await;
    // A token without the endpoint's leaf.
    let (tok, _) = app.new_token(&owner, json!({"permissions": {"projects": {"read": true}}})).await;
    let r = app.request(Method::PUT, &format!("{PROJECTS}{p}"), Some(&tok), Some(json!({"alias": "x"}))).await;
    assert_eq!(r.code(), "insufficient_permissions", "{}", r.text);
    snap("403_insufficient_permissions", &r);
    // A grantee below the level the route needs.
    let grant = json!({"user_id": reader_id, "permission_level": "read"});
    app.post_auth(&format!("{PROJECTS}{p}/permissions"), &owner, Some(grant)).await.expect(201);
    let r = app.request(Method::PUT, &format!("{PROJECTS}{p}"), Some(&reader), Some(json!({"alias": "x"}))).await;
    assert_eq!(r.code(), "project_access_denied", "{}", r.text);
    snap("403_project_access_denied", &r);
}

/// A missing id, another user's and a malformed one get the same answer, byte for byte (sent
/// under one request id, so that nothing may differ).
#[tokio::test]
async fn what_is_not_yours_is_not_found_exactly_like_what_does_not_exist() {
    let app = TestApp::spawn().await;
    let (owner, _) = user(&app, "keeper").await;
    let (other, _) = user(&app, "stranger").await;
    let mine = project(&app, &owner, "Mine").await;
    let get = |path: String| {
        let (app, other) = (&app, other.clone());
        async move { app.request_with(Method::GET, &path, Some(&other), &[("x-request-id", "same-request")], None).await }
    };

    let missing = get(format!("/api/v1/containers/{}", hoody_api::db::new_id())).await;
    assert_eq!(missing.code(), "container_not_found", "{}", missing.text);
    snap("404_container_not_found", &missing);
    assert_eq!(get("/api/v1/containers/not-an-id".into()).await.text, missing.text, "a malformed id");

    let missing = get(format!("{PROJECTS}{}", hoody_api::db::new_id())).await;
    assert_eq!(missing.code(), "project_not_found", "{}", missing.text);
    snap("404_project_not_found", &missing);
    assert_eq!(get(format!("{PROJECTS}{mine}")).await.text, missing.text, "another user's project");
    assert_eq!(get(format!("{PROJECTS}not-an-id")).await.text, missing.text, "a malformed id");
}

#[tokio::test]
async fn conflicts_say_what_is_taken_or_busy() {
    let app = TestApp::spawn_with(|c| {
        c.host_lock_wait = Duration::from_millis(300);
        c.reconcile_interval = Duration::from_secs(3600);
    })
    .await;
    let (token, _) = user(&app, "racer").await;
    let p = project(&app, &token, "Taken").await;
    // A uniqueness rule.
    let r = app.post_auth(PROJECTS, &token, Some(json!({"alias": "Taken"}))).await;
    assert_eq!(r.code(), "project_alias_taken", "{}", r.text);
    snap("409_project_alias_taken", &r);

    // A container whose host lock another change holds: 409 with Retry-After once the wait is up.
    let server = hoody_api::db::new_id();
    sqlx::query("insert into server (server_id, name, region, is_free) values ($1, 'held', 'local', true)")
        .bind(&server)
        .execute(&app.db)
        .await
        .unwrap();
    let mut n = NewContainer::new(&p, &server, "held-1".to_owned(), "hoody-busybox".to_owned());
    n.status = "running";
    insert(&app.db, &n).await.unwrap();
    sqlx::query("insert into host_lock (key, op_id, until) values ($1, 'another-change', now() + interval '1 hour')")
        .bind(format!("container:{}", n.container_id))
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.request(Method::POST, &format!("/api/v1/containers/{}/stop", n.container_id), Some(&token), None).await;
    assert_eq!(r.code(), "container_busy", "{}", r.text);
    snap("409_container_busy", &r);
    let status: String = sqlx::query_scalar("select status from container where container_id = $1")
        .bind(&n.container_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "running", "the refused stop did nothing");
}

/// A versioned document written only under `if-match` (no route serves one yet: the proxy
/// documents will).
async fn save_doc(
    State(db): State<PgPool>,
    IfMatch(expected): IfMatch,
    Json(body): Json<Value>,
) -> Result<axum::Json<Versioned<Value>>, ApiError> {
    let mut tx = db.begin().await?;
    let version = documents::write(&mut tx, "test.errors", "doc", Some(expected), Some(&body)).await?;
    tx.commit().await?;
    Ok(axum::Json(Versioned::new(body, version)))
}

#[tokio::test]
async fn versioned_writes_need_the_current_version() {
    let app = TestApp::spawn().await;
    let base = serve(&app, Router::new().route("/doc", put(save_doc)).with_state(app.db.clone())).await;
    let send = |if_match: Option<&'static str>| {
        let mut req = app.client.put(format!("{base}/doc")).json(&json!({"n": 1}));
        if let Some(v) = if_match {
            req = req.header("if-match", v);
        }
        async move { TestApp::read(req.send().await.unwrap()).await }
    };
    for _ in 0..3 {
        let mut tx = app.db.begin().await.unwrap();
        documents::write(&mut tx, "test.errors", "doc", None, Some(&json!({}))).await.unwrap();
        tx.commit().await.unwrap();
    }
    snap("428_if_match_required", &send(None).await);
    snap("400_invalid_if_match", &send(Some("file:3")).await);
    let r = send(Some("file:v1")).await;
    assert_eq!(r.body["details"]["current_file_version"], 3, "{}", r.text);
    snap("412_version_mismatch", &r);
    let r = send(Some("file:v3")).await;
    assert_eq!((r.status.as_u16(), &r.body["file_version"]), (200, &json!(4)), "{}", r.text);
}

#[tokio::test]
async fn too_many_requests_say_when_to_come_back() {
    let app = TestApp::spawn_with(|c| c.limits.login_failures_per_account = 1).await;
    app.seed_user("guesser@example.com", "guesser", PASSWORD).await;
    let login = |password: &str| {
        app.post("/api/v1/users/auth/login", json!({"email": "guesser@example.com", "password": password}))
    };
    login("Wrong-Password-1").await.expect(401);
    let r = login(PASSWORD).await;
    r.expect(429);
    insta::assert_json_snapshot!("429_rate_limited", seen(&r), {
        ".body.request_id" => "[request_id]",
        ".body.retry_after" => insta::dynamic_redaction(seconds),
        ".headers[\"retry-after\"]" => insta::dynamic_redaction(seconds),
    });
}

#[tokio::test]
async fn an_unavailable_service_says_when_to_retry() {
    let app = TestApp::spawn().await;
    let (token, _) = user(&app, "patient").await;
    // Draining for a shutdown: not ready.
    app.state.draining.store(true, std::sync::atomic::Ordering::SeqCst);
    snap("503_draining", &app.get("/readyz", None).await);
    app.state.draining.store(false, std::sync::atomic::Ordering::SeqCst);
    // The database away.
    tokio::time::timeout(Duration::from_secs(10), app.db.close()).await.expect("the pool closes");
    snap("503_database_unavailable", &app.get(PROJECTS, Some(&token)).await);
}
