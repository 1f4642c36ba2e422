//! PKCE authorization codes for first-party apps: `POST /auth/authorize` (a session asks for a
//! code bound to an allow-listed redirect_uri and an S256 challenge) and `POST /auth/exchange`
//! (one use, 60 seconds, the verifier and the same redirect_uri).

use futures::future::join_all;
use hoody_api::auth::pkce::challenge_of;
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

const AUTHORIZE: &str = "/api/v1/auth/authorize";
const EXCHANGE: &str = "/api/v1/auth/exchange";
const APP: &str = "https://desktop.hoody.test/callback";
const VERIFIER: &str = "first-party-verifier-0123456789-abcdefghijklmnopq";

async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.oauth_redirects = vec![APP.into()]).await
}

async fn code(app: &TestApp, token: &str) -> String {
    let r = app
        .post_auth(AUTHORIZE, token, Some(json!({"code_challenge": challenge_of(VERIFIER), "redirect_uri": APP})))
        .await;
    r.expect(200);
    assert_eq!(r.data()["redirect_uri"], APP);
    assert_eq!(r.data()["expires_in"], 60);
    r.data()["code"].as_str().unwrap().to_owned()
}

async fn exchange(app: &TestApp, body: Value) -> Resp {
    app.post(EXCHANGE, body).await
}

async fn codes(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from auth_code").fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn a_session_hands_another_app_its_own_session_once() {
    let app = app().await;
    let s = app.verified_user("desk@example.com").await;
    let c = code(&app, &s.token).await;
    let stored: i64 =
        sqlx::query_scalar("select count(*) from auth_code where code_hash = sha256(convert_to($1, 'UTF8'))")
            .bind(&c)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, 1, "stored as its hash");
    let r = exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], s.user_id.as_str());
    let token = r.data()["token"].as_str().unwrap().to_owned();
    assert_ne!(token, s.token);
    app.get("/api/v1/users/auth/me", Some(&token)).await.expect(200);
    assert!(r.data()["refreshToken"].is_string() && r.data()["identity_claim"].is_object());
    // One use.
    let r = exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_grant");

    // Ten at once: one session.
    let c = code(&app, &s.token).await;
    let body = json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP});
    let results = join_all((0..10).map(|_| exchange(&app, body.clone()))).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    assert_eq!(results.iter().filter(|r| r.status == 400).count(), 9);
}

#[tokio::test]
async fn a_wrong_verifier_or_redirect_spends_the_code_and_expiry_and_logout_void_it() {
    let app = app().await;
    let s = app.verified_user("spent@example.com").await;
    let c = code(&app, &s.token).await;
    let r = exchange(&app, json!({"code": c, "code_verifier": "x".repeat(43), "redirect_uri": APP})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_code_verifier");
    exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await.expect(400);

    let c = code(&app, &s.token).await;
    let r = exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": "https://evil.test/cb"})).await;
    r.expect(400);
    assert_eq!(r.code(), "redirect_uri_mismatch");
    exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await.expect(400);

    // 60 seconds.
    let c = code(&app, &s.token).await;
    let ttl: f64 = sqlx::query_scalar(
        "select extract(epoch from expires_at - created_at)::float8 from auth_code order by created_at desc limit 1",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!((59.0..=61.0).contains(&ttl), "{ttl}");
    sqlx::query("update auth_code set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await.expect(400);

    // The session that made it signs out everywhere: the code is void.
    let c = code(&app, &s.token).await;
    app.post_auth("/api/v1/users/auth/logout", &s.token, None).await.expect(200);
    let r = exchange(&app, json!({"code": c, "code_verifier": VERIFIER, "redirect_uri": APP})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_grant");
}

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    let app = app().await;
    let s = app.verified_user("bad-code@example.com").await;
    for (body, fields) in [
        (json!({"code_challenge": "plain", "redirect_uri": APP}), vec!["code_challenge"]),
        (
            json!({"code_challenge": challenge_of(VERIFIER), "redirect_uri": "https://evil.test/cb"}),
            vec!["redirect_uri"],
        ),
        (json!({"code_challenge": challenge_of(VERIFIER), "redirect_uri": format!("{APP}/")}), vec!["redirect_uri"]),
        (json!({"code_challenge": "x", "redirect_uri": "x"}), vec!["code_challenge", "redirect_uri"]),
    ] {
        let r = app.post_auth(AUTHORIZE, &s.token, Some(body)).await;
        r.expect(422);
        let got: Vec<&str> =
            r.body["details"]["fields"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
        assert_eq!(got, fields);
    }
    let r = app.post_auth(AUTHORIZE, &s.token, Some(json!({"redirect_uri": APP}))).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "code_challenge");
    assert_eq!(codes(&app).await, 0);
    let r = exchange(&app, json!({"code": "x", "redirect_uri": APP})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "code_verifier");
    exchange(&app, json!({"code": "", "code_verifier": VERIFIER, "redirect_uri": APP})).await.expect(400);
}

#[tokio::test]
async fn only_a_signed_in_session_may_ask_for_a_code() {
    let app = app().await;
    let s = app.verified_user("who@example.com").await;
    let body = json!({"code_challenge": challenge_of(VERIFIER), "redirect_uri": APP});
    let r = app.request(reqwest::Method::POST, AUTHORIZE, None, Some(body.clone())).await;
    r.expect(401);
    let (token, _) = app.new_token(&s.token, json!({"permission_template": "full_access"})).await;
    let r = app.post_auth(AUTHORIZE, &token, Some(body)).await;
    r.expect(403);
    assert_eq!(r.code(), "session_required");
    assert_eq!(codes(&app).await, 0);
}
