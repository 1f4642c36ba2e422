//! TOTP second factor: setup, confirmation, the login step, replay protection, backup codes.

use futures::future::join_all;
use hoody_api::auth::totp;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::harness::{Resp, Session, TestApp, PASSWORD};

const SETUP: &str = "/api/v1/users/auth/2fa/setup";
const VERIFY_SETUP: &str = "/api/v1/users/auth/2fa/verify-setup";
const STATUS: &str = "/api/v1/users/auth/2fa/status";
const VERIFY: &str = "/api/v1/users/auth/2fa/verify";
const DISABLE: &str = "/api/v1/users/auth/2fa";
const REGENERATE: &str = "/api/v1/users/auth/2fa/backup-codes/regenerate";
const GATE: &str = "/api/v1/users/auth/2fa/token-gate";
const LOGIN: &str = "/api/v1/users/auth/login";
const ME: &str = "/api/v1/users/auth/me";
const REFRESH: &str = "/api/v1/users/auth/refresh";
const TOKENS: &str = "/api/v1/auth/tokens";

/// Codes for strictly increasing steps inside the accepted window (t−1, t, t+1). The step before
/// the current one is only used while it has a few seconds of acceptance left, so a request that
/// crosses a step boundary on its way to the server is never handed an expired code; when no fresh
/// step is left, it waits for the next window.
pub struct Authenticator {
    secret: Vec<u8>,
    last: u64,
}

