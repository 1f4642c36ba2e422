//! OAuth with GitHub and Google, browser-less: the tests run a small OAuth2 provider on loopback
//! and follow authorize → callback → intent → exchange by hand.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    extract::{Form, State},
    http::{HeaderMap, StatusCode as AxStatus},
    routing::{get, post},
    Json, Router,
};
use futures::future::join_all;
use hoody_api::auth::pkce::challenge_of;
use serde_json::{json, Value};

use crate::harness::{TestApp, PASSWORD};

const APP_CB: &str = "https://app.hoody.test/auth/done";
const POPUP: &str = "https://app.hoody.test/auth/popup";
const VERIFIER: &str = "oauth-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// code → (user profile, emails) served by the fake provider.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<HashMap<String, (Value, Value)>>>);

async fn token(State(f): State<Fake>, Form(form): Form<HashMap<String, String>>) -> Result<Json<Value>, AxStatus> {
    let code = form.get("code").cloned().unwrap_or_default();
    let known = f.0.lock().unwrap().contains_key(&code);
    if !known
        || form.get("client_secret").map(String::as_str) != Some("secret")
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return Err(AxStatus::BAD_REQUEST);
    }
    Ok(Json(json!({"access_token": format!("at-{code}"), "token_type": "bearer"})))
}

fn by_token(f: &Fake, headers: &HeaderMap) -> Option<(Value, Value)> {
    let t = headers.get("authorization")?.to_str().ok()?.strip_prefix("Bearer at-")?.to_owned();
    f.0.lock().unwrap().get(&t).cloned()
}

async fn user(State(f): State<Fake>, headers: HeaderMap) -> Result<Json<Value>, AxStatus> {
    by_token(&f, &headers).map(|(u, _)| Json(u)).ok_or(AxStatus::UNAUTHORIZED)
}

async fn emails(State(f): State<Fake>, headers: HeaderMap) -> Result<Json<Value>, AxStatus> {
    by_token(&f, &headers).map(|(_, e)| Json(e)).ok_or(AxStatus::UNAUTHORIZED)
}

/// Codes whose user stars the repository.
static STARRED: std::sync::LazyLock<Mutex<std::collections::HashSet<String>>> =
    std::sync::LazyLock::new(Default::default);

async fn starred(
    axum::extract::Path((owner, repo)): axum::extract::Path<(String, String)>,
    headers: HeaderMap,
) -> AxStatus {
    let code = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer at-"))
        .unwrap_or("");
    if owner == "hoody" && repo == "hoody" && STARRED.lock().unwrap().contains(code) {
        AxStatus::NO_CONTENT
    } else {
        AxStatus::NOT_FOUND
    }
}

async fn start_provider() -> (String, Fake) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/starred/{owner}/{repo}", get(starred))
        .route("/token", post(token))
        .route("/user", get(user))
        .route("/emails", get(emails))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, fake)
}

