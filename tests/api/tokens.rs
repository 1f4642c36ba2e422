//! Auth tokens over HTTP: the secret, each endpoint's success, bad input and permission cases,
//! and the rules every use checks (enabled, expiry, whitelist, realm, ban).

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

const TOKENS: &str = "/api/v1/auth/tokens";
const ME: &str = "/api/v1/users/auth/me";

fn full() -> Value {
    json!({"permission_template": "full_access"})
}

async fn put(app: &TestApp, path: &str, bearer: &str, body: Value) -> Resp {
    app.request(Method::PUT, path, Some(bearer), Some(body)).await
}

#[tokio::test]
async fn create_shows_the_secret_once_and_stores_only_its_hash() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("tok@example.com").await;
    let r = app.post_auth(TOKENS, &s.token, Some(json!({"alias": "ci", "permission_template": "read_only"}))).await;
    r.expect(201);
    let d = r.data();
    let secret = d["token"].as_str().unwrap();
    assert!(secret.starts_with("hdy_") && secret.len() == 76, "{secret}");
    assert!(secret.starts_with(d["prefix"].as_str().unwrap()));
    assert_eq!(d["alias"], "ci");
    assert_eq!(d["ip_whitelist"], json!(["*"]));
    assert_eq!(d["permissions"]["projects"]["read"], true);
    assert_eq!(d["permissions"]["projects"]["create"], false);
    assert_eq!(d["permissions"]["admin"]["users"], false);
    assert_eq!(
        (d["vault_access"].clone(), d["event_access"].clone(), d["is_enabled"].clone()),
        (json!(false), json!(true), json!(true))
    );
    assert_eq!(d["delegation_depth"], 0);
    assert!(d["created_by_token_id"].is_null() && d["expires_at"].is_null());
    let id = d["id"].as_str().unwrap();

    // Never again: not in get, list, me.
    for path in [format!("{TOKENS}/{id}"), TOKENS.to_owned()] {
        let again = app.get(&path, Some(&s.token)).await;
        again.expect(200);
        assert!(!again.text.contains(secret), "{path} shows the secret");
    }
    // The database holds SHA-256 of it, never the text.
    let dump: String =
        sqlx::query_scalar("select string_agg(t::text, '|') from auth_token t").fetch_one(&app.db).await.unwrap();
    assert!(!dump.contains(&secret[4..]));
    let hash: Vec<u8> = sqlx::query_scalar("select secret_hash from auth_token").fetch_one(&app.db).await.unwrap();
    use sha2::Digest;
    assert_eq!(hash, sha2::Sha256::digest(secret.as_bytes()).to_vec());

    // It authenticates, as Bearer and bare.
    let me = app.get(ME, Some(secret)).await;
    me.expect(200);
    assert_eq!(me.data()["id"], s.user_id.as_str());
    assert_eq!(me.data()["auth_token"]["token"]["id"], id);
    assert_eq!(me.data()["auth_token"]["restrictions"]["has_realm_restrictions"], false);
    let bare = app.request_with(Method::GET, ME, None, &[("authorization", secret)], None).await;
    bare.expect(200);
    // A random alias when none is given.
    let r = app.post_auth(TOKENS, &s.token, Some(json!({}))).await;
    r.expect(201);
    assert!(r.data()["alias"].as_str().unwrap().contains('-'));
    assert_eq!(r.data()["permissions"]["containers"]["read"], false, "no permissions unless asked");
}

#[tokio::test]
async fn garbage_and_forged_secrets_are_refused() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("forge@example.com").await;
    let (secret, _) = app.new_token(&s.token, full()).await;
    let mut forged = secret.clone();
    forged.replace_range(10..11, if &secret[10..11] == "a" { "b" } else { "a" });
    for bad in ["hdy_nope", forged.as_str(), &secret[..75]] {
        let r = app.get(ME, Some(bad)).await;
        r.expect(401);
    }
}