impl Authenticator {
    pub fn from_key(key: &str) -> Self {
        let secret = totp_rs::Secret::Encoded(key.to_owned()).to_bytes().unwrap();
        Self { secret, last: 0 }
    }
    pub async fn next(&mut self) -> String {
        const MARGIN_SECS: u64 = 5;
        loop {
            let secs = totp::now_secs();
            let now = secs / totp::STEP_SECS;
            let oldest = if secs % totp::STEP_SECS < totp::STEP_SECS - MARGIN_SECS { now - 1 } else { now };
            let step = (self.last + 1).max(oldest);
            if step <= now + 1 {
                self.last = step;
                return totp::code_at_step(&self.secret, step);
            }
            let wait = totp::STEP_SECS - secs % totp::STEP_SECS;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }
}

pub struct Enrolled {
    pub session: Session,
    pub auth: Authenticator,
    pub backup_codes: Vec<String>,
}

async fn setup(app: &TestApp, token: &str) -> Resp {
    app.request(Method::POST, SETUP, Some(token), Some(json!({"password": PASSWORD}))).await
}

/// A verified user with 2FA on; the session returned by verify-setup.
pub async fn enrolled(app: &TestApp, email: &str) -> Enrolled {
    let s = app.verified_user(email).await;
    let r = setup(app, &s.token).await;
    r.expect(200);
    let mut auth = Authenticator::from_key(r.data()["manual_entry_key"].as_str().unwrap());
    let backup_codes =
        r.data()["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    let v = app.request(Method::POST, VERIFY_SETUP, Some(&s.token), Some(json!({"code": auth.next().await}))).await;
    v.expect(200);
    let session = Session {
        token: v.data()["token"].as_str().unwrap().into(),
        refresh: v.data()["refreshToken"].as_str().unwrap().into(),
        user_id: s.user_id,
    };
    Enrolled { session, auth, backup_codes }
}

pub async fn challenge(app: &TestApp, email: &str) -> String {
    let r = app.post(LOGIN, json!({"email": email, "password": PASSWORD})).await;
    r.expect(200);
    assert_eq!(r.data()["requires_2fa"], true);
    assert_eq!(r.data()["method"], "totp");
    assert!(r.data().get("token").is_none() && r.data().get("refreshToken").is_none(), "{}", r.text);
    r.data()["temp_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn setup_needs_the_password_and_returns_a_scannable_code() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("tina@example.com").await;
    let wrong = app.request(Method::POST, SETUP, Some(&s.token), Some(json!({"password": "Not-The-Password-1"}))).await;
    wrong.expect(401);
    assert_eq!(wrong.code(), "invalid_password");
    app.request(Method::POST, SETUP, None, Some(json!({"password": PASSWORD}))).await.expect(401);
    app.request(Method::POST, SETUP, Some(&s.token), Some(json!({}))).await.expect(400);

    let r = setup(&app, &s.token).await;
    r.expect(200);
    let key = r.data()["manual_entry_key"].as_str().unwrap().to_owned();
    assert!(key.len() >= 32, "at least 160 bits: {key}");
    let codes: Vec<&str> = r.data()["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(codes.len(), 10);
    assert!(codes.iter().all(|c| c.len() == 10 && c.bytes().all(|b| b.is_ascii_alphanumeric())));

    // The QR code is a PNG that decodes back to the otpauth URI.
    let qr = r.data()["qr_code"].as_str().unwrap();
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        qr.strip_prefix("data:image/png;base64,").unwrap(),
    )
    .unwrap();
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    let (_, content) = grids[0].decode().unwrap();
    assert!(content.starts_with("otpauth://totp/Hoody:tina@example.com?"), "{content}");
    assert!(
        content.contains(&format!("secret={key}")) && content.contains("issuer=Hoody") && content.contains("period=30")
    );

    // At rest: no base32 secret, no plaintext backup code.
    let (sealed,): (Vec<u8>,) = sqlx::query_as("select secret_enc from user_totp").fetch_one(&app.db).await.unwrap();
    assert!(!String::from_utf8_lossy(&sealed).contains(&key));
    let raw = totp_rs::Secret::Encoded(key.clone()).to_bytes().unwrap();
    assert!(!sealed.windows(raw.len()).any(|w| w == raw.as_slice()));
    let hashes: Vec<String> = sqlx::query_scalar("select code_hash from backup_code").fetch_all(&app.db).await.unwrap();
    assert_eq!(hashes.len(), 10);
    assert!(hashes.iter().all(|h| h.starts_with("$argon2id$") && !codes.iter().any(|c| h.contains(c))));

    // Not on until confirmed.
    let st = app.get(STATUS, Some(&s.token)).await;
    st.expect(200);
    assert_eq!(st.data()["enabled"], false);
    app.post(LOGIN, json!({"email": "tina@example.com", "password": PASSWORD})).await.expect(200);
    assert!(
        app.post(LOGIN, json!({"email": "tina@example.com", "password": PASSWORD})).await.data()["token"].is_string()
    );
}

async fn refresh(app: &TestApp, refresh_token: &str) -> Resp {
    app.request(Method::POST, REFRESH, None, Some(json!({"refreshToken": refresh_token}))).await
}

/// Turning 2FA on keeps the session that did it signed in (the CLI ignores the new tokens and
/// goes on with its own) and signs out every other session.
#[tokio::test]
async fn confirming_turns_2fa_on_keeps_this_session_and_signs_out_the_others() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("uma@example.com").await;
    let other = app.login("uma@example.com", PASSWORD).await;
    let r = setup(&app, &s.token).await;
    let mut auth = Authenticator::from_key(r.data()["manual_entry_key"].as_str().unwrap());
    // A code that is not the app's (a six-digit guess is right once in a million).
    let wrong = app.request(Method::POST, VERIFY_SETUP, Some(&s.token), Some(json!({"code": "12345x"}))).await;
    wrong.expect(401);
    assert_eq!(wrong.code(), "invalid_code");
    let v = app.request(Method::POST, VERIFY_SETUP, Some(&s.token), Some(json!({"code": auth.next().await}))).await;
    v.expect(200);
    assert_eq!(v.data()["enabled"], true);
    assert_eq!(v.data()["sessions_revoked"], true);
    // The calling session: its current access token and refresh token keep working.
    app.get(ME, Some(&s.token)).await.expect(200);
    // Every other session: signed out, refresh included.
    let r = app.get(ME, Some(&other.token)).await;
    r.expect(401);
    assert_eq!(r.code(), "token_revoked");
    refresh(&app, &other.refresh).await.expect(401);
    let fresh = v.data()["token"].as_str().unwrap();
    app.get(ME, Some(fresh)).await.expect(200);
    let st = app.get(STATUS, Some(fresh)).await;
    assert_eq!(st.data()["enabled"], true);
    assert_eq!(st.data()["backup_codes_remaining"], 10);
    assert_eq!(st.data()["require_for_tokens"], true);
    assert!(st.data()["enabled_at"].as_str().unwrap().ends_with('Z'));
    let again = app.request(Method::POST, SETUP, Some(fresh), Some(json!({"password": PASSWORD}))).await;
    again.expect(409);
    let events: i64 = sqlx::query_scalar("select count(*) from security_event where kind = '2fa.enabled'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(events, 1);
    let r = refresh(&app, &s.refresh).await;
    r.expect(200);
    app.get(ME, r.data()["token"].as_str()).await.expect(200);
}

#[tokio::test]
async fn login_with_2fa_needs_the_second_step_and_codes_never_replay() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "vic@example.com").await;
    let temp = challenge(&app, "vic@example.com").await;
    // The temp_token is not an access token.
    app.get(ME, Some(&temp)).await.expect(401);
    let code = e.auth.next().await;
    let r = app.post(VERIFY, json!({"temp_token": temp, "code": code})).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "approved");
    app.get(ME, r.data()["token"].as_str()).await.expect(200);
    // The temp_token worked once; the code cannot be used again, even on a new challenge.
    app.post(VERIFY, json!({"temp_token": temp, "code": "000000"})).await.expect(401);
    let temp2 = challenge(&app, "vic@example.com").await;
    let replay = app.post(VERIFY, json!({"temp_token": temp2, "code": code})).await;
    replay.expect(401);
    assert_eq!(replay.code(), "invalid_code");
    // Bearer works as the temp_token carrier.
    let r = app.request(Method::POST, VERIFY, Some(&temp2), Some(json!({"code": e.auth.next().await}))).await;
    r.expect(200);
    let _ = e.session;
}