async fn spawn() -> (TestApp, Fake) {
    let (base, fake) = start_provider().await;
    let app = TestApp::spawn_with(|c| {
        for p in [&mut c.github, &mut c.google] {
            p.client_id = Some("client".into());
            p.client_secret = Some("secret".into());
            p.authorize_url = format!("{base}/authorize");
            p.token_url = format!("{base}/token");
            p.user_url = format!("{base}/user");
        }
        c.github.emails_url = Some(format!("{base}/emails"));
        c.github.starred_url = Some(format!("{base}/starred"));
        c.github.star_repo = Some("hoody/hoody".into());
        c.oauth_redirects = vec![APP_CB.into()];
        c.oauth_launch_redirect = Some(POPUP.into());
    })
    .await;
    (app, fake)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Start a sign-in and return the state the provider would be sent.
async fn authorize(app: &TestApp, provider: &str) -> String {
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/{provider}", app.base))
        .query(&[("redirect_uri", APP_CB), ("code_challenge", &challenge_of(VERIFIER))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.path().ends_with("/authorize"));
    let q: HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(q["client_id"], "client");
    assert_eq!(q["response_type"], "code");
    assert!(q["redirect_uri"].ends_with(&format!("/api/v1/auth/{provider}/callback")));
    q["state"].clone()
}

/// The provider sends the browser back; returns the fragment of where we send it next.
async fn callback(app: &TestApp, provider: &str, code: &str, state: &str) -> (u16, HashMap<String, String>) {
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/{provider}/callback", app.base))
        .query(&[("code", code), ("state", state)])
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let mut frag = HashMap::new();
    if status == 302 {
        let loc = res.headers()["location"].to_str().unwrap().to_owned();
        let (base, f) = loc.split_once('#').unwrap();
        assert_eq!(base, APP_CB);
        frag = url_pairs(f);
    }
    (status, frag)
}

fn url_pairs(s: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{s}")).unwrap().query_pairs().into_owned().collect()
}

fn github_user(fake: &Fake, code: &str, id: Value, email: &str) {
    fake.0.lock().unwrap().insert(
        code.into(),
        (json!({"id": id, "login": "octo-cat", "avatar_url": "https://avatars.example/1"}),
         json!([{"email": "old@example.com", "primary": false, "verified": true}, {"email": email, "primary": true, "verified": true}])),
    );
}

async fn exchange(app: &TestApp, frag: &HashMap<String, String>) -> crate::harness::Resp {
    app.post(
        "/api/v1/auth/intent/exchange",
        json!({"auth_intent_token": frag["auth_intent_token"], "code_verifier": VERIFIER}),
    )
    .await
}

#[tokio::test]
async fn github_round_trip_creates_a_verified_account_and_ends_in_intent_mode() {
    let (app, fake) = spawn().await;
    github_user(&fake, "c1", json!(583231), "Octo@Example.com");
    let state = authorize(&app, "github").await;
    let (status, frag) = callback(&app, "github", "c1", &state).await;
    assert_eq!(status, 302);
    let r = exchange(&app, &frag).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["email"], "octo@example.com");
    assert_eq!(r.data()["user"]["email_verified"], true);
    assert_eq!(r.data()["user"]["signup_method"], "github");
    assert!(r.data()["user"]["username"].as_str().unwrap().starts_with("octo-cat-"));
    // The state worked once.
    let (status, _) = callback(&app, "github", "c1", &state).await;
    assert_eq!(status, 400);
    // Signing in again reaches the same account through the linked identity.
    github_user(&fake, "c2", json!(583231), "renamed@example.com");
    let state = authorize(&app, "github").await;
    let (_, frag) = callback(&app, "github", "c2", &state).await;
    let again = exchange(&app, &frag).await;
    again.expect(200);
    assert_eq!(again.data()["user"]["id"], r.data()["user"]["id"]);
}

#[tokio::test]
async fn google_round_trip_links_an_existing_verified_account() {
    let (app, fake) = spawn().await;
    let s = app.verified_user("gwen@example.com").await;
    fake.0.lock().unwrap().insert(
        "g1".into(),
        (json!({"sub": "1076915035000615071511", "email": "gwen@example.com", "email_verified": true}), json!([])),
    );
    let state = authorize(&app, "google").await;
    let (status, frag) = callback(&app, "google", "g1", &state).await;
    assert_eq!(status, 302);
    let r = exchange(&app, &frag).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], s.user_id.as_str());
    // The password still works too.
    app.login("gwen@example.com", PASSWORD).await;
}