#[tokio::test]
async fn create_rejects_bad_input_with_4xx() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("badtok@example.com").await;
    let cases = [
        (json!({"permission_template": "root"}), 422, "permission_template"),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), 422, "expires_at"),
        (json!({"expires_at": 5}), 422, "expires_at"),
        (json!({"expires_at": "someday"}), 422, "expires_at"),
        (json!({"ip_whitelist": ["300.1.1.1"]}), 422, "ip_whitelist"),
        (json!({"ip_whitelist": "::1"}), 422, "ip_whitelist"),
        (json!({"realm_ids": ["nothex"]}), 422, "realm_ids"),
        (json!({"public_key": "abc"}), 422, "public_key"),
        (json!({"public_storage": [1, 2]}), 422, "public_storage"),
        (json!({"public_storage": {"blob": "x".repeat(70 * 1024)}}), 422, "public_storage"),
        (json!({"alias": ""}), 422, "alias"),
        (json!({"permissions": {"containers": {"teleport": true}}}), 422, ""),
        (json!({"surprise": 1}), 422, ""),
        (json!({"vault_access": "yes"}), 400, ""),
        (json!({"ip_whitelist": 7}), 400, ""),
    ];
    for (body, status, field) in cases {
        let r = app.post_auth(TOKENS, &s.token, Some(body.clone())).await;
        r.expect(status);
        if !field.is_empty() {
            assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}: {}", r.text);
        }
    }
    let n: i64 = sqlx::query_scalar("select count(*) from auth_token").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "nothing was stored");
    // Without credentials: 401.
    app.post(TOKENS, json!({})).await.expect(401);
}

#[tokio::test]
async fn expiry_forms_and_templates() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("forms@example.com").await;
    let today = chrono::Utc::now().date_naive();
    for (v, day) in [(json!("today"), today), (json!("tomorrow"), today.succ_opt().unwrap())] {
        let r = app.post_auth(TOKENS, &s.token, Some(json!({"expires_at": v}))).await;
        r.expect(201);
        assert_eq!(r.data()["expires_at"], format!("{day}T23:59:59.999Z"));
    }
    let unix = chrono::Utc::now().timestamp() + 3600;
    let r = app.post_auth(TOKENS, &s.token, Some(json!({"expires_at": unix}))).await;
    r.expect(201);
    let at = chrono::DateTime::parse_from_rfc3339(r.data()["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(at.timestamp(), unix);
    // The template wins over explicit permissions.
    let r = app
        .post_auth(
            TOKENS,
            &s.token,
            Some(json!({"permission_template": "finance_team", "permissions": {"containers": {"delete": true}}})),
        )
        .await;
    r.expect(201);
    assert_eq!(r.data()["permissions"]["containers"]["delete"], false);
    assert_eq!(r.data()["permissions"]["financial"]["wallet"]["transfer"], true);
    // Whitelist forms are canonical.
    let r = app.post_auth(TOKENS, &s.token, Some(json!({"ip_whitelist": "10.1.2.3/8, 192.168.0.7"}))).await;
    r.expect(201);
    assert_eq!(r.data()["ip_whitelist"], json!(["10.0.0.0/8", "192.168.0.7/32"]));
}

#[tokio::test]
async fn list_get_update_delete_and_another_users_tokens_are_404() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("owner@example.com").await;
    let b = app.verified_user("other@example.com").await;
    let (secret, id) = app.new_token(&a.token, full()).await;
    app.new_token(&a.token, json!({"alias": "second"})).await;

    let list = app.get(TOKENS, Some(&a.token)).await;
    list.expect(200);
    assert_eq!(list.data().as_array().unwrap().len(), 2);
    assert_eq!(list.body["truncated"], false);
    assert_eq!(app.get(TOKENS, Some(&b.token)).await.data(), &json!([]));

    let path = format!("{TOKENS}/{id}");
    app.get(&path, Some(&a.token)).await.expect(200);
    let missing = app.get(&path, Some(&b.token)).await;
    missing.expect(404);
    let absent = app.get(&format!("{TOKENS}/{}", hoody_api::db::new_id()), Some(&b.token)).await;
    assert_eq!(missing.body["message"], absent.body["message"]);
    assert_eq!(missing.code(), absent.code());
    put(&app, &path, &b.token, json!({"alias": "mine now"})).await.expect(404);
    app.request(Method::DELETE, &path, Some(&b.token), None).await.expect(404);
    app.get(&format!("{TOKENS}/not-an-id"), Some(&a.token)).await.expect(404);

    let r = put(
        &app,
        &path,
        &a.token,
        json!({"alias": "renamed", "permissions": {"projects": {"read": true}}, "expires_at": "tomorrow"}),
    )
    .await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "renamed");
    assert_eq!(r.data()["permissions"]["projects"]["read"], true);
    assert_eq!(r.data()["permissions"]["containers"]["read"], false, "permissions replace the tree");
    assert!(r.data()["expires_at"].is_string());
    put(&app, &path, &a.token, json!({"expires_at": "1999-01-01T00:00:00Z"})).await.expect(422);
    put(&app, &path, &a.token, json!({"is_enabled": "no"})).await.expect(400);
    let r = put(&app, &path, &a.token, json!({"expires_at": null})).await;
    r.expect(200);
    assert!(r.data()["expires_at"].is_null());

    app.request(Method::DELETE, &path, Some(&a.token), None).await.expect(200);
    app.get(&path, Some(&a.token)).await.expect(404);
    app.get(ME, Some(&secret)).await.expect(401);
}

