use std::time::Duration;

use futures::future::join_all;
use serde_json::json;

use crate::harness::{link_token, TestApp, PASSWORD};

const VERIFY: &str = "/api/v1/auth/verify-email";
const RESEND: &str = "/api/v1/auth/resend-verification";
const ME: &str = "/api/v1/users/auth/me";

/// RFC 3339 UTC with milliseconds: `2026-11-26T18:00:00.000Z`; returns the parsed instant.
#[track_caller]
fn assert_ts(v: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert_eq!(s.len(), 24, "not YYYY-MM-DDTHH:MM:SS.mmmZ: {s}");
    assert!(s.ends_with('Z'), "not UTC with Z: {s}");
    assert_eq!(&s[19..20], ".", "no milliseconds: {s}");
    assert!(s[20..23].bytes().all(|b| b.is_ascii_digit()), "no milliseconds: {s}");
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {s}")).to_utc()
}

/// Mails queued for `email` (the outbox table: exact, no waiting on the delivery worker).
async fn outbox_count(app: &TestApp, email: &str) -> i64 {
    app.settle_mail_requests().await;
    sqlx::query_scalar("select count(*) from mail_outbox where recipient = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

/// Wait until `n` mails to `email` were delivered; returns them.
async fn mails_to(app: &TestApp, email: &str, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let mails = app.mails_to(email);
        if mails.len() >= n {
            return mails;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} mails to {email}, have {}", app.mails_to(email).len());
}

#[tokio::test]
async fn verify_email_signs_in_with_a_full_session() {
    let app = TestApp::spawn().await;
    let token = app.signup("vera@example.com", PASSWORD).await;
    let r = app.post(VERIFY, json!({"token": token})).await;
    r.expect(200);
    let d = r.data();
    let access = d["token"].as_str().expect("token");
    let refresh = d["refreshToken"].as_str().expect("refreshToken");
    assert!(!access.is_empty() && !refresh.is_empty());
    assert_ne!(access, refresh);

    let now = chrono::Utc::now();
    let exp = assert_ts(&d["expires_at"]);
    let in_secs = d["expires_in"].as_i64().expect("expires_in");
    assert!((86_300..=86_400).contains(&in_secs), "expires_in {in_secs}");
    assert!(((exp - now).num_seconds() - 86_400).abs() <= 60, "expires_at {exp} vs now {now}");
    let rexp = assert_ts(&d["refresh_expires_at"]);
    let rin = d["refresh_expires_in"].as_i64().expect("refresh_expires_in");
    assert!((604_700..=604_800).contains(&rin), "refresh_expires_in {rin}");
    assert!(((rexp - now).num_seconds() - 604_800).abs() <= 60);

    let user = &d["user"];
    assert_eq!(user["email"], "vera@example.com");
    assert_eq!(user["email_verified"], true);
    assert_eq!(user["is_admin"], false);
    assert_eq!(user["id"].as_str().unwrap().len(), 24);
    assert_ts(&user["created_at"]);
    for key in ["server", "project", "container"] {
        assert!(d.get(key).is_some_and(|v| v.is_null()), "{key} must be present and null: {}", r.text);
    }

    // No password hash anywhere.
    let hash: String = sqlx::query_scalar("select password_hash from app_user where email = 'vera@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!r.text.contains(&hash));
    assert!(!r.text.contains("argon2"));
    assert!(!r.text.contains("password"), "{}", r.text);

    let (verified, at): (bool, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("select email_verified, email_verified_at from app_user where email = 'vera@example.com'")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(verified && at.is_some());

    // The access token works.
    let me = app.get(ME, Some(access)).await;
    me.expect(200);
    assert_eq!(me.data()["email"], "vera@example.com");
    assert_eq!(me.data()["email_verified"], true);
}

#[tokio::test]
async fn verify_token_works_once() {
    let app = TestApp::spawn().await;
    let token = app.signup("once@example.com", PASSWORD).await;
    app.post(VERIFY, json!({"token": token})).await.expect(200);
    let r = app.post(VERIFY, json!({"token": token})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    assert!(!r.text.contains("refreshToken"), "{}", r.text);
    let sessions: i64 = sqlx::query_scalar("select count(*) from refresh_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 1, "the second use issued nothing");
}

#[tokio::test]
async fn unknown_and_expired_tokens_are_refused() {
    let app = TestApp::spawn().await;
    for bad in ["0".repeat(64), "deadbeef".into(), "x".into(), "".into(), "a".repeat(300), "x".repeat(5000)] {
        let r = app.post(VERIFY, json!({"token": bad})).await;
        r.expect(400);
        assert_eq!(r.code(), "invalid_token", "{bad}: {}", r.text);
    }
    let token = app.signup("late@example.com", PASSWORD).await;
    sqlx::query("update email_token set expires_at = now() - interval '1 minute'").execute(&app.db).await.unwrap();
    let r = app.post(VERIFY, json!({"token": token})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    let verified: bool = sqlx::query_scalar("select email_verified from app_user where email = 'late@example.com'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!verified, "an expired link must not verify the address");
    let sessions: i64 = sqlx::query_scalar("select count(*) from refresh_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 0);
}

#[tokio::test]
async fn verify_rejects_malformed_bodies() {
    let app = TestApp::spawn().await;
    let token = app.signup("shape@example.com", PASSWORD).await;

    let r = app.post(VERIFY, json!({})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "token", "{}", r.text);
    let r = app.post(VERIFY, json!({"token": 123})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "token", "{}", r.text);
    app.post(VERIFY, json!({"token": null})).await.expect(400);
    app.post(VERIFY, json!([token])).await.expect(400);
    app.post_raw(VERIFY, "application/json", b"{\"token\":".to_vec()).await.expect(400);
    let r = app.post(VERIFY, json!({"token": token, "admin": true})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "admin", "{}", r.text);
    // Intent mode needs an S256 code_challenge; an unknown mode is a schema error.
    let r = app.post(VERIFY, json!({"token": token, "response_mode": "intent"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "code_challenge", "{}", r.text);
    let r = app.post(VERIFY, json!({"token": token, "response_mode": "intent", "code_challenge": "too-short"})).await;
    r.expect(422);
    let r = app.post(VERIFY, json!({"token": token, "response_mode": "magic"})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "response_mode", "{}", r.text);
    app.post_raw(VERIFY, "text/plain", format!("{{\"token\":\"{token}\"}}").into_bytes()).await.expect(415);

    // None of the refused requests consumed the token; explicit `tokens` mode works.
    let r = app.post(VERIFY, json!({"token": token, "response_mode": "tokens"})).await;
    r.expect(200);
    assert!(r.data()["token"].is_string());
}

#[tokio::test]
async fn concurrent_verifications_of_one_token_give_exactly_one_session() {
    let app = TestApp::spawn().await;
    let token = app.signup("race@example.com", PASSWORD).await;
    let body = json!({"token": token});
    let results = join_all((0..10).map(|_| app.post(VERIFY, body.clone()))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 200) {
        r.expect(400);
        assert_eq!(r.code(), "invalid_token");
    }
    let sessions: i64 = sqlx::query_scalar("select count(*) from refresh_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 1, "exactly one session issued");
}

#[tokio::test]
async fn resend_is_always_200_and_only_mails_unverified_accounts() {
    let app = TestApp::spawn().await;
    app.verified_user("done@example.com").await;
    let first = app.signup("pending@example.com", PASSWORD).await;
    assert_eq!(outbox_count(&app, "done@example.com").await, 1);
    assert_eq!(outbox_count(&app, "pending@example.com").await, 1);

    let unknown = app.post(RESEND, json!({"email": "nobody@example.com"})).await;
    unknown.expect(200);
    let verified = app.post(RESEND, json!({"email": "done@example.com"})).await;
    verified.expect(200);
    let pending = app.post(RESEND, json!({"email": "  Pending@Example.com "})).await;
    pending.expect(200);
    // Identical answers: the endpoint does not reveal which addresses exist.
    assert_eq!(unknown.body, verified.body);
    assert_eq!(unknown.body, pending.body);
    assert!(unknown.data().is_null());

    assert_eq!(outbox_count(&app, "nobody@example.com").await, 0);
    assert_eq!(outbox_count(&app, "done@example.com").await, 1, "a verified account gets no mail");
    assert_eq!(outbox_count(&app, "pending@example.com").await, 2);
    let second = link_token(&mails_to(&app, "pending@example.com", 2).await[1], "verify-email");
    assert_eq!(second.len(), 64);
    assert_ne!(first, second);
    assert_eq!(app.mails_to("done@example.com").len(), 1);
    assert!(app.mails_to("nobody@example.com").is_empty());

    // The old link is dead, the new one works.
    let r = app.post(VERIFY, json!({"token": first})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    let r = app.post(VERIFY, json!({"token": second})).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["email"], "pending@example.com");
    assert_eq!(r.data()["user"]["email_verified"], true);

    // Now verified: another resend is still 200 and sends nothing.
    app.post(RESEND, json!({"email": "pending@example.com"})).await.expect(200);
    assert_eq!(outbox_count(&app, "pending@example.com").await, 2);
}

#[tokio::test]
async fn only_the_newest_of_several_resent_links_works() {
    let app = TestApp::spawn().await;
    let first = app.signup("many@example.com", PASSWORD).await;
    app.post(RESEND, json!({"email": "many@example.com"})).await.expect(200);
    app.post(RESEND, json!({"email": "many@example.com"})).await.expect(200);
    let mails = mails_to(&app, "many@example.com", 3).await;
    let second = link_token(&mails[1], "verify-email");
    let newest = link_token(&mails[2], "verify-email");
    assert_eq!(app.post(VERIFY, json!({"token": first})).await.code(), "invalid_token");
    assert_eq!(app.post(VERIFY, json!({"token": second})).await.code(), "invalid_token");
    app.post(VERIFY, json!({"token": newest})).await.expect(200);
}

#[tokio::test]
async fn resend_is_capped_per_address_but_still_answers_200() {
    let app = TestApp::spawn_with(|c| c.limits.mail_per_address = 2).await;
    app.signup("capped@example.com", PASSWORD).await;
    for _ in 0..3 {
        app.post(RESEND, json!({"email": "capped@example.com"})).await.expect(200);
    }
    assert_eq!(outbox_count(&app, "capped@example.com").await, 2, "signup + one resend, then the cap");
}

#[tokio::test]
async fn resend_rejects_invalid_bodies_with_the_envelope() {
    let app = TestApp::spawn().await;
    let r = app.post(RESEND, json!({})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "email", "{}", r.text);
    app.post(RESEND, json!({"email": 5})).await.expect(400);
    app.post(RESEND, json!({"email": ["a@example.com"]})).await.expect(400);
    app.post(RESEND, json!("pending@example.com")).await.expect(400);
    app.post_raw(RESEND, "application/json", b"not json".to_vec()).await.expect(400);
    let r = app.post(RESEND, json!({"email": "a@example.com", "extra": 1})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "extra");
    app.post_raw(RESEND, "text/plain", br#"{"email":"a@example.com"}"#.to_vec()).await.expect(415);
    let mails: i64 = sqlx::query_scalar("select count(*) from mail_outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(mails, 0);
}
