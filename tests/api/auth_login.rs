use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

const LOGIN: &str = "/api/v1/users/auth/login";

#[tokio::test]
async fn login_by_email_any_case_and_by_exact_username() {
    let app = TestApp::spawn().await;
    app.seed_user("carol@example.com", "Carol_1", PASSWORD).await;
    let r = app.post(LOGIN, json!({"email": "CAROL@example.com", "password": PASSWORD})).await;
    r.expect(200);
    let d = r.data();
    assert!(d["token"].as_str().unwrap().split('.').count() == 3);
    assert!(d["refreshToken"].is_string());
    assert!((86_390..=86_400).contains(&d["expires_in"].as_i64().unwrap()));
    assert!((604_790..=604_800).contains(&d["refresh_expires_in"].as_i64().unwrap()));
    assert!(d["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(d["user"]["email"], "carol@example.com");
    assert_eq!(d["user"]["username"], "Carol_1");
    assert_eq!(d["client_ip"], "127.0.0.1");
    assert_eq!(d["recent_login_ips"][0]["ip"], "127.0.0.1");
    assert!(d["server"].is_null() && d["project"].is_null() && d["container"].is_null());
    assert!(!r.text.contains("password_hash") && !r.text.contains("argon2"));

    app.post(LOGIN, json!({"username": "Carol_1", "password": PASSWORD})).await.expect(200);
    let r = app.post(LOGIN, json!({"username": "carol_1", "password": PASSWORD})).await;
    r.expect(401);
    assert_eq!(r.code(), "invalid_credentials");
}

/// The CLI's `hoody login -u ada@example.com` sends the address in `username`.
#[tokio::test]
async fn an_address_in_username_is_looked_up_as_an_email() {
    let app = TestApp::spawn().await;
    app.seed_user("ada@example.com", "ada_l", PASSWORD).await;
    let r = app.post(LOGIN, json!({"username": "ada@example.com", "password": PASSWORD, "client": "cli"})).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["username"], "ada_l");
    assert!(r.data()["token"].is_string() && r.data()["refreshToken"].is_string());
    // Case-insensitive like `email`, surrounding blanks ignored; the password still matters.
    app.post(LOGIN, json!({"username": " Ada@Example.COM ", "password": PASSWORD})).await.expect(200);
    let r = app.post(LOGIN, json!({"username": "ada@example.com", "password": "Wrong-Password-1"})).await;
    r.expect(401);
    assert_eq!(r.code(), "invalid_credentials");
    app.post(LOGIN, json!({"username": "nobody@example.com", "password": PASSWORD})).await.expect(401);
    // A username (no `@`) stays case-sensitive.
    app.post(LOGIN, json!({"username": "ada_l", "password": PASSWORD})).await.expect(200);
    app.post(LOGIN, json!({"username": "Ada_L", "password": PASSWORD})).await.expect(401);
}

#[tokio::test]
async fn login_needs_an_identifier_and_a_password() {
    let app = TestApp::spawn().await;
    for body in [
        json!({"password": PASSWORD}),
        json!({"email": "a@example.com"}),
        json!({}),
        json!({"username": "", "password": PASSWORD}),
    ] {
        let r = app.post(LOGIN, body).await;
        r.expect(400);
        assert_eq!(r.body["message"], "Username or email, and password are required");
    }
    app.post(LOGIN, json!({"email": "a@example.com", "password": 5})).await.expect(400);
    app.post(LOGIN, json!({"email": "a@example.com", "password": PASSWORD, "admin": true})).await.expect(422);
    app.post(LOGIN, json!({"email": "a@example.com", "password": PASSWORD, "response_mode": "bogus"}))
        .await
        .expect(400);
    let r = app.post(LOGIN, json!({"email": "a@example.com", "password": "x".repeat(1025)})).await;
    r.expect(422);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_look_the_same() {
    let app = TestApp::spawn().await;
    app.seed_user("dave@example.com", "dave", PASSWORD).await;
    let wrong = app.post(LOGIN, json!({"email": "dave@example.com", "password": "Wrong-Password-1"})).await;
    let unknown = app.post(LOGIN, json!({"email": "nobody@example.com", "password": "Wrong-Password-1"})).await;
    wrong.expect(401);
    unknown.expect(401);
    let strip = |v: &serde_json::Value| {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    assert_eq!(strip(&wrong.body), strip(&unknown.body));
    let names = |h: &reqwest::header::HeaderMap| {
        let mut n: Vec<String> = h.keys().map(|k| k.to_string()).collect();
        n.sort();
        n
    };
    assert_eq!(names(&wrong.headers), names(&unknown.headers));
}

#[tokio::test]
async fn unverified_and_banned_accounts_are_refused_after_the_password_check() {
    let app = TestApp::spawn().await;
    app.signup("new@example.com", PASSWORD).await;
    let r = app.post(LOGIN, json!({"email": "new@example.com", "password": PASSWORD})).await;
    r.expect(412);
    assert_eq!(r.code(), "email_not_verified");
    let r = app.post(LOGIN, json!({"email": "new@example.com", "password": "Wrong-Password-1"})).await;
    r.expect(401);

    app.seed_user("banned@example.com", "banned", PASSWORD).await;
    sqlx::query("update app_user set is_banned = true where email = 'banned@example.com'")
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.post(LOGIN, json!({"email": "banned@example.com", "password": PASSWORD})).await;
    r.expect(403);
    assert_eq!(r.code(), "account_banned");
}

#[tokio::test]
async fn an_old_hash_is_upgraded_on_login() {
    use argon2::{
        password_hash::{rand_core::OsRng, PasswordHasher, SaltString},
        Algorithm, Argon2, Params, Version,
    };
    let app = TestApp::spawn().await;
    let id = app.seed_user("old@example.com", "old", PASSWORD).await;
    let old = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(7168, 5, 1, None).unwrap())
        .hash_password(PASSWORD.as_bytes(), &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
    assert!(old.contains("m=7168,t=5"));
    sqlx::query("update app_user set password_hash = $1 where user_id = $2")
        .bind(&old)
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    app.login("old@example.com", PASSWORD).await;
    let now: String = sqlx::query_scalar("select password_hash from app_user where user_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{now}");
    app.login("old@example.com", PASSWORD).await;
}

#[tokio::test]
async fn failures_are_limited_per_account_and_successes_do_not_count() {
    let app = TestApp::spawn_with(|c| c.limits.login_failures_per_account = 3).await;
    app.seed_user("erin@example.com", "erin", PASSWORD).await;
    for _ in 0..5 {
        app.login("erin@example.com", PASSWORD).await;
    }
    for _ in 0..3 {
        app.post(LOGIN, json!({"email": "erin@example.com", "password": "Wrong-Password-1"})).await.expect(401);
    }
    let r = app.post(LOGIN, json!({"email": "erin@example.com", "password": PASSWORD})).await;
    r.expect(429);
    assert!(r.headers.contains_key("retry-after"));
    // The username is the same account.
    app.post(LOGIN, json!({"username": "erin", "password": PASSWORD})).await.expect(429);
}

#[tokio::test]
async fn parallel_guesses_never_exceed_the_account_limit() {
    let app = TestApp::spawn_with(|c| c.limits.login_failures_per_account = 5).await;
    app.seed_user("frank@example.com", "frank", PASSWORD).await;
    let guesses = (0..40)
        .map(|i| app.post(LOGIN, json!({"email": "frank@example.com", "password": format!("Guess-Number-{i}")})));
    let results = join_all(guesses).await;
    let unauthorized = results.iter().filter(|r| r.status == StatusCode::UNAUTHORIZED).count();
    let limited = results.iter().filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS).count();
    assert_eq!(unauthorized, 5, "only the allowed number of guesses reach the hash");
    assert_eq!(limited, 35);
}

#[tokio::test]
async fn forwarded_for_from_an_untrusted_peer_does_not_reset_the_ip_limit() {
    let app = TestApp::spawn_with(|c| c.limits.login_failures_per_ip = 3).await;
    for i in 0..6 {
        let res = app
            .client
            .post(format!("{}{LOGIN}", app.base))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&json!({"email": format!("nobody{i}@example.com"), "password": "Wrong-Password-1"}))
            .send()
            .await
            .unwrap();
        let expected = if i < 3 { 401 } else { 429 };
        assert_eq!(res.status().as_u16(), expected, "attempt {i}");
    }
}