#[tokio::test]
async fn disabled_and_expired_tokens_are_refused_on_the_next_request() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("life@example.com").await;
    let (secret, id) = app.new_token(&s.token, full()).await;
    app.get(ME, Some(&secret)).await.expect(200);
    put(&app, &format!("{TOKENS}/{id}"), &s.token, json!({"is_enabled": false})).await.expect(200);
    let r = app.get(ME, Some(&secret)).await;
    r.expect(401);
    assert_eq!(r.code(), "token_disabled");
    put(&app, &format!("{TOKENS}/{id}"), &s.token, json!({"is_enabled": true})).await.expect(200);
    app.get(ME, Some(&secret)).await.expect(200);
    sqlx::query("update auth_token set expires_at = now() - interval '1 second'").execute(&app.db).await.unwrap();
    // Changed in the database behind the server's back: its notification may come after the
    // next request, so the replica is made to forget now.
    app.forget_cached();
    let r = app.get(ME, Some(&secret)).await;
    r.expect(401);
    assert_eq!(r.code(), "token_expired");
}

#[tokio::test]
async fn the_ip_whitelist_checks_the_real_client_address() {
    let app = TestApp::spawn_with(|c| c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()]).await;
    let s = app.verified_user("ip@example.com").await;
    let (secret, _) =
        app.new_token(&s.token, json!({"permission_template": "read_only", "ip_whitelist": ["203.0.113.0/24"]})).await;
    let from = |ip: &'static str| [("x-forwarded-for", ip)];
    let ok = app.request_with(Method::GET, ME, Some(&secret), &from("203.0.113.9"), None).await;
    ok.expect(200);
    let r = app.request_with(Method::GET, ME, Some(&secret), &from("198.51.100.1"), None).await;
    r.expect(403);
    assert_eq!(r.code(), "ip_not_allowed");
    // From the peer itself (127.0.0.1): not on the list.
    app.get(ME, Some(&secret)).await.expect(403);

    // An untrusted peer's X-Forwarded-For is not believed.
    let app2 = TestApp::spawn().await;
    let s2 = app2.verified_user("ip2@example.com").await;
    let (secret2, _) =
        app2.new_token(&s2.token, json!({"permission_template": "read_only", "ip_whitelist": "203.0.113.9"})).await;
    app2.request_with(Method::GET, ME, Some(&secret2), &from("203.0.113.9"), None).await.expect(403);
}

