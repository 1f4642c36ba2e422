//! The device flow `hoody login --web` uses, end to end over HTTP: the CLI starts and polls, a
//! person confirms the user code on the verification page (ticket + `__Host-` cookie), signs in
//! there (password, 2FA, or GitHub) and approves or refuses; the poll hands the tokens out once.

use futures::future::join_all;
use hoody_api::auth::pkce::challenge_of;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    auth_oauth::{github_user, no_redirects, spawn, url_pairs},
    harness::{Resp, TestApp, PASSWORD},
    tfa::enrolled,
};

const CODE: &str = "/api/v1/auth/device/code";
const VERIFY: &str = "/api/v1/auth/device/verify_code";
const LOGIN: &str = "/api/v1/auth/device/login";
const DENY: &str = "/api/v1/auth/device/deny";
const TOKEN: &str = "/api/v1/auth/device/token";
const VERIFIER: &str = "device-verifier-0123456789-abcdefghijklmnopqrstuvwxyz";

/// The CLI starts: (device_code, user_code as shown).
async fn start(app: &TestApp, body: Value) -> (String, String) {
    let r = app.post(CODE, body).await;
    r.expect(200);
    let d = r.data();
    (d["device_code"].as_str().unwrap().to_owned(), d["user_code"].as_str().unwrap().to_owned())
}

/// The page confirms the code: (ticket, the `__Host-device_verify` cookie as `name=value`).
async fn confirm(app: &TestApp, user_code: &str) -> (String, String) {
    let r = app.post(VERIFY, json!({"user_code": user_code})).await;
    r.expect(200);
    let set = r.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-device_verify="), "{set}");
    for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(set.contains(attr), "{set}");
    }
    assert_eq!(r.data()["status"], "pending");
    let ticket = r.data()["device_verify_ticket"].as_str().unwrap().to_owned();
    assert!(ticket.len() == 64 && ticket.bytes().all(|b| b.is_ascii_hexdigit()));
    (ticket, set.split(';').next().unwrap().to_owned())
}

/// A page step from the browser holding `cookie`.
async fn step(app: &TestApp, path: &str, cookie: Option<&str>, body: Value) -> Resp {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("cookie", c)]).unwrap_or_default();
    app.request_with(Method::POST, path, None, &headers, Some(body)).await
}

async fn poll(app: &TestApp, device_code: &str, verifier: Option<&str>) -> Resp {
    let mut body = json!({"device_code": device_code});
    if let Some(v) = verifier {
        body["code_verifier"] = json!(v);
    }
    app.post(TOKEN, body).await
}

/// 5 seconds pass (the poll interval) without waiting them out.
async fn interval_passes(app: &TestApp) {
    sqlx::query("update device_authorization set last_polled_at = null").execute(&app.db).await.unwrap();
}

/// A refused poll: 400, the reason in `code` and `data.error`.
#[track_caller]
fn refused(r: &Resp, reason: &str) {
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.body["statusCode"], 400);
    assert_eq!(r.code(), reason, "{}", r.text);
    assert_eq!(r.data()["error"], reason, "{}", r.text);
    assert!(r.body["message"].is_string() && r.body["request_id"].is_string());
}

