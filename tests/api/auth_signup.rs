use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

const SIGNUP: &str = "/api/v1/auth/signup";

#[tokio::test]
async fn signup_creates_unverified_user_and_sends_link() {
    let app = TestApp::spawn().await;
    let r = app.post(SIGNUP, json!({"email": "Alice@Example.COM", "password": PASSWORD})).await;
    r.expect(200);
    assert_eq!(r.data()["email"], "alice@example.com");
    let (username, verified, hash): (String, bool, String) = sqlx::query_as(
        "select username, email_verified, password_hash from app_user where email = 'alice@example.com'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(!verified);
    assert!(username.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'), "{username}");
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let mails = app.wait_mails(1).await;
    assert!(mails[0].contains("To: alice@example.com"));
    let token = crate::harness::link_token(&mails[0], "verify-email");
    assert_eq!(token.len(), 64);
    // Only the hash is stored.
    let plain: i64 = sqlx::query_scalar("select count(*) from email_token where encode(token_hash, 'hex') = $1")
        .bind(&token)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(plain, 0);
    assert!(!r.text.contains("argon2"));
}

#[tokio::test]
async fn signup_rejects_weak_passwords_with_field_details() {
    let app = TestApp::spawn().await;
    for (pw, needle) in [
        ("Short-1a", "at least 12"),
        ("alllowercase-123", "uppercase"),
        ("ALLUPPERCASE-123", "lowercase"),
        ("NoDigitsHere-abc", "number"),
        ("NoSpecial1234abc", "special"),
    ] {
        let r = app.post(SIGNUP, json!({"email": "bob@example.com", "password": pw})).await;
        r.expect(422);
        let fields = r.body["details"]["fields"].as_array().expect("fields");
        assert!(
            fields.iter().any(|f| f["path"] == "password" && f["message"].as_str().unwrap().contains(needle)),
            "{pw}: {}",
            r.text
        );
    }
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
}

/// Whether a 422 names the `password` field with the common-password rule.
fn refused_as_common(r: &crate::harness::Resp) -> bool {
    r.body["details"]["fields"].as_array().is_some_and(|fields| {
        fields.iter().any(|f| f["path"] == "password" && f["message"].as_str().unwrap_or("").contains("most common"))
    })
}

#[tokio::test]
async fn signup_refuses_common_passwords_case_insensitively() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 10).await;
    // Entries of the bundled list (`qwerty123456`, `1qaz2wsx3edc`) and case variants of them.
    for pw in ["qwerty123456", "Qwerty123456", "1QAZ2WSX3EDC", "1qaz2wsx3edc"] {
        let r = app.post(SIGNUP, json!({"email": "common@example.com", "password": pw})).await;
        r.expect(422);
        assert!(refused_as_common(&r), "{pw}: {}", r.text);
    }
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
    let r = app.post(SIGNUP, json!({"email": "common@example.com", "password": PASSWORD})).await;
    r.expect(200);
    assert!(!refused_as_common(&r));
}

#[tokio::test]
async fn signup_accepts_long_and_non_ascii_passwords_and_caps_bytes() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 10).await;
    let long128 = format!("Aa1!{}", "x".repeat(124));
    app.post(SIGNUP, json!({"email": "long@example.com", "password": long128})).await.expect(200);
    app.post(SIGNUP, json!({"email": "uni@example.com", "password": "Пароль-Надёжный-7"})).await.expect(200);
    let huge = format!("Aa1!{}", "x".repeat(1100));
    let r = app.post(SIGNUP, json!({"email": "huge@example.com", "password": huge})).await;
    r.expect(422);
    assert!(r.text.contains("1024 bytes"));
}