#[tokio::test]
async fn realm_restricted_tokens_work_only_inside_their_realms() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("realm@example.com").await;
    let realm = hoody_api::db::new_id();
    let other = hoody_api::db::new_id();
    let (secret, id) = app.new_token(&s.token, json!({"permission_template": "read_only", "realm_ids": [realm]})).await;
    let host = format!("{realm}.api.hoody.test");
    let inside =
        app.request_with(Method::GET, "/api/v1/auth/tokens/me", Some(&secret), &[("host", host.as_str())], None).await;
    inside.expect(200);
    let r = &inside.data()["restrictions"];
    assert_eq!(r["has_realm_restrictions"], true);
    assert_eq!(r["requires_realm_scope"], true);
    assert_eq!(r["allowed_realm_ids"], json!([realm]));
    assert_eq!(r["active_realm_id"], realm.as_str());
    app.get(&format!("{ME}?realm_id={realm}"), Some(&secret)).await.expect(200);

    let outside = app.get(ME, Some(&secret)).await;
    outside.expect(403);
    assert!(outside.body["message"].as_str().unwrap().contains("requires a realm-scoped URL"));
    let wrong = app.get(&format!("{ME}?realm_id={other}"), Some(&secret)).await;
    wrong.expect(403);
    assert!(wrong.body["message"].as_str().unwrap().contains("not valid for realm"));
    app.get(&format!("{ME}?realm_id=XYZ"), Some(&secret)).await.expect(400);

    // allow_no_realm: false without realms: any realm, never the base domain.
    let (strict, _) =
        app.new_token(&s.token, json!({"permission_template": "read_only", "allow_no_realm": false})).await;
    app.get(ME, Some(&strict)).await.expect(403);
    app.get(&format!("{ME}?realm_id={other}"), Some(&strict)).await.expect(200);

    // Add and remove realms (a session is unrestricted).
    let add = app.post_auth(&format!("{TOKENS}/{id}/add-realm"), &s.token, Some(json!({"realm_id": other}))).await;
    add.expect(200);
    assert_eq!(add.data()["realm_ids"], json!([realm, other]));
    app.get(&format!("{ME}?realm_id={other}"), Some(&secret)).await.expect(200);
    let rm = app.post_auth(&format!("{TOKENS}/{id}/remove-realm"), &s.token, Some(json!({"realm_id": realm}))).await;
    rm.expect(200);
    assert_eq!(rm.data()["realm_ids"], json!([other]));
    app.get(&format!("{ME}?realm_id={realm}"), Some(&secret)).await.expect(403);
    app.post_auth(&format!("{TOKENS}/{id}/add-realm"), &s.token, Some(json!({"realm_id": "ABC"}))).await.expect(422);
    app.post_auth(&format!("{TOKENS}/{id}/add-realm"), &s.token, Some(json!({}))).await.expect(400);

    // A realm-restricted token may not change realm_ids, even of tokens it minted.
    let (restricted, _) =
        app.new_token(&s.token, json!({"permission_template": "full_access", "realm_ids": [realm]})).await;
    let q = format!("?realm_id={realm}");
    let child = app
        .post_auth(
            &format!("{TOKENS}{q}"),
            &restricted,
            Some(json!({"permission_template": "read_only", "realm_ids": [realm]})),
        )
        .await;
    child.expect(201);
    let child_id = child.data()["id"].as_str().unwrap();
    let r = app
        .post_auth(&format!("{TOKENS}/{child_id}/remove-realm{q}"), &restricted, Some(json!({"realm_id": realm})))
        .await;
    r.expect(403);
    assert_eq!(r.code(), "realm_change_forbidden");

    // The realms list counts what names each realm: tokens and projects here.
    let p =
        app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "In realm", "realm_ids": [realm]}))).await;
    p.expect(201);
    let realms = app.get("/api/v1/realms/?include_usage=true", Some(&s.token)).await;
    realms.expect(200);
    assert_eq!(realms.data()["total"], 2);
    assert_eq!(realms.data()["usage"][&realm]["auth_tokens"], 2);
    assert_eq!(realms.data()["usage"][&realm]["projects"], 1);
    assert_eq!(realms.data()["usage"][&realm]["containers"], 0);
    let only = app.get(&format!("/api/v1/realms/{q}"), Some(&restricted)).await;
    only.expect(200);
    assert_eq!(only.data()["realm_ids"], json!([realm]));
    assert!(only.data().get("usage").is_none());
}