async fn devices(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from device_authorization").fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn password_sign_in_on_the_page_gives_the_cli_its_tokens_once() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("ada@example.com").await;
    let r = app.post(CODE, json!({"client_name": "hoody CLI on ada-laptop", "client": "cli"})).await;
    r.expect(200);
    let d = r.data().clone();
    let (device_code, user_code) = (d["device_code"].as_str().unwrap(), d["user_code"].as_str().unwrap());
    assert!(device_code.len() == 64 && device_code.bytes().all(|b| b.is_ascii_hexdigit()));
    let letters = "BCDFGHJKLMNPQRSTVWXZ";
    assert_eq!(user_code.len(), 9);
    assert_eq!(&user_code[4..5], "-");
    assert!(user_code.chars().filter(|c| *c != '-').all(|c| letters.contains(c)), "{user_code}");
    assert_eq!((d["interval"].as_i64(), d["expires_in"].as_i64()), (Some(5), Some(600)));
    assert!(d["verification_uri"].as_str().unwrap().ends_with("/device"));
    assert_eq!(
        d["verification_uri_complete"],
        format!("{}?user_code={user_code}", d["verification_uri"].as_str().unwrap())
    );
    // Only hashes are stored.
    let hashed: i64 = sqlx::query_scalar(
        "select count(*) from device_authorization where device_code_hash = sha256(convert_to($1, 'UTF8')) \
         and user_code_hash = sha256(convert_to($2, 'UTF8'))",
    )
    .bind(device_code)
    .bind(user_code.replace('-', ""))
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(hashed, 1);

    refused(&poll(&app, device_code, None).await, "authorization_pending");
    refused(&poll(&app, device_code, None).await, "slow_down");

    // The page: the code typed in lower case without its dash works.
    let (ticket, cookie) = confirm(&app, &user_code.replace('-', "").to_lowercase()).await;
    let login = |cookie: Option<String>, password: &'static str| {
        let (app, ticket) = (&app, ticket.clone());
        async move {
            step(
                app,
                LOGIN,
                cookie.as_deref(),
                json!({"ticket": ticket, "email": "ada@example.com", "password": password}),
            )
            .await
        }
    };
    // Another browser (no cookie) gets nowhere; wrong credentials do not spend the ticket.
    let r = login(None, PASSWORD).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_ticket");
    login(Some("__Host-device_verify=forged".into()), PASSWORD).await.expect(400);
    login(Some(cookie.clone()), "Wrong-Password-123!").await.expect(401);
    let r = login(Some(cookie.clone()), PASSWORD).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"status": "approved"}), "no tokens on the page");
    assert!(r.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"), "the cookie is cleared");
    // The ticket was single-use.
    step(&app, DENY, Some(&cookie), json!({"ticket": ticket})).await.expect(400);

    interval_passes(&app).await;
    let r = poll(&app, device_code, None).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], s.user_id.as_str());
    for k in ["token", "refreshToken", "expires_at", "expires_in", "refresh_expires_at", "refresh_expires_in"] {
        assert!(!r.data()[k].is_null(), "{k}: {}", r.text);
    }
    assert!(r.data()["identity_claim"]["signature_hex"].is_string());
    let token = r.data()["token"].as_str().unwrap().to_owned();
    let me = app.get("/api/v1/users/auth/me", Some(&token)).await;
    me.expect(200);
    assert_eq!(me.data()["id"], s.user_id.as_str());
    // Once.
    interval_passes(&app).await;
    refused(&poll(&app, device_code, None).await, "expired_token");
    let client: Option<String> =
        sqlx::query_scalar("select client from login_event where user_id = $1 order by created_at desc limit 1")
            .bind(&s.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(client.as_deref(), Some("cli"));
}

#[tokio::test]
async fn ten_concurrent_polls_deliver_the_tokens_once() {
    let app = TestApp::spawn().await;
    app.verified_user("conc@example.com").await;
    let (device_code, user_code) = start(&app, json!({})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    step(&app, LOGIN, Some(&cookie), json!({"ticket": ticket, "email": "conc@example.com", "password": PASSWORD}))
        .await
        .expect(200);
    let results = join_all((0..10).map(|_| poll(&app, &device_code, None))).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1, "exactly one delivery");
    assert_eq!(results.iter().filter(|r| r.status == 400).count(), 9);
    let refresh: i64 = sqlx::query_scalar("select count(*) from refresh_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(refresh, 2, "the verification's session and one device session");
}

#[tokio::test]
async fn two_factor_on_the_page_approves_the_device_not_the_browser() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "tfa-device@example.com").await;
    let (device_code, user_code) = start(&app, json!({"client": "cli"})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    let r = step(
        &app,
        LOGIN,
        Some(&cookie),
        json!({"ticket": ticket, "email": "tfa-device@example.com", "password": PASSWORD}),
    )
    .await;
    r.expect(200);
    assert_eq!(r.data()["requires_2fa"], true);
    assert!(r.data().get("token").is_none());
    let temp = r.data()["temp_token"].as_str().unwrap().to_owned();
    // Not approved until the second factor.
    refused(&poll(&app, &device_code, None).await, "authorization_pending");
    let v = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": "000000"})).await;
    v.expect(401);
    let v = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": e.auth.next().await})).await;
    v.expect(200);
    assert_eq!(v.data(), &json!({"status": "approved"}), "the page gets no tokens: {}", v.text);
    interval_passes(&app).await;
    let r = poll(&app, &device_code, None).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], e.session.user_id.as_str());
    app.get("/api/v1/users/auth/me", Some(r.data()["token"].as_str().unwrap())).await.expect(200);
}

