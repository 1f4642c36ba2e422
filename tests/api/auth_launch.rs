//! The OAuth popup hand-off: launch tickets, the `__Host-` cookie binding the attempt to its
//! browser, and the signed, expiring state.

use futures::future::join_all;
use hoody_api::auth::pkce::challenge_of;
use serde_json::json;

use crate::{
    auth_oauth::{authorize, callback, exchange, github_user, no_redirects, spawn, url_pairs, POPUP, VERIFIER},
    harness::TestApp,
};

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