#[tokio::test]
async fn ten_concurrent_submissions_of_one_code_succeed_once() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "wes@example.com").await;
    let mut temps = Vec::new();
    for _ in 0..10 {
        temps.push(challenge(&app, "wes@example.com").await);
    }
    let code = e.auth.next().await;
    let results = join_all(temps.iter().map(|t| app.post(VERIFY, json!({"temp_token": t, "code": code})))).await;
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_temp_token_dies_after_five_wrong_codes_or_five_minutes() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "xia@example.com").await;
    let temp = challenge(&app, "xia@example.com").await;
    for _ in 0..5 {
        app.post(VERIFY, json!({"temp_token": temp, "code": "12345"})).await.expect(401);
    }
    let r = app.post(VERIFY, json!({"temp_token": temp, "code": e.auth.next().await})).await;
    r.expect(401);
    assert_eq!(r.code(), "invalid_temp_token");
    let temp = challenge(&app, "xia@example.com").await;
    sqlx::query("update login_challenge set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    app.post(VERIFY, json!({"temp_token": temp, "code": e.auth.next().await})).await.expect(401);
    app.post(VERIFY, json!({"code": "123456"})).await.expect(401);
    app.post(VERIFY, json!({"temp_token": temp})).await.expect(400);
}

#[tokio::test]
async fn backup_codes_work_once_even_concurrently() {
    let app = TestApp::spawn_with(|c| c.hash_threads = 2).await;
    let e = enrolled(&app, "yan@example.com").await;
    let mut temps = Vec::new();
    for _ in 0..10 {
        temps.push(challenge(&app, "yan@example.com").await);
    }
    let code = e.backup_codes[0].to_lowercase();
    let results = join_all(temps.iter().map(|t| app.post(VERIFY, json!({"temp_token": t, "code": code})))).await;
    let ok = results.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    let st = app.get(STATUS, Some(&e.session.token)).await;
    assert_eq!(st.data()["backup_codes_remaining"], 9);
    let used: i64 = sqlx::query_scalar("select count(*) from security_event where kind = '2fa.backup_code_used'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(used, 1);
}

#[tokio::test]
async fn regenerating_needs_a_totp_code_and_kills_the_old_codes() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "zed@example.com").await;
    let t = e.session.token.clone();
    let body = |code: &str| Some(json!({"password": PASSWORD, "code": code}));
    let r = app.request(Method::POST, REGENERATE, Some(&t), body(&e.backup_codes[0])).await;
    r.expect(400);
    assert_eq!(r.code(), "totp_code_required");
    app.request(
        Method::POST,
        REGENERATE,
        Some(&t),
        Some(json!({"password": "Wrong-Password-99", "code": e.auth.next().await})),
    )
    .await
    .expect(401);
    let r = app.request(Method::POST, REGENERATE, Some(&t), body(&e.auth.next().await)).await;
    r.expect(200);
    let fresh: Vec<String> =
        r.data()["backup_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(fresh.len(), 10);
    let temp = challenge(&app, "zed@example.com").await;
    app.post(VERIFY, json!({"temp_token": temp, "code": e.backup_codes[1]})).await.expect(401);
    app.post(VERIFY, json!({"temp_token": temp, "code": fresh[0]})).await.expect(200);
}

