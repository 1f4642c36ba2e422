//! The `projects` endpoints over HTTP, one file per verb: `create`, `read` (the list), `update`,
//! `delete`, `permissions` (the permission rows and what a grantee's level allows), `stats`, and
//! `access` (another user's project is 404 like a missing one; auth token leaves and realms
//! restrict further). Each endpoint's success (checked by reading it back), its bad input, and
//! who may do what: a grantee's level (`read` < `edit` < `delete`) gates what it may do from its
//! next request on. Stats and deletion with a container run on the real LXD.

mod access;
mod create;
mod delete;
mod permissions;
mod read;
mod stats;
mod update;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, Session, TestApp, PASSWORD};

const PROJECTS: &str = "/api/v1/projects/";

fn at(id: &str) -> String {
    format!("/api/v1/projects/{id}")
}

/// A verified user inserted directly and signed in.
async fn user(app: &TestApp, name: &str) -> Session {
    let email = format!("{name}@example.com");
    app.seed_user(&email, name, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

async fn create(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post_auth(PROJECTS, token, Some(body)).await
}

/// Create a project and return its id.
async fn project(app: &TestApp, token: &str, alias: &str) -> String {
    let r = create(app, token, json!({"alias": alias})).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.request(Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Resp {
    app.request(Method::DELETE, path, Some(token), None).await
}

/// Grant `user_id` access at `level`; returns the permission id.
async fn grant(app: &TestApp, token: &str, project: &str, user_id: &str, level: &str) -> String {
    let r = app
        .post_auth(
            &format!("{}/permissions", at(project)),
            token,
            Some(json!({"user_id": user_id, "permission_level": level})),
        )
        .await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

/// The event types written for a project, oldest first.
async fn events(app: &TestApp, project: &str) -> Vec<String> {
    sqlx::query_scalar("select event_type from event where project_id = $1 order by created_at, event_id")
        .bind(project)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// The aliases of a list response, in order.
fn aliases(r: &Resp) -> Vec<String> {
    r.data()["projects"].as_array().unwrap().iter().map(|p| p["alias"].as_str().unwrap().to_owned()).collect()
}

#[track_caller]
fn assert_field(r: &Resp, status: u16, field: &str) {
    r.expect(status);
    assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
}

#[track_caller]
fn assert_code(r: &Resp, status: u16, code: &str) {
    r.expect(status);
    assert_eq!(r.code(), code, "{}", r.text);
}