#[tokio::test]
async fn a_token_never_mints_more_than_it_holds() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("atten@example.com").await;
    let (parent, parent_id) = app
        .new_token(
            &s.token,
            json!({"permissions": {"resources": {"create_tokens": true, "read_account": true}, "projects": {"read": true}},
                   "ip_whitelist": "127.0.0.0/8", "expires_at": "tomorrow"}),
        )
        .await;
    let ask = |body: Value| {
        let app = &app;
        let parent = parent.clone();
        async move { app.post_auth(TOKENS, &parent, Some(body)).await }
    };
    let tomorrow = "tomorrow";
    for (body, what) in [
        (
            json!({"permissions": {"projects": {"delete": true}}, "ip_whitelist": "127.0.0.1", "expires_at": tomorrow}),
            "projects.delete",
        ),
        (
            json!({"permission_template": "full_access", "ip_whitelist": "127.0.0.1", "expires_at": tomorrow}),
            "permissions",
        ),
        (json!({"ip_whitelist": "*", "expires_at": tomorrow}), "ip_whitelist"),
        (json!({"ip_whitelist": "127.0.0.1"}), "expiry"),
        (json!({"ip_whitelist": "127.0.0.1", "expires_at": tomorrow, "vault_access": true}), "vault_access"),
    ] {
        let r = ask(body).await;
        r.expect(403);
        assert_eq!(r.code(), "exceeds_creator", "{what}");
        assert!(r.body["message"].as_str().unwrap().contains(what.split('.').next().unwrap()), "{what}: {}", r.text);
    }
    let ok = ask(json!({"permissions": {"projects": {"read": true}, "resources": {"create_tokens": true}},
        "ip_whitelist": "127.0.0.1", "expires_at": "today"}))
    .await;
    ok.expect(201);
    assert_eq!(ok.data()["created_by_token_id"], parent_id.as_str());
    assert_eq!(ok.data()["delegation_depth"], 1);
    let child = ok.data()["token"].as_str().unwrap().to_owned();
    let child_id = ok.data()["id"].as_str().unwrap().to_owned();

    // PUT by the parent cannot raise the child above the parent either.
    let r = put(&app, &format!("{TOKENS}/{child_id}"), &parent, json!({"permissions": {"projects": {"update": true}}}))
        .await;
    r.expect(403);
    // The parent sees itself and its child; the child sees only itself; siblings are hidden.
    let (_sibling, sibling_id) = app.new_token(&s.token, full()).await;
    assert_eq!(app.get(TOKENS, Some(&parent)).await.data().as_array().unwrap().len(), 2);
    app.get(&format!("{TOKENS}/{sibling_id}"), Some(&parent)).await.expect(404);
    assert_eq!(app.get(TOKENS, Some(&child)).await.data().as_array().unwrap().len(), 1);
    app.get(&format!("{TOKENS}/{parent_id}"), Some(&child)).await.expect(404);

    // Copy by a token: same attenuation, and the copy is its child.
    let copy = app.post_auth(&format!("{TOKENS}/{child_id}/copy"), &parent, Some(json!({}))).await;
    copy.expect(201);
    assert_eq!(copy.data()["created_by_token_id"], parent_id.as_str());
    assert_ne!(copy.data()["token"], child.as_str());

    // Disabling the parent disables everything it minted, down the chain.
    put(&app, &format!("{TOKENS}/{parent_id}"), &s.token, json!({"is_enabled": false})).await.expect(200);
    app.get(ME, Some(&child)).await.expect(401);
    let grandchild_enabled: Vec<bool> =
        sqlx::query_scalar("select is_enabled from auth_token where created_by_token_id is not null")
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(grandchild_enabled.iter().all(|e| !e));
}

#[tokio::test]
async fn deleting_a_parent_disables_its_descendants_and_deny_reauthorization_holds() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("tree@example.com").await;
    let (parent, parent_id) = app.new_token(&s.token, full()).await;
    let (child, _) = app
        .new_token(&parent, json!({"permissions": {"resources": {"create_tokens": true, "read_account": true}}}))
        .await;
    let (grandchild, _) = app.new_token(&child, json!({"permissions": {"resources": {"read_account": true}}})).await;
    app.get(ME, Some(&grandchild)).await.expect(200);
    app.request(Method::DELETE, &format!("{TOKENS}/{parent_id}"), Some(&s.token), None).await.expect(200);
    app.get(ME, Some(&child)).await.expect(401);
    app.get(ME, Some(&grandchild)).await.expect(401);

    let (sealed, _) =
        app.new_token(&s.token, json!({"permission_template": "full_access", "deny_reauthorization": true})).await;
    let r = app.post_auth(TOKENS, &sealed, Some(json!({}))).await;
    r.expect(403);
    assert_eq!(r.code(), "reauthorization_denied");
}