#[tokio::test]
async fn signup_bad_input_is_4xx_envelope() {
    let app = TestApp::spawn().await;
    app.post_raw(SIGNUP, "application/json", b"{not json".to_vec()).await.expect(400);
    let r = app.post(SIGNUP, json!({"email": "x@example.com"})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "password");
    app.post(SIGNUP, json!({"email": 12, "password": PASSWORD})).await.expect(400);
    app.post(SIGNUP, json!([1, 2, 3])).await.expect(400);
    let r = app.post(SIGNUP, json!({"email": "x@example.com", "password": PASSWORD, "is_admin": true})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "is_admin");
    let r = app.post(SIGNUP, json!({"email": "not-an-email", "password": PASSWORD})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "email");
    let r = app.post(SIGNUP, json!({"email": "r@example.com", "password": PASSWORD, "region": "nowhere"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "region");
    app.post_raw(SIGNUP, "text/plain", br#"{"email":"a@b.co","password":"x"}"#.to_vec()).await.expect(415);
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0, "no bad request may create a user");
}

#[tokio::test]
async fn signup_with_known_region_is_kept() {
    let app = TestApp::spawn().await;
    sqlx::query("insert into server (server_id, name, region, country, city) values ('aaaaaaaaaaaaaaaaaaaaaaaa', 'fra-1', 'eu-central', 'DE', 'Frankfurt')")
        .execute(&app.db)
        .await
        .unwrap();
    app.post(SIGNUP, json!({"email": "r@example.com", "password": PASSWORD, "region": "eu-central"})).await.expect(200);
    let region: Option<String> = sqlx::query_scalar("select region from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(region.as_deref(), Some("eu-central"));
}

#[tokio::test]
async fn duplicate_signup_of_unverified_user_resets_password_and_only_newest_link_works() {
    let app = TestApp::spawn().await;
    let first = app.signup("victim@example.com", PASSWORD).await;
    let attacker_pw = "Attacker-Chosen-Pw-1";
    let second = app.signup("victim@example.com", attacker_pw).await;
    assert_ne!(first, second);
    let mails = app.mails_to("victim@example.com");
    assert_eq!(mails.len(), 2);
    assert!(!mails[0].contains("signed up again"));
    assert!(mails[1].contains("signed up again") && mails[1].contains("password"), "{}", mails[1]);
    // The older link is dead; the newest one works.
    let r = app.post("/api/v1/auth/verify-email", json!({"token": first})).await;
    r.expect(400);
    app.post("/api/v1/auth/verify-email", json!({"token": second})).await.expect(200);
    // The password is the one from the latest signup.
    app.post("/api/v1/users/auth/login", json!({"email": "victim@example.com", "password": PASSWORD}))
        .await
        .expect(401);
    app.post("/api/v1/users/auth/login", json!({"email": "victim@example.com", "password": attacker_pw}))
        .await
        .expect(200);
}

#[tokio::test]
async fn duplicate_signup_of_verified_user_changes_nothing() {
    let app = TestApp::spawn().await;
    app.verified_user("done@example.com").await;
    let hash_before: String =
        sqlx::query_scalar("select password_hash from app_user").fetch_one(&app.db).await.unwrap();
    let r = app.post(SIGNUP, json!({"email": "done@example.com", "password": "Another-Password-2"})).await;
    r.expect(200);
    assert_eq!(r.data()["email"], "done@example.com");
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.mails_to("done@example.com").len(), 1, "no mail for a verified account");
    let hash_after: String = sqlx::query_scalar("select password_hash from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(hash_before, hash_after);
}

#[tokio::test]
async fn signup_is_limited_per_ip_with_retry_after() {
    let app = TestApp::spawn().await;
    for i in 0..5 {
        app.post(SIGNUP, json!({"email": format!("u{i}@example.com"), "password": PASSWORD})).await.expect(200);
    }
    let r = app.post(SIGNUP, json!({"email": "u6@example.com", "password": PASSWORD})).await;
    r.expect(429);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry > 0 && retry <= 3600);
    assert_eq!(r.body["retry_after"], serde_json::json!(retry));
}

#[tokio::test]
async fn signup_limiter_fails_closed_when_its_table_is_unavailable() {
    let app = TestApp::spawn().await;
    sqlx::query("alter table rate_limit rename to rate_limit_away").execute(&app.db).await.unwrap();
    let r = app.post(SIGNUP, json!({"email": "c@example.com", "password": PASSWORD})).await;
    r.expect(503);
    assert!(r.headers.contains_key("retry-after"));
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
}
