//! Who may use the vault: each account only its own (another's key is missing to it); auth
//! tokens only with `vault_access` and `resources.vault`; realm-restricted tokens only in their
//! realms.

use reqwest::Method;
use serde_json::{json, Value};

use super::{get, in_realm, key_path, put, stored, KEYS, STATS, VAULT};
use crate::{harness::TestApp, permissions::tree};

/// The six routes, on key `k` (a body for the PUT), in `realm`.
fn routes(realm: Option<&str>) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::PUT, key_path("k", realm), Some(json!({"value": "from-a-token"}))),
        (Method::GET, key_path("k", realm), None),
        (Method::GET, in_realm(KEYS, realm), None),
        (Method::GET, in_realm(STATS, realm), None),
        (Method::DELETE, key_path("k", realm), None),
        (Method::DELETE, in_realm(VAULT, realm), None),
    ]
}

#[tokio::test]
async fn another_accounts_key_is_missing() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("vault-a@example.com").await;
    let b = app.verified_user("vault-b@example.com").await;
    put(&app, &a.token, "shared-name", None, json!({"value": "a-secret"})).await.expect(200);

    for (method, path) in [
        (Method::GET, key_path("shared-name", None)),
        (Method::GET, format!("{}?version=1", key_path("shared-name", None))),
        (Method::DELETE, key_path("shared-name", None)),
    ] {
        let r = app.request(method, &path, Some(&b.token), None).await;
        r.expect(404);
        assert_eq!(r.code(), "vault_key_not_found");
    }
    assert_eq!(app.get(KEYS, Some(&b.token)).await.data(), &json!([]));
    assert_eq!(app.get(STATS, Some(&b.token)).await.data()["total_keys"], 0);
    assert_eq!(app.request(Method::DELETE, VAULT, Some(&b.token), None).await.data()["deleted_count"], 0);
    // B writing the same name writes B's own key; A's is untouched.
    let r = put(&app, &b.token, "shared-name", None, json!({"value": "b-secret"})).await;
    r.expect(200);
    assert_eq!(super::etag(&r), "\"file:v1\"");
    assert_eq!(get(&app, &a.token, "shared-name", None).await.data()["value"], "a-secret");
    assert_eq!(stored(&app, &a.user_id).await, vec![("".into(), "shared-name".into(), 1, 8)]);
    assert_eq!(stored(&app, &b.user_id).await, vec![("".into(), "shared-name".into(), 1, 8)]);
}

#[tokio::test]
async fn auth_tokens_need_vault_access_and_the_leaf() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-tokens@example.com").await;
    let (flag_only, _) =
        app.new_token(&s.token, json!({"vault_access": true, "permissions": tree(&["resources.read_account"])})).await;
    let (leaf_only, _) = app.new_token(&s.token, json!({"permissions": tree(&["resources.vault"])})).await;
    let (leaf_flag_off, _) =
        app.new_token(&s.token, json!({"vault_access": false, "permission_template": "full_access"})).await;
    let (both, _) =
        app.new_token(&s.token, json!({"vault_access": true, "permissions": tree(&["resources.vault"])})).await;

    for (method, path, body) in routes(None) {
        let before = stored(&app, &s.user_id).await;
        let r = app.request(method.clone(), &path, Some(&flag_only), body.clone()).await;
        r.expect(403);
        assert_eq!(r.code(), "insufficient_permissions", "{method} {path}");
        assert!(r.body["message"].as_str().unwrap().contains("resources.vault"));
        for token in [&leaf_only, &leaf_flag_off] {
            let r = app.request(method.clone(), &path, Some(token), body.clone()).await;
            r.expect(403);
            assert_eq!(r.code(), "vault_access_denied", "{method} {path}");
        }
        assert_eq!(stored(&app, &s.user_id).await, before, "{method} {path}: a refused call changed the vault");
        app.request(method, &path, Some(&both), body).await.expect(200);
    }
    // A session is not gated; the token wrote into the same vault as the session reads.
    put(&app, &both, "k", None, json!({"value": "via-token"})).await.expect(200);
    assert_eq!(get(&app, &s.token, "k", None).await.data()["value"], "via-token");
}

#[tokio::test]
async fn a_realm_restricted_token_sees_only_its_realms() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-realms@example.com").await;
    let (mine, other) = (hoody_api::db::new_id(), hoody_api::db::new_id());
    put(&app, &s.token, "k", Some(&other), json!({"value": "other-realm"})).await.expect(200);
    put(&app, &s.token, "k", None, json!({"value": "global"})).await.expect(200);
    let (secret, _) = app
        .new_token(
            &s.token,
            json!({"vault_access": true, "permissions": tree(&["resources.vault"]), "realm_ids": [mine]}),
        )
        .await;

    // Its realm, in either case, and by host.
    for (method, path, body) in routes(Some(&mine.to_uppercase())) {
        app.request(method, &path, Some(&secret), body).await.expect(200);
    }
    put(&app, &secret, "k", Some(&mine), json!({"value": "mine"})).await.expect(200);
    let host = format!("{mine}.api.hoody.test");
    let r = app.request_with(Method::GET, &format!("{KEYS}/k"), Some(&secret), &[("host", &host)], None).await;
    r.expect(200);
    assert_eq!((&r.data()["value"], &r.data()["realm_id"]), (&json!("mine"), &json!(mine)));

    // Another realm, or none (the global scope): refused, nothing read or changed.
    for realm in [Some(other.as_str()), None] {
        for (method, path, body) in routes(realm) {
            let r = app.request(method.clone(), &path, Some(&secret), body).await;
            r.expect(403);
            assert!(["realm_not_allowed", "realm_scope_required"].contains(&r.code()), "{method} {path}: {}", r.text);
        }
    }
    assert_eq!(get(&app, &s.token, "k", Some(&other)).await.data()["value"], "other-realm");
    assert_eq!(get(&app, &s.token, "k", None).await.data()["value"], "global");
    assert_eq!(stored(&app, &s.user_id).await.len(), 3);
}
