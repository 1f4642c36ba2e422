//! Intent mode with PKCE: sign-ins answered with a single-use auth_intent_token, redeemed with
//! the code_verifier; and the cancel of a pending intent or 2FA step.

use futures::future::join_all;
use hoody_api::auth::pkce::challenge_of;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

const LOGIN: &str = "/api/v1/users/auth/login";
const EXCHANGE: &str = "/api/v1/auth/intent/exchange";
const CANCEL: &str = "/api/v1/auth/intent/cancel";
const VERIFIER: &str = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFG";

async fn intent_login(app: &TestApp, email: &str) -> String {
    let r = app
        .post(LOGIN, json!({"email": email, "password": PASSWORD, "response_mode": "intent", "code_challenge": challenge_of(VERIFIER)}))
        .await;
    r.expect(200);
    assert!(r.data().get("token").is_none() && r.data().get("refreshToken").is_none(), "{}", r.text);
    assert_eq!(r.data()["expires_in"], 600);
    let t = r.data()["auth_intent_token"].as_str().unwrap().to_owned();
    assert_eq!(t.len(), 64);
    t
}

#[tokio::test]
async fn login_in_intent_mode_is_redeemed_once_with_the_verifier() {
    let app = TestApp::spawn().await;
    app.seed_user("ida@example.com", "ida", PASSWORD).await;
    // A wrong verifier is refused and spends the intent.
    let t = intent_login(&app, "ida@example.com").await;
    let r = app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": format!("{VERIFIER}x")})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_code_verifier");
    app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await.expect(400);

    let t = intent_login(&app, "ida@example.com").await;
    let r = app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["email"], "ida@example.com");
    app.get("/api/v1/users/auth/me", r.data()["token"].as_str()).await.expect(200);
    let again = app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await;
    again.expect(400);
    assert_eq!(again.code(), "invalid_auth_intent");
}

#[tokio::test]
async fn ten_concurrent_exchanges_give_one_session() {
    let app = TestApp::spawn().await;
    app.seed_user("jon@example.com", "jon", PASSWORD).await;
    let t = intent_login(&app, "jon@example.com").await;
    let results =
        join_all((0..10).map(|_| app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})))).await;
    assert_eq!(results.iter().filter(|r| r.status == StatusCode::OK).count(), 1);
    let sessions: i64 = sqlx::query_scalar("select count(*) from refresh_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(sessions, 1);
}

#[tokio::test]
async fn intent_mode_needs_an_s256_challenge_and_expires() {
    let app = TestApp::spawn().await;
    app.seed_user("kai@example.com", "kai", PASSWORD).await;
    for challenge in [None, Some("short".to_owned()), Some(VERIFIER.to_owned()), Some("a".repeat(129))] {
        let mut body = json!({"email": "kai@example.com", "password": PASSWORD, "response_mode": "intent"});
        if let Some(c) = challenge {
            body["code_challenge"] = json!(c);
        }
        let r = app.post(LOGIN, body).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "code_challenge");
    }
    let t = intent_login(&app, "kai@example.com").await;
    sqlx::query("update auth_intent set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await.expect(400);
    app.post(EXCHANGE, json!({"auth_intent_token": t})).await.expect(400);
    app.post(EXCHANGE, json!({"auth_intent_token": "", "code_verifier": VERIFIER})).await.expect(400);
}

#[tokio::test]
async fn verify_email_in_intent_mode() {
    let app = TestApp::spawn().await;
    let token = app.signup("lou@example.com", PASSWORD).await;
    let r = app
        .post(
            "/api/v1/auth/verify-email",
            json!({"token": token, "response_mode": "intent", "code_challenge": challenge_of(VERIFIER)}),
        )
        .await;
    r.expect(200);
    let t = r.data()["auth_intent_token"].as_str().unwrap();
    app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await.expect(200);
}

#[tokio::test]
async fn a_2fa_login_in_intent_mode_ends_in_intent_mode() {
    let app = TestApp::spawn().await;
    let mut e = crate::tfa::enrolled(&app, "mia@example.com").await;
    let r = app
        .post(LOGIN, json!({"email": "mia@example.com", "password": PASSWORD, "response_mode": "intent", "code_challenge": challenge_of(VERIFIER)}))
        .await;
    r.expect(200);
    assert_eq!(r.data()["requires_2fa"], true);
    let temp = r.data()["temp_token"].as_str().unwrap();
    let v = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": e.auth.next().await})).await;
    v.expect(200);
    assert!(v.data().get("token").is_none(), "{}", v.text);
    let t = v.data()["auth_intent_token"].as_str().unwrap();
    app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await.expect(200);
    // Intent mode asked for at the second step without a challenge at login: refused.
    let temp = crate::tfa::challenge(&app, "mia@example.com").await;
    let r = app
        .post(
            "/api/v1/users/auth/2fa/verify",
            json!({"temp_token": temp, "code": e.auth.next().await, "response_mode": "intent"}),
        )
        .await;
    r.expect(422);
}

#[tokio::test]
async fn cancel_ends_a_pending_intent_or_2fa_step() {
    let app = TestApp::spawn().await;
    app.seed_user("ned@example.com", "ned", PASSWORD).await;
    let t = intent_login(&app, "ned@example.com").await;
    let r = app.request(Method::POST, CANCEL, Some(&t), None).await;
    r.expect(200);
    assert_eq!(r.data()["cancelled"], true);
    app.post(EXCHANGE, json!({"auth_intent_token": t, "code_verifier": VERIFIER})).await.expect(400);
    let r = app.request(Method::POST, CANCEL, Some(&t), None).await;
    assert_eq!(r.data()["cancelled"], false);
    app.request(Method::POST, CANCEL, None, None).await.expect(401);

    let mut e = crate::tfa::enrolled(&app, "ola@example.com").await;
    let temp = crate::tfa::challenge(&app, "ola@example.com").await;
    assert_eq!(app.request(Method::POST, CANCEL, Some(&temp), None).await.data()["cancelled"], true);
    app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": e.auth.next().await}))
        .await
        .expect(401);
}