#[tokio::test]
async fn redirect_uri_must_be_exactly_allowlisted() {
    let (app, _) = spawn().await;
    let bad = [
        "https://evil.com/auth/done",
        "https://app.hoody.test.evil.com/auth/done",
        "https://app.hoody.test@evil.com/auth/done",
        "//evil.com/auth/done",
        "\\\\evil.com/auth/done",
        "https:evil.com/auth/done",
        "https://app.hoody.test/auth/done/../../evil",
        "https://app.hoody.test/auth/done?next=https://evil.com",
        "https://app.hoody.test/auth/done%2F..%2Fevil",
        "https://app%2Ehoody.test/auth/done",
        "http://app.hoody.test/auth/done",
        "HTTPS://APP.HOODY.TEST/auth/done",
        "",
    ];
    for uri in bad {
        let res = no_redirects()
            .get(format!("{}/api/v1/auth/github", app.base))
            .query(&[("redirect_uri", uri), ("code_challenge", &challenge_of(VERIFIER))])
            .send()
            .await
            .unwrap();
        let r = TestApp::read(res).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "redirect_uri", "{uri}");
    }
    // The PKCE challenge is required and must be S256.
    for challenge in ["", "plain-verifier-that-is-long-enough-to-pass-43-chars-xx", "short"] {
        let res = no_redirects()
            .get(format!("{}/api/v1/auth/google", app.base))
            .query(&[("redirect_uri", APP_CB), ("code_challenge", challenge)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{challenge}");
    }
    let states: i64 = sqlx::query_scalar("select count(*) from oauth_state").fetch_one(&app.db).await.unwrap();
    assert_eq!(states, 0);
}

#[tokio::test]
async fn a_profile_without_a_usable_id_never_signs_in() {
    let (app, fake) = spawn().await;
    for (code, id) in [("z0", json!(0)), ("z1", json!("")), ("z2", Value::Null), ("z3", json!("0"))] {
        github_user(&fake, code, id, "nobody@example.com");
        let state = authorize(&app, "github").await;
        let (status, frag) = callback(&app, "github", code, &state).await;
        assert_eq!(status, 302);
        assert_eq!(frag.get("error").map(String::as_str), Some("provider_error"), "{code}");
        assert!(!frag.contains_key("auth_intent_token"));
    }
    // A declined consent and a wrong code end the same way, without an account.
    let state = authorize(&app, "github").await;
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/github/callback", app.base))
        .query(&[("error", "access_denied"), ("state", &state)])
        .send()
        .await
        .unwrap();
    assert!(res.headers()["location"].to_str().unwrap().ends_with("#error=access_denied"));
    let state = authorize(&app, "github").await;
    let (_, frag) = callback(&app, "github", "never-issued", &state).await;
    assert_eq!(frag["error"], "provider_error");
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn ten_concurrent_callbacks_with_one_state_sign_in_once() {
    let (app, fake) = spawn().await;
    github_user(&fake, "c9", json!(99), "race@example.com");
    let state = authorize(&app, "github").await;
    let results = join_all((0..10).map(|_| callback(&app, "github", "c9", &state))).await;
    let signed_in = results.iter().filter(|(s, f)| *s == 302 && f.contains_key("auth_intent_token")).count();
    assert_eq!(signed_in, 1);
    assert_eq!(results.iter().filter(|(s, _)| *s == 400).count(), 9);
    let (bad, _) = callback(&app, "github", "c9", "not-a-state").await;
    assert_eq!(bad, 400);
    let (bad, _) = callback(&app, "google", "c9", &state).await;
    assert_eq!(bad, 400);
}

#[tokio::test]
async fn oauth_honours_2fa_and_an_unconfigured_provider_is_refused() {
    let (app, fake) = spawn().await;
    let mut e = crate::tfa::enrolled(&app, "twofa@example.com").await;
    github_user(&fake, "t1", json!(4242), "twofa@example.com");
    let state = authorize(&app, "github").await;
    let (_, frag) = callback(&app, "github", "t1", &state).await;
    assert_eq!(frag["requires_2fa"], "true");
    assert!(!frag.contains_key("auth_intent_token"));
    let v = app
        .post("/api/v1/users/auth/2fa/verify", json!({"temp_token": frag["temp_token"], "code": e.auth.next()}))
        .await;
    v.expect(200);
    let t = v.data()["auth_intent_token"].as_str().unwrap();
    app.post("/api/v1/auth/intent/exchange", json!({"auth_intent_token": t, "code_verifier": VERIFIER}))
        .await
        .expect(200);

    let plain = TestApp::spawn_with(|c| c.oauth_redirects = vec![APP_CB.into()]).await;
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/github", plain.base))
        .query(&[("redirect_uri", APP_CB), ("code_challenge", &challenge_of(VERIFIER))])
        .send()
        .await
        .unwrap();
    let r = TestApp::read(res).await;
    r.expect(412);
    assert_eq!(r.code(), "provider_not_configured");
}

#[tokio::test]
async fn a_pre_registered_unverified_account_is_taken_over_by_the_mailbox_owner() {
    let (app, fake) = spawn().await;
    // Someone signs up with the victim's address and a password of their choosing.
    app.signup("victim@example.com", "Attacker-Chosen-Pw-1").await;
    github_user(&fake, "v1", json!(7777), "victim@example.com");
    let state = authorize(&app, "github").await;
    let (_, frag) = callback(&app, "github", "v1", &state).await;
    let r = exchange(&app, &frag).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["email_verified"], true);
    // The pre-registered password no longer opens the account.
    app.post("/api/v1/users/auth/login", json!({"email": "victim@example.com", "password": "Attacker-Chosen-Pw-1"}))
        .await
        .expect(401);
}

async fn initiate(app: &TestApp, state_id: &str) -> String {
    let r = app
        .post(
            "/api/v1/auth/launch/initiate",
            json!({"provider": "github", "code_challenge": challenge_of(VERIFIER), "state_id": state_id}),
        )
        .await;
    r.expect(200);
    let url = r.data()["launch_url"].as_str().unwrap();
    let ticket = url.split_once("ticket=").unwrap().1.to_owned();
    assert!(url.contains("/api/v1/auth/launch/start?ticket=") && ticket.len() == 64);
    ticket
}

async fn start(app: &TestApp, ticket: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/api/v1/auth/launch/start", app.base))
        .query(&[("ticket", ticket)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_popup_hand_off_runs_once_and_only_in_the_browser_that_started_it() {
    let (app, fake) = spawn().await;
    let state_id = "0b6f9c7e-3f1a-4c2d-9e8b-5a4d3c2b1a09";
    for (body, field) in [
        (json!({"provider": "github", "code_challenge": "short", "state_id": state_id}), "code_challenge"),
        (json!({"provider": "github", "code_challenge": challenge_of(VERIFIER), "state_id": "not-a-uuid"}), "state_id"),
        (
            json!({"provider": "github", "code_challenge": challenge_of(VERIFIER), "state_id": "0b6f9c7e-3f1a-1c2d-9e8b-5a4d3c2b1a09"}),
            "state_id",
        ),
    ] {
        let r = app.post("/api/v1/auth/launch/initiate", body).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field);
    }
    app.post(
        "/api/v1/auth/launch/initiate",
        json!({"provider": "gitlab", "code_challenge": challenge_of(VERIFIER), "state_id": state_id}),
    )
    .await
    .expect(400);

    let ticket = initiate(&app, state_id).await;
    let res = start(&app, &ticket).await;
    assert_eq!(res.status(), 302);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with(&format!("__Host-hoody-oauth-{state_id}=1;")), "{cookie}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let state: String = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    assert_eq!(start(&app, &ticket).await.status(), 400, "a ticket works once");

    github_user(&fake, "p1", json!(31337), "popup@example.com");
    let finish = |with_cookie: bool, state: String| {
        let mut req = no_redirects()
            .get(format!("{}/api/v1/auth/github/callback", app.base))
            .query(&[("code", "p1"), ("state", state.as_str())]);
        if with_cookie {
            req = req.header("cookie", format!("other=1; __Host-hoody-oauth-{state_id}=1"));
        }
        req.send()
    };
    // Without the cookie (another browser): refused, and the attempt is named for the opener.
    let res = finish(false, state).await.unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(loc.starts_with(&format!("{POPUP}#")), "{loc}");
    let frag = url_pairs(loc.split_once('#').unwrap().1);
    assert_eq!(frag["error"], "browser_mismatch");
    assert_eq!(frag["state_id"], state_id);

    let ticket = initiate(&app, state_id).await;
    let res = start(&app, &ticket).await;
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let state: String = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    let res = finish(true, state).await.unwrap();
    assert!(
        res.headers().get("set-cookie").is_some_and(|c| c.to_str().unwrap().contains("Max-Age=0")),
        "the cookie is cleared: {:?}",
        res.headers()
    );
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let frag = url_pairs(loc.split_once('#').unwrap().1);
    assert_eq!(frag["state_id"], state_id);
    exchange(&app, &frag).await.expect(200);
}

#[tokio::test]
async fn ten_concurrent_starts_with_one_ticket_redirect_once() {
    let (app, _) = spawn().await;
    let ticket = initiate(&app, "7c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f").await;
    let results = join_all((0..10).map(|_| start(&app, &ticket))).await;
    assert_eq!(results.iter().filter(|r| r.status() == 302).count(), 1);
    assert_eq!(results.iter().filter(|r| r.status() == 400).count(), 9);
    assert_eq!(start(&app, "zz").await.status(), 400);
}

#[tokio::test]
async fn star_check_records_whether_the_github_user_stars_the_repository() {
    let (app, fake) = spawn().await;
    for (code, id, star) in [("s1", 501, true), ("s2", 502, false)] {
        github_user(&fake, code, json!(id), &format!("star{id}@example.com"));
        if star {
            STARRED.lock().unwrap().insert(code.to_owned());
        }
        let res = no_redirects()
            .get(format!("{}/api/v1/auth/github", app.base))
            .query(&[("redirect_uri", APP_CB), ("code_challenge", &challenge_of(VERIFIER)), ("intent", "star_check")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
        let state: String = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
        let (_, frag) = callback(&app, "github", code, &state).await;
        assert_eq!(frag["star_checked"], "true");
        assert_eq!(frag["starred"], if star { "true" } else { "false" });
        exchange(&app, &frag).await.expect(200);
        let recorded: bool = sqlx::query_scalar("select starred from github_star_check where github_user_id = $1")
            .bind(id.to_string())
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(recorded, star);
    }
    // Only GitHub checks stars; unknown intents are refused.
    for (provider, intent) in [("google", "star_check"), ("github", "steal")] {
        let res = no_redirects()
            .get(format!("{}/api/v1/auth/{provider}", app.base))
            .query(&[("redirect_uri", APP_CB), ("code_challenge", &challenge_of(VERIFIER)), ("intent", intent)])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 422, "{provider} {intent}");
    }
}

#[tokio::test]
async fn states_and_tickets_are_signed_expiring_and_not_credentials() {
    let (app, fake) = spawn().await;
    github_user(&fake, "e1", json!(808), "expiry@example.com");
    let state = authorize(&app, "github").await;
    assert_eq!(state.split('.').count(), 3, "the state is a signed token");
    // Not an access token.
    app.get("/api/v1/users/auth/me", Some(&state)).await.expect(401);
    // Tampered: refused before the database is asked.
    let mut forged = state.clone();
    forged.pop();
    forged.push(if state.ends_with('A') { 'B' } else { 'A' });
    assert_eq!(callback(&app, "github", "e1", &forged).await.0, 400);
    // Expired in the database: refused.
    sqlx::query("update oauth_state set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    assert_eq!(callback(&app, "github", "e1", &state).await.0, 400);
    let ticket = initiate(&app, "5d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a").await;
    sqlx::query("update launch_ticket set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    assert_eq!(start(&app, &ticket).await.status(), 400);
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
}
