//! The SDK's calls about the signed-in account that were missing: `GET /users/me` (alias of
//! `/users/auth/me`), `POST /users/auth/identity-claim`, `GET /auth/tokens/templates`,
//! `GET /auth/config`, `POST /users/me/onboarding` and `GET /users/me/security-history`.

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    harness::{TestApp, PASSWORD},
    permissions::tree,
    tfa::enrolled,
};

const CLAIM: &str = "/api/v1/users/auth/identity-claim";
const HISTORY: &str = "/api/v1/users/me/security-history";
const ONBOARDING: &str = "/api/v1/users/me/onboarding";

#[tokio::test]
async fn users_me_is_the_same_answer_as_users_auth_me() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("alias@example.com").await;
    let a = app.get("/api/v1/users/auth/me", Some(&s.token)).await;
    let b = app.get("/api/v1/users/me", Some(&s.token)).await;
    b.expect(200);
    assert_eq!(a.body, b.body);
    assert_eq!(b.data()["id"], s.user_id.as_str());
    // With an auth token: the same token description, and the same permission rule.
    let (token, _) = app.new_token(&s.token, json!({"permissions": tree(&["resources.read_account"])})).await;
    let a = app.get("/api/v1/users/auth/me", Some(&token)).await;
    let b = app.get("/api/v1/users/me", Some(&token)).await;
    b.expect(200);
    // The token's last use is written behind the requests: it may move between the two reads.
    let without_last_use = |mut v: serde_json::Value| {
        if let Some(t) = v["data"]["auth_token"]["token"].as_object_mut() {
            t.remove("last_used_at");
            t.remove("last_used_ip");
        }
        v
    };
    assert_eq!(without_last_use(a.body.clone()), without_last_use(b.body.clone()));
    assert!(b.data()["auth_token"]["token"]["id"].is_string());
    let (bare, _) = app.new_token(&s.token, json!({})).await;
    let r = app.get("/api/v1/users/me", Some(&bare)).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    app.get("/api/v1/users/me", None).await.expect(401);
}

#[tokio::test]
async fn static_paths_are_not_taken_for_missing_objects() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("routes-me@example.com").await;
    // Before these routes existed, `/users/{id}` and `/auth/tokens/{id}` answered them with 404.
    let r = app.get("/api/v1/users/me", Some(&s.token)).await;
    assert_ne!(r.code(), "user_not_found");
    r.expect(200);
    let r = app.get("/api/v1/auth/tokens/templates", Some(&s.token)).await;
    assert_ne!(r.code(), "token_not_found");
    r.expect(200);
    // The parameterised routes still answer for ids.
    app.get(&format!("/api/v1/users/{}", s.user_id), Some(&s.token)).await.expect(200);
    let r = app.get(&format!("/api/v1/auth/tokens/{}", hoody_api::db::new_id()), Some(&s.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "token_not_found");
}

#[tokio::test]
async fn templates_list_the_five_trees_the_readme_shows() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("tpl@example.com").await;
    let r = app.get("/api/v1/auth/tokens/templates", Some(&s.token)).await;
    r.expect(200);
    let list = r.data().as_array().unwrap();
    let names: Vec<&str> = list.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["full_access", "external_customer", "dev_team", "finance_team", "read_only"]);
    let leaf = |t: &Value, path: &str| path.split('.').fold(t, |n, p| &n[p]).as_bool().unwrap();
    for t in list {
        assert!(t["description"].as_str().is_some_and(|d| !d.is_empty()));
        // Every leaf present, no admin leaf granted.
        for l in hoody_api::auth::permissions::LEAVES.iter() {
            let v = leaf(&t["permissions"], l);
            if l.starts_with("admin.") {
                assert!(!v, "{} grants {l}", t["name"]);
            }
        }
    }
    assert!(leaf(&list[0]["permissions"], "financial.wallet.withdraw"));
    assert!(!leaf(&list[4]["permissions"], "containers.create"));
    assert!(leaf(&list[4]["permissions"], "resources.realms"));
    assert!(leaf(&list[2]["permissions"], "containers.actions.exec"));
    assert!(!leaf(&list[2]["permissions"], "projects.delete"));
    assert!(!r.text.contains("hdy_"), "no secrets");
    // A template's tree is what a token made from it holds.
    let (_, id) = app.new_token(&s.token, json!({"permission_template": "finance_team"})).await;
    let t = app.get(&format!("/api/v1/auth/tokens/{id}"), Some(&s.token)).await;
    assert_eq!(t.data()["permissions"], list[3]["permissions"]);
    // Any signed-in caller, a token with no permissions included; nobody else.
    let (bare, _) = app.new_token(&s.token, json!({})).await;
    app.get("/api/v1/auth/tokens/templates", Some(&bare)).await.expect(200);
    app.get("/api/v1/auth/tokens/templates", None).await.expect(401);
}