#[tokio::test]
async fn a_refused_an_expired_or_signed_out_approval_gives_no_tokens() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("deny@example.com").await;
    // Refused.
    let (denied, user_code) = start(&app, json!({})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    step(&app, DENY, None, json!({"ticket": ticket})).await.expect(400);
    let r = step(&app, DENY, Some(&cookie), json!({"ticket": ticket})).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"status": "denied"}));
    refused(&poll(&app, &denied, None).await, "access_denied");
    // A decided code cannot be confirmed again.
    app.post(VERIFY, json!({"user_code": user_code})).await.expect(400);

    // Expired.
    let (expired, user_code) = start(&app, json!({})).await;
    sqlx::query("update device_authorization set expires_at = now() - interval '1 second' where status = 'pending'")
        .execute(&app.db)
        .await
        .unwrap();
    refused(&poll(&app, &expired, None).await, "expired_token");
    let r = app.post(VERIFY, json!({"user_code": user_code})).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_user_code");

    // Approved, then the user signs out everywhere before the CLI polls: void.
    let (voided, user_code) = start(&app, json!({})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    step(&app, LOGIN, Some(&cookie), json!({"ticket": ticket, "email": "deny@example.com", "password": PASSWORD}))
        .await
        .expect(200);
    app.post_auth("/api/v1/users/auth/logout", &s.token, None).await.expect(200);
    refused(&poll(&app, &voided, None).await, "expired_token");
    let status: String = sqlx::query_scalar("select status from device_authorization where status = 'void'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "void");

    // Unknown device codes.
    refused(&poll(&app, &"ab".repeat(32), None).await, "invalid_grant");
    refused(&poll(&app, "short", None).await, "invalid_grant");
}

#[tokio::test]
async fn a_pkce_challenge_binds_the_poll_to_its_verifier() {
    let app = TestApp::spawn().await;
    app.verified_user("pkce-device@example.com").await;
    let (device_code, user_code) = start(&app, json!({"code_challenge": challenge_of(VERIFIER)})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    step(
        &app,
        LOGIN,
        Some(&cookie),
        json!({"ticket": ticket, "username": null, "email": "pkce-device@example.com", "password": PASSWORD}),
    )
    .await
    .expect(200);
    refused(&poll(&app, &device_code, None).await, "invalid_grant");
    interval_passes(&app).await;
    refused(
        &poll(&app, &device_code, Some("another-verifier-0123456789-abcdefghijklmnopqrstuvw")).await,
        "invalid_grant",
    );
    interval_passes(&app).await;
    poll(&app, &device_code, Some(VERIFIER)).await.expect(200);
}

#[tokio::test]
async fn user_code_guesses_are_limited_per_client_ip() {
    let app = TestApp::spawn_with(|c| {
        c.limits.device_code_failures_per_ip = 3;
        c.trusted_proxies = hoody_api::config::parse_cidrs("127.0.0.1").unwrap();
    })
    .await;
    let (_, user_code) = start(&app, json!({})).await;
    let from = |ip: &'static str, code: String| {
        let app = &app;
        async move {
            app.request_with(Method::POST, VERIFY, None, &[("x-forwarded-for", ip)], Some(json!({"user_code": code})))
                .await
        }
    };
    for guess in ["BBBB-BBBB", "CCCC-CCCC", "DDDD-DDDD"] {
        if guess != user_code {
            let r = from("203.0.113.7", guess.into()).await;
            r.expect(400);
            assert_eq!(r.code(), "invalid_user_code");
        }
    }
    // The limit is reached: even the right code is refused from that address…
    let r = from("203.0.113.7", user_code.clone()).await;
    r.expect(429);
    assert!(r.headers.get("retry-after").is_some());
    // …but not from another.
    from("198.51.100.2", user_code.clone()).await.expect(200);
    let hits: i32 = sqlx::query_scalar("select hits from rate_limit where bucket = 'device_code:ip:203.0.113.7'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(hits, 4);
}

#[tokio::test]
async fn starts_and_polls_have_a_flood_guard_per_client_ip() {
    let app = TestApp::spawn_with(|c| c.limits.device_requests_per_ip = 3).await;
    let (device_code, _) = start(&app, json!({})).await;
    refused(&poll(&app, &device_code, None).await, "authorization_pending");
    interval_passes(&app).await;
    refused(&poll(&app, &device_code, None).await, "authorization_pending");
    interval_passes(&app).await;
    let r = poll(&app, &device_code, None).await;
    r.expect(429);
    assert!(r.headers.get("retry-after").is_some());
    app.post(CODE, json!({})).await.expect(429);
    assert_eq!(devices(&app).await, 1);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({"code_challenge": "plain-verifier"}), "code_challenge"),
        (json!({"client_name": "x".repeat(101)}), "client_name"),
        (json!({"client_name": "bad\nname"}), "client_name"),
        (json!({"client": ""}), "client"),
    ] {
        let r = app.post(CODE, body).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
    }
    let r = app.post(CODE, json!({"device": 1})).await;
    r.expect(422);
    assert_eq!(devices(&app).await, 0);
    // An empty body is a start with nothing optional.
    app.post_raw(CODE, "application/json", Vec::new()).await.expect(200);

    let r = app.post(VERIFY, json!({"user_code": "ABCD-EFGH"})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "user_code");
    let r = app.post(VERIFY, json!({})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "user_code");
    // The page steps: schema failures are 422, a malformed ticket names `ticket`.
    for (path, body, field) in [
        (LOGIN, json!({"ticket": "ab".repeat(32), "email": "x@example.com"}), "password"),
        (LOGIN, json!({"email": "x@example.com", "password": PASSWORD}), "ticket"),
        (LOGIN, json!({"ticket": "nope", "email": "x@example.com", "password": PASSWORD}), "ticket"),
        (DENY, json!({}), "ticket"),
        (DENY, json!({"ticket": 7}), "ticket"),
    ] {
        let r = step(&app, path, Some("__Host-device_verify=x"), body).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{path}: {}", r.text);
    }
    let r = app.post(TOKEN, json!({})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "device_code");
    let statuses: Vec<String> =
        sqlx::query_scalar("select status from device_authorization").fetch_all(&app.db).await.unwrap();
    assert_eq!(statuses, vec!["pending"], "only the one good start");
}

