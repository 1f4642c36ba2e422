//! Two replicas (two servers, each with its own principal cache and listeners) on one database:
//! a revocation is refused on the next request on the replica that made it, and within a second
//! (in practice: milliseconds, pushed by PostgreSQL) on the other, whatever made it: a token
//! disabled or deleted, a logout-all, a ban (through the API, or straight in the database as the
//! `hoody-api users` CLI does), a lowered share.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::harness::TestApp;

const ME: &str = "/api/v1/users/auth/me";

/// Poll `path` on `app` with `token` until it is refused; how long that took. The caller has
/// just had `app` cache the credential (a request right before the change): with the cache's
/// 1 s lifetime alone it would be served for ~1 s more, so a refusal within half of that is the
/// notification's doing.
async fn refused_within_a_second(app: &TestApp, path: &str, token: &str) -> Duration {
    let started = Instant::now();
    loop {
        let r = app.get(path, Some(token)).await;
        if !r.status.is_success() {
            assert!(matches!(r.status.as_u16(), 401 | 403 | 404), "{}", r.text);
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "still accepted on the other replica after 500 ms: it was not told (its cache lives 1 s)"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn revocations_hold_on_both_replicas() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let s = a.verified_user("replicas@example.com").await;
    let (t1, t1_id) = a.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    let (t2, t2_id) = a.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    // Both replicas have seen (and cached) the session and the tokens.
    for app in [&a, &b] {
        for credential in [&s.token, &t1, &t2] {
            app.get(ME, Some(credential)).await.expect(200);
        }
    }

    // A token disabled on A: A refuses it at once, B within a second.
    a.request(Method::PUT, &format!("/api/v1/auth/tokens/{t1_id}"), Some(&s.token), Some(json!({"is_enabled": false})))
        .await
        .expect(200);
    a.get(ME, Some(&t1)).await.expect(401);
    refused_within_a_second(&b, ME, &t1).await;

    // A token deleted on B: B at once, A within a second (A cached it just before).
    a.get(ME, Some(&t2)).await.expect(200);
    b.request(Method::DELETE, &format!("/api/v1/auth/tokens/{t2_id}"), Some(&s.token), None).await.expect(200);
    b.get(ME, Some(&t2)).await.expect(401);
    refused_within_a_second(&a, ME, &t2).await;

    // Logout-all on B: B at once, A within a second.
    let other = a.login("replicas@example.com", crate::harness::PASSWORD).await;
    for app in [&a, &b] {
        app.get(ME, Some(&other.token)).await.expect(200);
    }
    b.post_auth("/api/v1/users/auth/logout", &other.token, None).await.expect(200);
    b.get(ME, Some(&other.token)).await.expect(401);
    refused_within_a_second(&a, ME, &other.token).await;
}

#[tokio::test]
async fn a_ban_made_in_the_database_reaches_both_replicas() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let s = a.verified_user("banned-replica@example.com").await;
    let (token, _) = a.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    for app in [&a, &b] {
        app.get(ME, Some(&s.token)).await.expect(200);
        app.get(ME, Some(&token)).await.expect(200);
    }
    // As `hoody-api users ban` does, from a process with no cache of its own: only the
    // database's notification tells the replicas.
    sqlx::query("update app_user set is_banned = true where user_id = $1")
        .bind(&s.user_id)
        .execute(&a.db)
        .await
        .unwrap();
    for app in [&a, &b] {
        refused_within_a_second(app, ME, &s.token).await;
        refused_within_a_second(app, ME, &token).await;
    }
}

#[tokio::test]
async fn a_lowered_share_holds_on_the_next_request_of_either_replica() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let owner = a.verified_user("share-owner@example.com").await;
    let guest = a.verified_user("share-guest@example.com").await;
    let r = a.post_auth("/api/v1/projects/", &owner.token, Some(json!({"alias": "Shared"}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    let r = a
        .post_auth(
            &format!("/api/v1/projects/{project}/permissions"),
            &owner.token,
            Some(json!({"user_id": guest.user_id, "permission_level": "edit"})),
        )
        .await;
    r.expect(201);
    let grant = r.data()["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/projects/{project}");
    let body = json!({"alias": "Renamed"});
    for app in [&a, &b] {
        app.request(Method::PUT, &path, Some(&guest.token), Some(body.clone())).await.expect(200);
    }
    a.request(
        Method::PUT,
        &format!("/api/v1/projects/{project}/permissions/{grant}"),
        Some(&owner.token),
        Some(json!({"permission_level": "read"})),
    )
    .await
    .expect(200);
    // Shares are read on every request: both replicas refuse the edit at once.
    for app in [&a, &b] {
        app.request(Method::PUT, &path, Some(&guest.token), Some(body.clone())).await.expect(403);
        app.get(&path, Some(&guest.token)).await.expect(200);
    }
}

#[tokio::test]
async fn the_cache_serves_repeat_requests_and_its_lifetime_bounds_a_lost_notification() {
    let a = TestApp::spawn().await;
    let s = a.verified_user("cache-life@example.com").await;
    // Changes to the user no longer notify: as if the notification were lost.
    sqlx::query("alter table app_user disable trigger app_user_principal_changed").execute(&a.db).await.unwrap();
    let alias = |r: &crate::harness::Resp| r.data()["alias"].clone();
    // Until the replica listens (just after start) nothing is kept: try until a repeat request
    // is answered from the cache, i.e. with the alias from before a change made in the database.
    let mut served_from_cache = false;
    for i in 0..20 {
        a.get(ME, Some(&s.token)).await.expect(200);
        let changed_at = Instant::now();
        sqlx::query("update app_user set alias = $2 where user_id = $1")
            .bind(&s.user_id)
            .bind(format!("changed-{i}"))
            .execute(&a.db)
            .await
            .unwrap();
        let r = a.get(ME, Some(&s.token)).await;
        r.expect(200);
        if alias(&r) != json!(format!("changed-{i}")) {
            served_from_cache = true;
            // Without the notification, the lifetime (1 s) is the bound.
            loop {
                let r = a.get(ME, Some(&s.token)).await;
                if alias(&r) == json!(format!("changed-{i}")) {
                    break;
                }
                assert!(changed_at.elapsed() < Duration::from_millis(1100), "a cached principal outlived 1 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(changed_at.elapsed() > Duration::from_millis(300), "refreshed too soon to have been cached");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served_from_cache, "no repeat request was answered from the cache");
}