#[tokio::test]
async fn disabling_needs_password_and_a_code_and_logins_return_tokens_again() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "abe@example.com").await;
    let t = e.session.token.clone();
    // A second session, signed in with the second step.
    let temp = challenge(&app, "abe@example.com").await;
    let second = app.post(VERIFY, json!({"temp_token": temp, "code": e.auth.next().await})).await;
    second.expect(200);
    let second = Session::from(second.data());
    app.request(Method::DELETE, DISABLE, Some(&t), Some(json!({"password": PASSWORD, "code": "AAAAAAAAAA"})))
        .await
        .expect(401);
    app.request(
        Method::DELETE,
        DISABLE,
        Some(&t),
        Some(json!({"password": "Wrong-Password-99", "code": e.backup_codes[0]})),
    )
    .await
    .expect(401);
    app.request(Method::DELETE, DISABLE, Some(&t), Some(json!({"password": PASSWORD}))).await.expect(400);
    let r = app
        .request(Method::DELETE, DISABLE, Some(&t), Some(json!({"password": PASSWORD, "code": e.backup_codes[0]})))
        .await;
    r.expect(200);
    assert_eq!(r.data()["sessions_revoked"], true);
    // The session that turned it off stays signed in; the other one is signed out.
    app.get(ME, Some(&t)).await.expect(200);
    app.get(ME, Some(&second.token)).await.expect(401);
    refresh(&app, &second.refresh).await.expect(401);
    refresh(&app, &e.session.refresh).await.expect(200);
    let fresh = r.data()["token"].as_str().unwrap();
    assert_eq!(app.get(STATUS, Some(fresh)).await.data()["enabled"], false);
    let login = app.post(LOGIN, json!({"email": "abe@example.com", "password": PASSWORD})).await;
    login.expect(200);
    assert!(login.data()["token"].is_string());
    app.request(Method::DELETE, DISABLE, Some(fresh), Some(json!({"password": PASSWORD, "code": "123456"})))
        .await
        .expect(412);
}