#[tokio::test]
async fn copy_keeps_settings_with_a_new_secret() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("copy@example.com").await;
    let key = "ab".repeat(32);
    let (_, id) = app
        .new_token(
            &s.token,
            json!({"alias": "src", "permission_template": "dev_team", "public_key": key, "expires_at": "tomorrow"}),
        )
        .await;
    let r = app.post_auth(&format!("{TOKENS}/{id}/copy"), &s.token, Some(json!({}))).await;
    r.expect(201);
    assert_eq!(r.data()["alias"], "src copy");
    assert_eq!(r.data()["permissions"]["containers"]["create"], true);
    assert!(r.data()["public_key"].is_null(), "the public key stays with the source");
    assert!(r.data()["expires_at"].is_string());
    let r = app
        .post_auth(&format!("{TOKENS}/{id}/copy"), &s.token, Some(json!({"alias": "mine", "expires_at": null})))
        .await;
    r.expect(201);
    assert!(r.data()["expires_at"].is_null());
    app.post_auth(&format!("{TOKENS}/{id}/copy"), &s.token, Some(json!({"expires_at": "yesterday"}))).await.expect(422);
    let other = app.verified_user("copy2@example.com").await;
    app.post_auth(&format!("{TOKENS}/{id}/copy"), &other.token, Some(json!({}))).await.expect(404);
    // A duplicate public key is a 409.
    let dup = app.post_auth(TOKENS, &s.token, Some(json!({"public_key": key.to_uppercase()}))).await;
    dup.expect(409);
    assert_eq!(dup.code(), "public_key_in_use");
}

#[tokio::test]
async fn public_profiles() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("profile@example.com").await;
    let (secret, _) =
        app.new_token(&s.token, json!({"permissions": {"resources": {"auth_token_public_profile": true}}})).await;
    let key = "cd".repeat(32);
    let path = "/api/v1/auth/tokens/me/public-profile";
    let r = put(&app, path, &secret, json!({"public_key": key, "public_storage": {"name": "bot"}})).await;
    r.expect(200);
    assert_eq!(r.data()["public_key"], key.as_str());
    let public = app.get(&format!("/api/v1/auth/tokens/public-profiles/{key}"), None).await;
    public.expect(200);
    assert_eq!(public.data(), &json!({"public_key": key, "public_storage": {"name": "bot"}}));
    app.get(&format!("/api/v1/auth/tokens/public-profiles/{}", "ef".repeat(32)), None).await.expect(404);
    app.get("/api/v1/auth/tokens/public-profiles/xyz", None).await.expect(400);
    put(&app, path, &secret, json!({})).await.expect(422);
    put(&app, path, &secret, json!({"public_storage": {"blob": "y".repeat(65 * 1024)}})).await.expect(422);
    put(&app, path, &secret, json!({"public_storage": null})).await.expect(200);
    // A session has no "current token".
    put(&app, path, &s.token, json!({"public_storage": null})).await.expect(400);
    app.get("/api/v1/auth/tokens/me", Some(&s.token)).await.expect(400);
    // Without the leaf: 403.
    let (plain, _) = app.new_token(&s.token, json!({})).await;
    put(&app, path, &plain, json!({"public_storage": null})).await.expect(403);
}

