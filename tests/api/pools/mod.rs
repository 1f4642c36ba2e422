//! Pools over HTTP on real Postgres: pools and the default pool, members, invitations, who may
//! do what (owner / admin / user / stranger; tokens without the leaf), what the database holds
//! after each refusal, concurrency (a duplicate name, a double accept), and servers rented for a
//! pool (its members may use them until they leave or the pool goes).

mod invitations;
mod limits;
mod manage;
mod members;
mod rentals;

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, Session, TestApp, PASSWORD};

pub const POOLS: &str = "/api/v1/pools";
pub const PENDING: &str = "/api/v1/pools/invitations/pending";

/// A verified user named `tag` (inserted directly), signed in.
pub async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

pub async fn create(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post_auth(POOLS, token, Some(body)).await
}

/// A new pool named `name` of the token's user; its id.
pub async fn pool(app: &TestApp, token: &str, name: &str) -> String {
    let r = create(app, token, json!({"name": name})).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

pub async fn invite(app: &TestApp, token: &str, pool: &str, username: &str, role: &str) -> Resp {
    app.post_auth(&format!("{POOLS}/{pool}/members"), token, Some(json!({"username": username, "role": role}))).await
}

pub async fn accept(app: &TestApp, token: &str, pool: &str) -> Resp {
    app.post_auth(&format!("{POOLS}/{pool}/accept"), token, None).await
}

/// Invite `who` (named `username`) with `role` as `by`, and accept.
pub async fn join(app: &TestApp, by: &str, pool: &str, who: &Session, username: &str, role: &str) {
    invite(app, by, pool, username, role).await.expect(201);
    accept(app, &who.token, pool).await.expect(200);
}

pub async fn set_role(app: &TestApp, token: &str, pool: &str, user_id: &str, role: &str) -> Resp {
    app.request(Method::PUT, &format!("{POOLS}/{pool}/members/{user_id}"), Some(token), Some(json!({"role": role})))
        .await
}

pub async fn remove(app: &TestApp, token: &str, pool: &str, user_id: &str) -> Resp {
    app.request(Method::DELETE, &format!("{POOLS}/{pool}/members/{user_id}"), Some(token), None).await
}

/// The pool's member rows as (user, role, joined), by user id (ground truth).
pub async fn rows(app: &TestApp, pool: &str) -> Vec<(String, String, bool)> {
    sqlx::query_as("select user_id, role, joined_at is not null from pool_member where pool_id = $1 order by user_id")
        .bind(pool)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// How many pools the user owns (ground truth).
pub async fn owned(app: &TestApp, user_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from pool where owner_id = $1").bind(user_id).fetch_one(&app.db).await.unwrap()
}

/// The events of `kind` the user has for the pool.
pub async fn events(app: &TestApp, user_id: &str, kind: &str, pool: &str) -> i64 {
    sqlx::query_scalar("select count(*) from event where user_id = $1 and event_type = $2 and resource_id = $3")
        .bind(user_id)
        .bind(kind)
        .bind(pool)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// A token of `s` holding exactly `leaves`.
pub async fn token(app: &TestApp, s: &Session, leaves: &[&str]) -> String {
    app.new_token(&s.token, json!({"permissions": crate::permissions::tree(leaves)})).await.0
}

/// Send `request` while a demotion of `user_id` to `user` in `pool` is written and not committed
/// (as a concurrent role change would be): the request waits for it (still unanswered after
/// 400 ms), the demotion commits, and the request's answer is returned.
pub async fn during_demotion(
    app: &TestApp,
    pool: &str,
    user_id: &str,
    request: impl std::future::Future<Output = Resp>,
) -> Resp {
    let mut demotion = app.db.begin().await.unwrap();
    sqlx::query("update pool_member set role = 'user' where pool_id = $1 and user_id = $2")
        .bind(pool)
        .bind(user_id)
        .execute(&mut *demotion)
        .await
        .unwrap();
    tokio::pin!(request);
    let early = tokio::time::timeout(std::time::Duration::from_millis(400), &mut request).await;
    assert!(early.is_err(), "the request waits for the member row the demotion holds");
    demotion.commit().await.unwrap();
    request.await
}