#[tokio::test]
async fn auth_config_says_which_ways_in_are_on() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/auth/config", None).await;
    r.expect(200);
    assert_eq!(
        r.data(),
        &json!({"password_login": true, "signup_open": true, "providers": {"github": false, "google": false},
                "device_flow": true, "popup_launch": false, "free_tier_invites": false})
    );
    let app = TestApp::spawn_with(|c| {
        c.github.client_id = Some("id".into());
        c.github.client_secret = Some("secret".into());
        c.google.client_id = Some("only-an-id".into());
        c.oauth_launch_redirect = Some("https://app.hoody.test/popup".into());
        c.free_tier_invites = true;
        c.device_flow = false;
    })
    .await;
    let d = app.get("/api/v1/auth/config", None).await.data().clone();
    assert_eq!(d["providers"], json!({"github": true, "google": false}));
    assert_eq!((d["popup_launch"].as_bool(), d["device_flow"].as_bool()), (Some(true), Some(false)));
    assert_eq!(d["free_tier_invites"], true);
}

async fn published_key(app: &TestApp) -> VerifyingKey {
    let r = app.get("/api/v1/meta/public-key", None).await;
    let bytes: [u8; 32] =
        hex::decode(r.data()["keys"][0]["public_key_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    VerifyingKey::from_bytes(&bytes).unwrap()
}

#[tokio::test]
async fn identity_claims_are_bound_to_their_audience_and_verify_offline() {
    let app = TestApp::spawn().await;
    let key = published_key(&app).await;
    let s = app.verified_user("claimer@example.com").await;
    let r = app.post_auth(CLAIM, &s.token, Some(json!({"audience": "https://app.example.com"}))).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["audience"], "https://app.example.com");
    assert_eq!(d["expires_in"], 3600);
    let c = &d["identity_claim"];
    let payload_b64 = c["payload_b64"].as_str().unwrap();
    let sig = Signature::from_slice(&hex::decode(c["signature_hex"].as_str().unwrap()).unwrap()).unwrap();
    key.verify(format!("hoody.identity_claim.v1\n{payload_b64}").as_bytes(), &sig).expect("verifies offline");
    let payload: Value = serde_json::from_slice(&STANDARD.decode(payload_b64).unwrap()).unwrap();
    assert_eq!(payload["aud"], "https://app.example.com");
    assert_eq!(payload["sub"], s.user_id.as_str());
    assert_eq!(payload["exp"].as_i64().unwrap() - payload["iat"].as_i64().unwrap(), 3600);
    let expires_at = chrono::DateTime::parse_from_rfc3339(d["expires_at"].as_str().unwrap()).unwrap();
    assert!((expires_at.timestamp() - payload["exp"].as_i64().unwrap()).abs() <= 1);

    let r = app.post_auth(CLAIM, &s.token, Some(json!({"audience": "cli", "expires_in": 60}))).await;
    r.expect(200);
    assert_eq!(r.data()["expires_in"], 60);
    // Never longer than the session itself (an access token lives one day).
    let r = app.post_auth(CLAIM, &s.token, Some(json!({"audience": "cli", "expires_in": 86400}))).await;
    r.expect(200);
    assert!(r.data()["expires_in"].as_i64().unwrap() <= 86400);

    for (body, field) in [
        (json!({"audience": "a", "expires_in": 59}), "expires_in"),
        (json!({"audience": "a", "expires_in": 86401}), "expires_in"),
        (json!({"audience": ""}), "audience"),
        (json!({"audience": "with space"}), "audience"),
        (json!({"audience": "x".repeat(256)}), "audience"),
    ] {
        let r = app.post_auth(CLAIM, &s.token, Some(body)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field);
    }
    let r = app.post_auth(CLAIM, &s.token, Some(json!({"expires_in": 60}))).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "audience");
    // First-party sessions only.
    let (token, _) = app.new_token(&s.token, json!({"permission_template": "full_access"})).await;
    let r = app.post_auth(CLAIM, &token, Some(json!({"audience": "a"}))).await;
    r.expect(403);
    assert_eq!(r.code(), "session_required");
    app.post(CLAIM, json!({"audience": "a"})).await.expect(401);
}