#[tokio::test]
async fn the_token_gate_asks_sessions_for_a_code() {
    let app = TestApp::spawn().await;
    let mut e = crate::tfa::enrolled(&app, "gate@example.com").await;
    let jwt = e.session.token.clone();
    let r =
        put(&app, "/api/v1/users/auth/2fa/token-gate", &jwt, json!({"enabled": true, "otp_code": e.auth.next().await}))
            .await;
    r.expect(200);
    let r = app.post_auth(TOKENS, &jwt, Some(full())).await;
    r.expect(403);
    assert_eq!(r.code(), "otp_required");
    let mut body = full();
    body["otp_code"] = json!("000000");
    app.post_auth(TOKENS, &jwt, Some(body.clone())).await.expect(401);
    // A backup code works too (the authenticator has only three fresh steps per window).
    body["otp_code"] = json!(e.backup_codes[0]);
    let r = app.post_auth(TOKENS, &jwt, Some(body)).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let secret = r.data()["token"].as_str().unwrap().to_owned();
    put(&app, &format!("{TOKENS}/{id}"), &jwt, json!({"vault_access": true})).await.expect(403);
    app.post_auth(&format!("{TOKENS}/{id}/copy"), &jwt, Some(json!({}))).await.expect(403);
    app.post_auth(&format!("{TOKENS}/{id}/add-realm"), &jwt, Some(json!({"realm_id": hoody_api::db::new_id()})))
        .await
        .expect(403);
    // An auth token is not asked (it cannot hold a code).
    app.post_auth(TOKENS, &secret, Some(json!({}))).await.expect(201);
    let r = put(&app, &format!("{TOKENS}/{id}"), &jwt, json!({"vault_access": true, "otp_code": e.auth.next().await}))
        .await;
    r.expect(200);
    assert_eq!(r.data()["vault_access"], true);
}

