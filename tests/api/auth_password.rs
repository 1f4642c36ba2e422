use std::time::Duration;

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use crate::harness::{link_token, TestApp, PASSWORD};

const FORGOT: &str = "/api/v1/auth/forgot-password";
const RESET: &str = "/api/v1/auth/reset-password";
const LOGIN: &str = "/api/v1/users/auth/login";
const ME: &str = "/api/v1/users/auth/me";
const REFRESH: &str = "/api/v1/users/auth/refresh";
const NEW_PASSWORD: &str = "Brand-New-Secret-42";

/// Wait for the `n`th mail to `email` (1-based) and return it.
async fn nth_mail(app: &TestApp, email: &str, n: usize) -> String {
    for _ in 0..100 {
        let mails = app.mails_to(email);
        if mails.len() >= n {
            return mails[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("expected {n} mails to {email}, have {}", app.mails_to(email).len());
}

/// Ask for a reset over HTTP and return the token of the link in the `n`th mail to `email`.
async fn forgot(app: &TestApp, email: &str, n: usize) -> String {
    app.post(FORGOT, json!({"email": email})).await.expect(200);
    link_token(&nth_mail(app, email, n).await, "reset-password")
}

async fn outbox_count(app: &TestApp, email: &str) -> i64 {
    app.settle_mail_requests().await;
    sqlx::query_scalar("select count(*) from mail_outbox where recipient = $1")
        .bind(email)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

async fn login_status(app: &TestApp, email: &str, password: &str) -> u16 {
    app.post(LOGIN, json!({"email": email, "password": password})).await.status.as_u16()
}

#[tokio::test]
async fn forgot_password_is_always_200_and_mails_only_known_accounts() {
    let app = TestApp::spawn().await;
    app.verified_user("known@example.com").await;
    let unknown = app.post(FORGOT, json!({"email": "ghost@example.com"})).await;
    unknown.expect(200);
    let known = app.post(FORGOT, json!({"email": "Known@Example.com"})).await;
    known.expect(200);
    // Identical answers: no account enumeration.
    assert_eq!(unknown.body, known.body);
    assert!(known.data().is_null());

    let mail = nth_mail(&app, "known@example.com", 2).await;
    let token = link_token(&mail, "reset-password");
    assert_eq!(token.len(), 64, "{mail}");
    assert!(mail.contains("http://127.0.0.1:8080/reset-password?token="), "{mail}");
    assert_eq!(outbox_count(&app, "ghost@example.com").await, 0);
    assert!(app.mails_to("ghost@example.com").is_empty());
    // Only the hash of the token is stored.
    let (plain, hashed): (i64, i64) = sqlx::query_as(
        "select count(*) filter (where encode(token_hash, 'hex') = $1), \
                count(*) filter (where purpose = 'reset_password' and used_at is null) from email_token",
    )
    .bind(&token)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(plain, 0);
    assert_eq!(hashed, 1);
}

#[tokio::test]
async fn weak_password_is_refused_and_does_not_consume_the_token() {
    let app = TestApp::spawn().await;
    app.verified_user("weak@example.com").await;
    let token = forgot(&app, "weak@example.com", 2).await;
    for weak in ["short-A1", "alllowercase-123", "NoSpecial1234abc"] {
        let r = app.post(RESET, json!({"token": token, "password": weak})).await;
        r.expect(422);
        assert_eq!(r.code(), "validation_failed");
        assert_eq!(r.body["details"]["fields"][0]["path"], "password", "{}", r.text);
    }
    assert_eq!(login_status(&app, "weak@example.com", PASSWORD).await, 200, "password unchanged");
    app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await.expect(200);
    assert_eq!(login_status(&app, "weak@example.com", NEW_PASSWORD).await, 200);
}

#[tokio::test]
async fn common_password_is_refused_at_reset_and_the_token_still_works() {
    let app = TestApp::spawn().await;
    app.verified_user("common@example.com").await;
    let token = forgot(&app, "common@example.com", 2).await;
    for common in ["Qwerty123456", "q1w2e3r4t5y6"] {
        let r = app.post(RESET, json!({"token": token, "password": common})).await;
        r.expect(422);
        let fields = r.body["details"]["fields"].as_array().expect("fields");
        assert!(
            fields.iter().any(|f| f["path"] == "password" && f["message"].as_str().unwrap().contains("most common")),
            "{common}: {}",
            r.text
        );
    }
    assert_eq!(login_status(&app, "common@example.com", PASSWORD).await, 200, "password unchanged");
    app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await.expect(200);
    assert_eq!(login_status(&app, "common@example.com", NEW_PASSWORD).await, 200);
}

#[tokio::test]
async fn reset_sets_the_password_signs_out_everywhere_and_mails_the_user() {
    let app = TestApp::spawn().await;
    let first = app.verified_user("reset@example.com").await;
    let second = app.login("reset@example.com", PASSWORD).await;
    app.get(ME, Some(&first.token)).await.expect(200);
    app.get(ME, Some(&second.token)).await.expect(200);
    let token = forgot(&app, "reset@example.com", 2).await;

    let r = app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await;
    r.expect(200);
    assert!(r.data().is_null(), "reset must not sign in: {}", r.text);
    assert!(!r.text.contains("refreshToken") && !r.text.contains("eyJ"), "{}", r.text);

    // Every JWT issued before the reset is refused.
    for s in [&first, &second] {
        let me = app.get(ME, Some(&s.token)).await;
        me.expect(401);
        assert_eq!(me.code(), "token_revoked", "{}", me.text);
        let rr = app.request(Method::POST, REFRESH, Some(&s.refresh), Some(json!({"refreshToken": s.refresh}))).await;
        rr.expect(401);
    }
    let revoked: i64 = sqlx::query_scalar("select count(*) from refresh_token where revoked_at is null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(revoked, 0, "every refresh token is revoked");

    assert_eq!(login_status(&app, "reset@example.com", PASSWORD).await, 401, "old password");
    let fresh = app.login("reset@example.com", NEW_PASSWORD).await;
    app.get(ME, Some(&fresh.token)).await.expect(200);

    let mail = nth_mail(&app, "reset@example.com", 3).await;
    assert!(mail.contains("password") && mail.contains("changed"), "{mail}");
    assert!(mail.contains("Your Hoody password was changed"), "{mail}");
    assert!(!mail.contains(NEW_PASSWORD));
}

#[tokio::test]
async fn reset_token_works_once() {
    let app = TestApp::spawn().await;
    app.verified_user("twice@example.com").await;
    let token = forgot(&app, "twice@example.com", 2).await;
    app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await.expect(200);
    let r = app.post(RESET, json!({"token": token, "password": "Another-Strong-Pw-7"})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    assert_eq!(login_status(&app, "twice@example.com", "Another-Strong-Pw-7").await, 401);
    assert_eq!(login_status(&app, "twice@example.com", NEW_PASSWORD).await, 200);
    assert_eq!(outbox_count(&app, "twice@example.com").await, 3, "one password-changed mail only");
}

#[tokio::test]
async fn expired_and_unknown_reset_tokens_are_refused() {
    let app = TestApp::spawn().await;
    app.verified_user("expired@example.com").await;
    let token = forgot(&app, "expired@example.com", 2).await;
    sqlx::query("update email_token set expires_at = now() - interval '1 minute' where purpose = 'reset_password'")
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    for bad in ["0".repeat(64), "abc".into(), "".into(), "f".repeat(300)] {
        let r = app.post(RESET, json!({"token": bad, "password": NEW_PASSWORD})).await;
        r.expect(400);
        assert_eq!(r.code(), "invalid_token", "{bad}: {}", r.text);
    }
    assert_eq!(login_status(&app, "expired@example.com", PASSWORD).await, 200, "password unchanged");
    assert_eq!(outbox_count(&app, "expired@example.com").await, 2, "no password-changed mail");
}

#[tokio::test]
async fn a_newer_reset_request_cancels_the_older_link() {
    let app = TestApp::spawn().await;
    app.verified_user("newer@example.com").await;
    let old = forgot(&app, "newer@example.com", 2).await;
    let new = forgot(&app, "newer@example.com", 3).await;
    assert_ne!(old, new);
    let r = app.post(RESET, json!({"token": old, "password": NEW_PASSWORD})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_token");
    assert_eq!(login_status(&app, "newer@example.com", PASSWORD).await, 200);
    app.post(RESET, json!({"token": new, "password": NEW_PASSWORD})).await.expect(200);
    assert_eq!(login_status(&app, "newer@example.com", NEW_PASSWORD).await, 200);
}

#[tokio::test]
async fn concurrent_resets_with_one_token_give_exactly_one_success() {
    let app = TestApp::spawn().await;
    app.verified_user("race@example.com").await;
    let token = forgot(&app, "race@example.com", 2).await;
    let passwords: Vec<String> = (0..10).map(|i| format!("Racing-Password-{i}!")).collect();
    let results = join_all(passwords.iter().map(|pw| app.post(RESET, json!({"token": token, "password": pw})))).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.status == 200).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in results.iter().filter(|r| r.status != 200) {
        r.expect(400);
        assert_eq!(r.code(), "invalid_token");
    }
    // The stored password is the winner's.
    assert_eq!(login_status(&app, "race@example.com", &passwords[winners[0]]).await, 200);
    let loser = (winners[0] + 1) % passwords.len();
    assert_eq!(login_status(&app, "race@example.com", &passwords[loser]).await, 401);
    assert_eq!(outbox_count(&app, "race@example.com").await, 3, "one password-changed mail");
}

#[tokio::test]
async fn reset_and_forgot_reject_malformed_bodies() {
    let app = TestApp::spawn().await;
    let r = app.post(RESET, json!({"password": NEW_PASSWORD})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "token", "{}", r.text);
    let r = app.post(RESET, json!({"token": "abc"})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "password", "{}", r.text);
    app.post(RESET, json!({"token": 1, "password": NEW_PASSWORD})).await.expect(400);
    let r = app.post(RESET, json!({"token": "abc", "password": NEW_PASSWORD, "user_id": "x"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "user_id");
    app.post_raw(RESET, "text/plain", b"{}".to_vec()).await.expect(415);
    app.post(FORGOT, json!({})).await.expect(400);
    app.post(FORGOT, json!({"email": ["a@example.com"]})).await.expect(400);
    app.post(FORGOT, json!({"email": "a@example.com", "x": 1})).await.expect(422);
    app.post_raw(FORGOT, "application/json", b"{".to_vec()).await.expect(400);
    let mails: i64 = sqlx::query_scalar("select count(*) from mail_outbox").fetch_one(&app.db).await.unwrap();
    assert_eq!(mails, 0);
}

#[tokio::test]
async fn a_reset_proves_the_mailbox_of_an_unverified_account() {
    let app = TestApp::spawn().await;
    app.signup("unverified@example.com", PASSWORD).await;
    assert_eq!(login_status(&app, "unverified@example.com", PASSWORD).await, 412);
    // Mail #1 is the verification, #2 the reset link.
    let token = forgot(&app, "unverified@example.com", 2).await;
    app.post(RESET, json!({"token": token, "password": NEW_PASSWORD})).await.expect(200);
    assert_eq!(login_status(&app, "unverified@example.com", NEW_PASSWORD).await, 200);
}