#[tokio::test]
async fn the_device_flow_can_be_switched_off() {
    let app = TestApp::spawn_with(|c| c.device_flow = false).await;
    for (path, body) in [
        (CODE, json!({})),
        (VERIFY, json!({"user_code": "BCDF-GHJK"})),
        (LOGIN, json!({"ticket": "ab".repeat(32), "email": "a@example.com", "password": PASSWORD})),
        (DENY, json!({"ticket": "ab".repeat(32)})),
        (TOKEN, json!({"device_code": "ab".repeat(32)})),
    ] {
        let r = app.post(path, body).await;
        r.expect(404);
        assert_eq!(r.code(), "device_flow_disabled");
    }
    let r = app.get(&format!("/api/v1/auth/device/authorize?ticket={}&provider=github", "ab".repeat(32)), None).await;
    r.expect(404);
    let r = app.get("/api/v1/auth/config", None).await;
    assert_eq!(r.data()["device_flow"], false);
}

#[tokio::test]
async fn github_on_the_page_approves_the_device() {
    let (app, fake) = spawn().await;
    let (device_code, user_code) = start(&app, json!({"client": "cli"})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    let authorize = |cookie: Option<String>, provider: &'static str| {
        let (app, ticket) = (&app, ticket.clone());
        async move {
            let mut req = no_redirects()
                .get(format!("{}/api/v1/auth/device/authorize", app.base))
                .query(&[("ticket", ticket.as_str()), ("provider", provider)]);
            if let Some(c) = cookie {
                req = req.header("cookie", c);
            }
            req.send().await.unwrap()
        }
    };
    assert_eq!(authorize(Some(cookie.clone()), "gitlab").await.status(), 422);
    assert_eq!(authorize(None, "github").await.status(), 400, "another browser");
    let res = authorize(Some(cookie.clone()), "github").await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["referrer-policy"], "no-referrer");
    let cookies: Vec<String> =
        res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let attempt = cookies.iter().find(|c| c.starts_with("__Host-hoody-oauth-")).expect("attempt cookie");
    let attempt = attempt.split(';').next().unwrap().to_owned();
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.path().ends_with("/authorize"));
    let state: String = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    // The ticket is spent.
    assert_eq!(authorize(Some(cookie.clone()), "github").await.status(), 400);

    github_user(&fake, "dev1", json!(4242), "octo-device@example.com");
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/github/callback", app.base))
        .query(&[("code", "dev1"), ("state", state.as_str())])
        .header("cookie", attempt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let (page, frag) = loc.split_once('#').unwrap();
    assert!(page.ends_with("/device"), "{loc}");
    let frag = url_pairs(frag);
    assert_eq!(frag["status"], "approved");
    assert!(!frag.contains_key("auth_intent_token") && !frag.contains_key("token"));

    let r = poll(&app, &device_code, None).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["email"], "octo-device@example.com");
    assert_eq!(r.data()["user"]["signup_method"], "github");
}