/// Revoking only narrows access, so it is never gated: an SDK user (who cannot send an OTP on
/// DELETE) can always revoke a leaked token. Widening, re-enabling and realm changes still are.
#[tokio::test]
async fn deleting_or_disabling_a_token_is_never_gated() {
    let app = TestApp::spawn().await;
    let e = crate::tfa::enrolled(&app, "leak@example.com").await;
    let jwt = e.session.token.clone();
    let mint = |code: &str| json!({"permission_template": "read_only", "otp_code": code});
    app.post_auth(TOKENS, &jwt, Some(json!({"permission_template": "read_only"}))).await.expect(403);
    let (leaked, leaked_id) = app.new_token(&jwt, mint(&e.backup_codes[0])).await;
    let (other, other_id) = app.new_token(&jwt, mint(&e.backup_codes[1])).await;
    app.get(ME, Some(&leaked)).await.expect(200);

    // Disable with no code.
    let path = format!("{TOKENS}/{other_id}");
    let r = put(&app, &path, &jwt, json!({"is_enabled": false})).await;
    r.expect(200);
    assert_eq!(r.data()["is_enabled"], false);
    let r = app.get(ME, Some(&other)).await;
    r.expect(401);
    assert_eq!(r.code(), "token_disabled");
    // Narrowing while disabling needs no code either; widening or turning it back on does.
    let narrower = json!({"is_enabled": false, "permissions": {"projects": {"read": true}}, "alias": "off"});
    put(&app, &path, &jwt, narrower).await.expect(200);
    for body in [
        json!({"is_enabled": true}),
        json!({"is_enabled": false, "permissions": {"containers": {"create": true}}}),
        json!({"is_enabled": false, "vault_access": true}),
        json!({"is_enabled": false, "expires_at": null, "realm_ids": [hoody_api::db::new_id()]}),
    ] {
        let r = put(&app, &path, &jwt, body.clone()).await;
        r.expect(403);
        assert_eq!(r.code(), "otp_required", "{body}");
    }
    let row: (bool, Vec<String>) = sqlx::query_as("select is_enabled, realm_ids from auth_token where token_id = $1")
        .bind(&other_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(row, (false, Vec::new()));

    // Delete with no code, as the SDK sends it.
    app.request(Method::DELETE, &format!("{TOKENS}/{leaked_id}"), Some(&jwt), None).await.expect(200);
    app.get(ME, Some(&leaked)).await.expect(401);
    let left: i64 = sqlx::query_scalar("select count(*) from auth_token where token_id = $1")
        .bind(&leaked_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn last_use_is_written_behind_the_request() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("used@example.com").await;
    let (secret, id) = app.new_token(&s.token, full()).await;
    app.get(ME, Some(&secret)).await.expect(200);
    let mut seen = Value::Null;
    for _ in 0..50 {
        let r = app.get(&format!("{TOKENS}/{id}"), Some(&s.token)).await;
        seen = r.data().clone();
        if seen["last_used_at"].is_string() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(seen["last_used_at"].is_string(), "{seen}");
    assert_eq!(seen["last_used_ip"], "127.0.0.1");
    // Kept to the minute: used again at once, nothing is written (the row keeps its first use,
    // across several flushes, 1 s apart in tests).
    let stored = || async {
        let at: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("select last_used_at from auth_token where token_id = $1")
                .bind(&id)
                .fetch_one(&app.db)
                .await
                .unwrap();
        at
    };
    let first = stored().await;
    app.forget_cached(); // the next request reads the token with its recorded use
    app.get(ME, Some(&secret)).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(stored().await, first);
    // A minute later (the recorded use moved back), the next use is written.
    sqlx::query("update auth_token set last_used_at = last_used_at - interval '61 seconds' where token_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
    let moved = stored().await;
    app.get(ME, Some(&secret)).await.expect(200);
    let mut now = moved;
    for _ in 0..50 {
        now = stored().await;
        if now != moved {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(now > first, "{now} after {first}");
}

#[tokio::test]
async fn a_ban_refuses_sessions_and_tokens_on_the_next_request() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("banned@example.com").await;
    let (secret, _) = app.new_token(&s.token, full()).await;
    app.get(ME, Some(&secret)).await.expect(200);
    sqlx::query("update app_user set is_banned = true").execute(&app.db).await.unwrap();
    app.forget_cached();
    for bearer in [&secret, &s.token] {
        let r = app.get(ME, Some(bearer)).await;
        r.expect(403);
        assert_eq!(r.code(), "account_banned");
    }
}

#[tokio::test]
async fn token_changes_write_their_events_without_the_secret() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("token-events@example.com").await;
    let (secret, id) = app.new_token(&s.token, json!({"alias": "ev", "permission_template": "read_only"})).await;
    let path = format!("/api/v1/auth/tokens/{id}");
    put(&app, &path, &s.token, json!({"is_enabled": false})).await.expect(200);
    app.post_auth(&format!("{path}/add-realm"), &s.token, Some(json!({"realm_id": "0123456789abcdef01234567"})))
        .await
        .expect(200);
    app.request(Method::DELETE, &path, Some(&s.token), None).await.expect(200);
    let rows: Vec<(String, String, Value)> =
        sqlx::query_as("select event_type, resource_type, data from event where resource_id = $1 order by id")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    let kinds: Vec<&str> = rows.iter().map(|(k, _, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        ["auth.token.created", "auth.token.updated", "auth.token.disabled", "auth.token.updated", "auth.token.deleted"]
    );
    assert!(rows.iter().all(|(_, r, d)| r == "auth_token" && d["token_id"] == id.as_str()));
    let dump: String = rows.iter().map(|(_, _, d)| d.to_string()).collect();
    assert!(!dump.contains(&secret) && !dump.contains(&secret[4..20]), "no secret in an event");
}

/// Any number JSON carries comes back as it went in: Postgres stores jsonb numbers as decimals
/// (f64::MAX as 309 digits), and reading those back once overflowed to a 500 (schemathesis, CI).
#[tokio::test]
async fn extreme_numbers_in_public_storage_read_back_exactly() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("numbers@example.com").await;
    let storage = json!({"max": f64::MAX, "min": -f64::MAX, "tiny": 5e-324, "small": f64::MIN_POSITIVE,
        "tenth": 0.1, "big": u64::MAX, "neg": i64::MIN, "nested": [[1.7976931348623157e308, 0.2]]});
    let r = app.post_auth(TOKENS, &s.token, Some(json!({"alias": "numbers", "public_storage": storage}))).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let list = app.get(TOKENS, Some(&s.token)).await;
    list.expect(200);
    let got = list.data().as_array().unwrap().iter().find(|t| t["id"] == id.as_str()).unwrap().clone();
    assert_eq!(got["public_storage"], storage);
    let one = app.get(&format!("{TOKENS}/{id}"), Some(&s.token)).await;
    one.expect(200);
    assert_eq!(one.data()["public_storage"], storage);
}