#[tokio::test]
async fn the_token_gate_is_on_by_default_and_turning_it_off_needs_both_factors() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "bea@example.com").await;
    let t = e.session.token.clone();
    let r = app.request(Method::PUT, GATE, Some(&t), Some(json!({"enabled": false}))).await;
    r.expect(403);
    assert_eq!(r.code(), "otp_required");
    app.request(
        Method::PUT,
        GATE,
        Some(&t),
        Some(json!({"enabled": false, "password": PASSWORD, "otp_code": "999999x"})),
    )
    .await
    .expect(401);
    let r = app
        .request(
            Method::PUT,
            GATE,
            Some(&t),
            Some(json!({"enabled": false, "password": PASSWORD, "otp_code": e.auth.next().await})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["require_for_tokens"], false);
    assert_eq!(app.get(STATUS, Some(&t)).await.data()["require_for_tokens"], false);
    let r = app.request(Method::PUT, GATE, Some(&t), Some(json!({"enabled": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["require_for_tokens"], true);
    app.request(Method::PUT, GATE, Some(&t), Some(json!({"enabled": "yes"}))).await.expect(400);
}

#[tokio::test]
async fn verify_email_honours_2fa() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "cal@example.com").await;
    sqlx::query("update app_user set email_verified = false").execute(&app.db).await.unwrap();
    app.post("/api/v1/auth/resend-verification", json!({"email": "cal@example.com"})).await.expect(200);
    let mut token = String::new();
    for _ in 0..50 {
        let mails = app.mails_to("cal@example.com");
        if mails.len() >= 2 {
            token = crate::harness::link_token(mails.last().unwrap(), "verify-email");
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = app.post("/api/v1/auth/verify-email", json!({"token": token})).await;
    r.expect(200);
    assert_eq!(r.data()["requires_2fa"], true);
    assert!(r.data().get("token").is_none());
    let temp = r.data()["temp_token"].as_str().unwrap();
    app.post(VERIFY, json!({"temp_token": temp, "code": e.auth.next().await})).await.expect(200);
    let _: Value = r.body.clone();
}

#[tokio::test]
async fn tfa_routes_need_a_session() {
    let app = TestApp::spawn().await;
    for (method, path) in [
        (Method::POST, SETUP),
        (Method::POST, VERIFY_SETUP),
        (Method::GET, STATUS),
        (Method::DELETE, DISABLE),
        (Method::POST, REGENERATE),
        (Method::PUT, GATE),
    ] {
        let r = app
            .request(method.clone(), path, None, Some(json!({"password": PASSWORD, "code": "123456", "enabled": true})))
            .await;
        assert!(
            r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {}",
            r.text
        );
        let r = app.request(method.clone(), path, None, None).await;
        assert!(r.status.is_client_error(), "{method} {path}");
    }
}

/// The reusable token gate the auth-token endpoints will call: nothing to ask without 2FA; with
/// 2FA and the gate on, a missing OTP is 403 `otp_required`, a wrong one 401, a right one passes
/// (once); with the gate off, nothing is asked.
#[tokio::test]
async fn the_token_gate_check() {
    use hoody_api::{auth::second_factor::token_gate, error::ApiError};
    let app = TestApp::spawn().await;
    let plain = app.verified_user("plain@example.com").await;
    assert!(token_gate(&app.state, &plain.user_id, None).await.is_ok());

    let mut e = enrolled(&app, "gated@example.com").await;
    let id = e.session.user_id.clone();
    match token_gate(&app.state, &id, None).await {
        Err(ApiError::Forbidden { code: "otp_required", .. }) => {}
        other => panic!("expected otp_required, got {other:?}"),
    }
    assert!(matches!(token_gate(&app.state, &id, Some("000000x")).await, Err(ApiError::Unauthenticated { .. })));
    let code = e.auth.next().await;
    token_gate(&app.state, &id, Some(&code)).await.unwrap();
    assert!(token_gate(&app.state, &id, Some(&code)).await.is_err(), "a code passes the gate once");
    token_gate(&app.state, &id, Some(&e.backup_codes[3])).await.unwrap();

    let t = e.session.token.clone();
    app.request(
        Method::PUT,
        GATE,
        Some(&t),
        Some(json!({"enabled": false, "password": PASSWORD, "otp_code": e.auth.next().await})),
    )
    .await
    .expect(200);
    assert!(token_gate(&app.state, &id, None).await.is_ok());
}

/// Issue 12 item 1: every OTP check (token gate, disable, temp_token step, …) draws on one
/// per-user failure budget (10 per 15 minutes), counted before the code is looked at: once it is
/// spent, even the right code gets 429 with Retry-After until the window ends.
#[tokio::test]
async fn wrong_codes_share_one_budget_and_then_even_the_right_code_waits() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "otp@example.com").await;
    let t = e.session.token.clone();
    let mint = |code: &str| json!({"permission_template": "read_only", "otp_code": code});
    for _ in 0..4 {
        app.post_auth(TOKENS, &t, Some(mint("000000"))).await.expect(401);
    }
    for _ in 0..3 {
        let body = json!({"password": PASSWORD, "code": "000000"});
        app.request(Method::DELETE, DISABLE, Some(&t), Some(body)).await.expect(401);
    }
    let temp = challenge(&app, "otp@example.com").await;
    for _ in 0..3 {
        app.post(VERIFY, json!({"temp_token": temp, "code": "000000"})).await.expect(401);
    }
    // Ten failures: the budget is spent. The right code is refused everywhere.
    let code = e.auth.next().await;
    let r = app.post_auth(TOKENS, &t, Some(mint(&code))).await;
    r.expect(429);
    let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "{retry}");
    assert_eq!(r.body["retry_after"], json!(retry));
    app.post_auth(TOKENS, &t, Some(mint(&e.backup_codes[0]))).await.expect(429);
    let disable = json!({"password": PASSWORD, "code": code});
    app.request(Method::DELETE, DISABLE, Some(&t), Some(disable)).await.expect(429);
    let temp = challenge(&app, "otp@example.com").await;
    app.post(VERIFY, json!({"temp_token": temp, "code": code})).await.expect(429);
    let tokens: i64 = sqlx::query_scalar("select count(*) from auth_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(tokens, 0);
    assert_eq!(app.get(STATUS, Some(&t)).await.data()["enabled"], true);
    // Once the window has passed, the right code works again (and a success costs nothing).
    sqlx::query("update rate_limit set window_start = now() - interval '16 minutes' where bucket like 'otp:%'")
        .execute(&app.db)
        .await
        .unwrap();
    app.post_auth(TOKENS, &t, Some(mint(&e.auth.next().await))).await.expect(201);
    app.post_auth(TOKENS, &t, Some(mint(&e.backup_codes[1]))).await.expect(201);
}

/// Only input shaped like a backup code (ten characters of its alphabet, dashes and spaces
/// aside) is checked with argon2; anything else that is not six digits is refused at once.
#[tokio::test]
async fn only_backup_shaped_codes_reach_argon2() {
    let app = TestApp::spawn().await;
    let e = enrolled(&app, "argon@example.com").await;
    let t = e.session.token.clone();
    let long = "A".repeat(300);
    let shapes = ["12345", "1234567", "abcdef", "0000000000", "ABCDE12345", "AAAAAAAAAAA", "ÄBCDEFGHJK", &long];
    let before = app.state.hasher.verifications();
    for i in 0..50 {
        let body = json!({"permission_template": "read_only", "otp_code": shapes[i % shapes.len()]});
        let r = app.post_auth(TOKENS, &t, Some(body)).await;
        assert!(r.status == StatusCode::UNAUTHORIZED || r.status == StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    }
    assert_eq!(app.state.hasher.verifications(), before, "no argon2 run for input that cannot be a code");
    // A wrong code of the right shape is compared with each of the ten unused codes.
    sqlx::query("delete from rate_limit where bucket like 'otp:%'").execute(&app.db).await.unwrap();
    let body = json!({"permission_template": "read_only", "otp_code": "aaaa-bbbb-cc"});
    app.post_auth(TOKENS, &t, Some(body)).await.expect(401);
    assert_eq!(app.state.hasher.verifications(), before + 10);
}