#[tokio::test]
async fn github_on_the_page_with_two_factor_continues_with_the_code() {
    let (app, fake) = spawn().await;
    let mut e = enrolled(&app, "octo-2fa@example.com").await;
    let (device_code, user_code) = start(&app, json!({})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/device/authorize", app.base))
        .query(&[("ticket", ticket.as_str()), ("provider", "github")])
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let attempt = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-hoody-oauth-"))
        .unwrap();
    let location = reqwest::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
    let state: String = location.query_pairs().find(|(k, _)| k == "state").unwrap().1.into_owned();
    // The provider vouches for the enrolled account's address: the same account, 2FA on.
    github_user(&fake, "dev2", json!(5151), "octo-2fa@example.com");
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/github/callback", app.base))
        .query(&[("code", "dev2"), ("state", state.as_str())])
        .header("cookie", attempt)
        .send()
        .await
        .unwrap();
    let loc = res.headers()["location"].to_str().unwrap().to_owned();
    let frag = url_pairs(loc.split_once('#').unwrap().1);
    assert_eq!(frag["requires_2fa"], "true");
    refused(&poll(&app, &device_code, None).await, "authorization_pending");
    let v = app
        .post("/api/v1/users/auth/2fa/verify", json!({"temp_token": frag["temp_token"], "code": e.auth.next().await}))
        .await;
    v.expect(200);
    assert_eq!(v.data(), &json!({"status": "approved"}));
    interval_passes(&app).await;
    let r = poll(&app, &device_code, None).await;
    r.expect(200);
    assert_eq!(r.data()["user"]["id"], e.session.user_id.as_str());
}

#[tokio::test]
async fn an_unconfigured_provider_sends_the_page_back_and_keeps_the_ticket() {
    let app = TestApp::spawn().await;
    let (device_code, user_code) = start(&app, json!({})).await;
    let (ticket, cookie) = confirm(&app, &user_code).await;
    let res = no_redirects()
        .get(format!("{}/api/v1/auth/device/authorize", app.base))
        .query(&[("ticket", ticket.as_str()), ("provider", "google")])
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    assert!(res.headers()["location"].to_str().unwrap().ends_with("/device?error=provider_unavailable"));
    // The ticket still works.
    step(&app, DENY, Some(&cookie), json!({"ticket": ticket})).await.expect(200);
    refused(&poll(&app, &device_code, None).await, "access_denied");
}