#[tokio::test]
async fn onboarding_milestones_keep_their_first_time() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("onboard@example.com").await;
    let r = app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": "created_first_container"}))).await;
    r.expect(200);
    let first = r.data()["onboarding"]["created_first_container"].as_str().unwrap().to_owned();
    chrono::DateTime::parse_from_rfc3339(&first).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let r = app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": "created_first_container"}))).await;
    r.expect(200);
    assert_eq!(r.data()["onboarding"]["created_first_container"], first.as_str());
    let r = app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": "invited.a-friend_2"}))).await;
    assert_eq!(r.data()["onboarding"].as_object().unwrap().len(), 2);
    // The profile shows them.
    let me = app.get("/api/v1/users/me", Some(&s.token)).await;
    assert_eq!(me.data()["onboarding"]["created_first_container"], first.as_str());

    for bad in ["", "has space", "x".repeat(65).as_str(), "ünïcode"] {
        let r = app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": bad}))).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "milestone");
    }
    app.post_auth(ONBOARDING, &s.token, Some(json!({}))).await.expect(400);
    let stored: Value = sqlx::query_scalar("select onboarding from app_user where user_id = $1")
        .bind(&s.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.as_object().unwrap().len(), 2, "nothing stored for bad input");
    // At most 100 milestones.
    sqlx::query(
        "update app_user set onboarding = (select jsonb_object_agg('m' || i, 'x') from generate_series(1, 100) i) \
         where user_id = $1",
    )
    .bind(&s.user_id)
    .execute(&app.db)
    .await
    .unwrap();
    app.forget_cached();
    app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": "one_more"}))).await.expect(422);
    app.post_auth(ONBOARDING, &s.token, Some(json!({"milestone": "m7"}))).await.expect(200);
    // Sessions only.
    let (token, _) = app.new_token(&s.token, json!({"permission_template": "full_access"})).await;
    let r = app.post_auth(ONBOARDING, &token, Some(json!({"milestone": "x"}))).await;
    r.expect(403);
    app.post(ONBOARDING, json!({"milestone": "x"})).await.expect(401);
}

#[tokio::test]
async fn security_history_lists_sign_ins_failures_and_changes() {
    let app = TestApp::spawn().await;
    let mut e = enrolled(&app, "history@example.com").await;
    let other = app.verified_user("other-history@example.com").await;
    // A rejected password, then a sign-in with the second factor.
    app.post("/api/v1/users/auth/login", json!({"email": "history@example.com", "password": "Not-The-Password-1"}))
        .await
        .expect(401);
    // Failures are written behind the answer.
    for _ in 0..50 {
        let n: i64 = sqlx::query_scalar("select count(*) from security_event where kind = 'login.failed'")
            .fetch_one(&app.db)
            .await
            .unwrap();
        if n == 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Unknown addresses are never recorded.
    app.post("/api/v1/users/auth/login", json!({"email": "nobody@example.com", "password": "Not-The-Password-1"}))
        .await
        .expect(401);
    let r = app.post("/api/v1/users/auth/login", json!({"email": "history@example.com", "password": PASSWORD})).await;
    let temp = r.data()["temp_token"].as_str().unwrap().to_owned();
    let v = app.post("/api/v1/users/auth/2fa/verify", json!({"temp_token": temp, "code": e.auth.next().await})).await;
    v.expect(200);
    let token = v.data()["token"].as_str().unwrap().to_owned();

    let r = app.get(HISTORY, Some(&token)).await;
    r.expect(200);
    let events: Vec<&str> = r.data().as_array().unwrap().iter().map(|x| x["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["login"], "by default: successful sign-ins only");
    let entry = &r.data()[0];
    assert_eq!(entry["outcome"], "success");
    assert_eq!(entry["ip_address"], "127.0.0.1");
    assert!(entry["country"].is_null() && entry.get("client").is_some());
    assert_eq!(r.body["metadata"], json!({"total": 1, "page": 1, "limit": 20, "pages": 1}));

    let r = app.get(&format!("{HISTORY}?include_failed=true&include_security=true"), Some(&token)).await;
    r.expect(200);
    let events: Vec<&str> = r.data().as_array().unwrap().iter().map(|x| x["event"].as_str().unwrap()).collect();
    assert_eq!(events, ["login", "login.failed", "2fa.enabled"], "newest first");
    assert_eq!(r.data()[1]["outcome"], "failed");
    let r = app.get(&format!("{HISTORY}?include_security=true&limit=1&page=2"), Some(&token)).await;
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    assert_eq!(r.data()[0]["event"], "2fa.enabled");
    assert_eq!(r.body["metadata"], json!({"total": 2, "page": 2, "limit": 1, "pages": 2}));

    let failures: i64 = sqlx::query_scalar("select count(*) from security_event where kind = 'login.failed'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failures, 1, "only the existing account's failure");
    // The other account sees only its own.
    let r = app.get(&format!("{HISTORY}?include_failed=true&include_security=true"), Some(&other.token)).await;
    assert_eq!(r.body["metadata"]["total"], 0);
    assert_eq!(r.data(), &json!([]));

    for q in ["page=0", "page=100001", "limit=0", "limit=101"] {
        let r = app.get(&format!("{HISTORY}?{q}"), Some(&token)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], q.split('=').next().unwrap());
    }
    // Auth tokens need resources.read_account.
    let (bare, _) = app.new_token(&other.token, json!({})).await;
    app.get(HISTORY, Some(&bare)).await.expect(403);
    let (reader, _) = app.new_token(&other.token, json!({"permissions": tree(&["resources.read_account"])})).await;
    app.get(HISTORY, Some(&reader)).await.expect(200);
    app.request(Method::GET, HISTORY, None, None).await.expect(401);
    // Append-only: there is no route to change or remove entries.
    let r = app.request(Method::DELETE, HISTORY, Some(&token), None).await;
    assert_eq!(r.status, 405);
}
