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

pub const APP_CB: &str = "https://app.hoody.test/auth/done";
pub const POPUP: &str = "https://app.hoody.test/auth/popup";
pub const VERIFIER: &str = "oauth-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// code → (user profile, emails) served by the fake provider.
#[derive(Clone, Default)]
pub struct Fake(Arc<Mutex<HashMap<String, (Value, Value)>>>);

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

pub async fn spawn() -> (TestApp, Fake) {
    let (base, fake) = start_provider().await;
    let app = TestApp::spawn_with(|c| {
        for p in [&mut c.github, &mut c.google] {
            p.client_id = Some("client".into());
            p.client_secret = Some("secret".to_owned().into());
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

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Start a sign-in and return the state the provider would be sent.
pub async fn authorize(app: &TestApp, provider: &str) -> String {
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
pub async fn callback(app: &TestApp, provider: &str, code: &str, state: &str) -> (u16, HashMap<String, String>) {
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

pub fn url_pairs(s: &str) -> HashMap<String, String> {
    reqwest::Url::parse(&format!("http://x/?{s}")).unwrap().query_pairs().into_owned().collect()
}

pub fn github_user(fake: &Fake, code: &str, id: Value, email: &str) {
    fake.0.lock().unwrap().insert(
        code.into(),
        (json!({"id": id, "login": "octo-cat", "avatar_url": "https://avatars.example/1"}),
         json!([{"email": "old@example.com", "primary": false, "verified": true}, {"email": email, "primary": true, "verified": true}])),
    );
}

pub async fn exchange(app: &TestApp, frag: &HashMap<String, String>) -> crate::harness::Resp {
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
    // Each OAuth sign-in is in the account's security history, as a password sign-in is.
    let id = r.data()["user"]["id"].as_str().unwrap().to_owned();
    let logins: i64 = sqlx::query_scalar("select count(*) from login_event where user_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(logins, 2, "one login event per OAuth sign-in");
    let bearer = again.data()["token"].as_str().unwrap().to_owned();
    let history = app.get("/api/v1/users/me/security-history", Some(&bearer)).await;
    history.expect(200);
    let kinds: Vec<&str> = history.data().as_array().unwrap().iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds, ["login", "login"], "{}", history.body);
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
        .post("/api/v1/users/auth/2fa/verify", json!({"temp_token": frag["temp_token"], "code": e.auth.next().await}))
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

/// Issue 12, item 11: the provider's address is normalised like any other before it is matched.
#[tokio::test]
async fn oauth_links_an_invisibly_different_provider_address_to_the_account() {
    let (app, fake) = spawn().await;
    let s = app.verified_user("gwen@example.com").await;
    fake.0.lock().unwrap().insert(
        "g1".into(),
        (
            json!({"sub": "1076915035000615071599", "email": "gwen\u{200b}@EXAMPLE.com", "email_verified": true}),
            json!([]),
        ),
    );
    let state = authorize(&app, "google").await;
    let (status, frag) = callback(&app, "google", "g1", &state).await;
    assert_eq!(status, 302);
    let r = exchange(&app, &frag).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], s.user_id.as_str());
    assert_eq!(
        sqlx::query_scalar::<_, String>("select email from app_user where email ilike '%gwen%'")
            .fetch_all(&app.db)
            .await
            .unwrap(),
        vec!["gwen@example.com"]
    );
}
