//! Each route on the caller's own vault, realms and the global scope, stats, events; bad input.

use reqwest::Method;
use serde_json::{json, Value};

use super::{count, etag, field, get, in_realm, key_path, put, stored, KEYS, STATS, VAULT};
use crate::harness::TestApp;

const MIB: f64 = 1024.0 * 1024.0;

#[tokio::test]
async fn every_route_works_on_the_callers_vault_per_realm() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-routes@example.com").await;
    let t = s.token.as_str();
    let realm = hoody_api::db::new_id();
    let upper = realm.to_uppercase();

    // PUT creates (global scope): the answer is what was stored, version 1 in the ETag.
    let value = "s3cret-value with ünïcödé, a NUL \u{0} and \"quotes\"";
    let meta = json!({"content_type": "text/plain", "filename": "a.txt"});
    let r = put(&app, t, "api.token_1-x", None, json!({"value": value, "metadata": meta})).await;
    r.expect(200);
    let d = r.data();
    let size = (value.len() + serde_json::to_vec(&meta).unwrap().len()) as i64;
    assert_eq!(
        (&d["key"], &d["realm_id"], &d["value"], &d["metadata"], &d["size_bytes"]),
        (&json!("api.token_1-x"), &json!(""), &json!(value), &meta, &json!(size))
    );
    assert!(d["created_at"].as_str().unwrap().ends_with('Z') && d["updated_at"].is_string(), "{}", r.text);
    assert_eq!(etag(&r), "\"file:v1\"");

    // GET reads it back.
    let r = get(&app, t, "api.token_1-x", None).await;
    r.expect(200);
    assert_eq!((&r.data()["value"], &r.data()["metadata"]), (&json!(value), &meta));
    assert_eq!(r.data()["size_bytes"], size);
    assert_eq!(etag(&r), "\"file:v1\"");

    // Overwrite (upsert) without metadata: version 2, metadata null, created_at kept.
    let created = r.data()["created_at"].clone();
    let r = put(&app, t, "api.token_1-x", None, json!({"value": "{\"json\": true}"})).await;
    r.expect(200);
    assert_eq!((&r.data()["metadata"], &r.data()["size_bytes"]), (&Value::Null, &json!(14)));
    assert_eq!(r.data()["created_at"], created);
    assert_eq!(etag(&r), "\"file:v2\"");
    let r = put(&app, t, "empty", None, json!({"value": "", "metadata": null})).await;
    r.expect(200);
    assert_eq!(r.data()["size_bytes"], 0);

    // Realm-scoped keys: ?realm_id in either case is one scope (lowercase), the host label too.
    put(&app, t, "in-realm", Some(&upper), json!({"value": "rv", "metadata": {"n": 1}})).await.expect(200);
    let host = format!("{upper}.api.hoody.test");
    let r = app
        .request_with(
            Method::PUT,
            &format!("{KEYS}/by-host"),
            Some(t),
            &[("host", &host)],
            Some(json!({"value": "hv"})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["realm_id"], realm.as_str());
    assert_eq!(
        stored(&app, &s.user_id).await,
        vec![
            ("".into(), "api.token_1-x".into(), 2, 14),
            ("".into(), "empty".into(), 1, 0),
            (realm.clone(), "by-host".into(), 1, 2),
            (realm.clone(), "in-realm".into(), 1, 9),
        ]
    );
    get(&app, t, "in-realm", None).await.expect(404);
    let r = get(&app, t, "in-realm", Some(&realm)).await;
    r.expect(200);
    assert_eq!((&r.data()["value"], &r.data()["realm_id"]), (&json!("rv"), &json!(realm)));

    // List: the scope's keys by name, metadata but never values.
    let r = app.get(KEYS, Some(t)).await;
    r.expect(200);
    let list = r.data().as_array().unwrap();
    assert_eq!(list.iter().map(|k| k["key"].as_str().unwrap()).collect::<Vec<_>>(), ["api.token_1-x", "empty"]);
    for k in list {
        assert!(k.get("value").is_none(), "a value in the list: {k}");
        assert_eq!((&k["realm_id"], &k["metadata"]), (&json!(""), &Value::Null));
        assert!(k["size_bytes"].is_i64() && k["created_at"].is_string() && k["updated_at"].is_string());
    }
    let r = app.get(&in_realm(KEYS, Some(&upper)), Some(t)).await;
    r.expect(200);
    assert_eq!(r.data()[1]["key"], "in-realm");
    assert_eq!(r.data()[1]["metadata"], json!({"n": 1}));
    assert!(!r.text.contains("rv"), "{}", r.text);

    // Stats: keys and bytes of the scope; limit, percentage and remaining over all realms (and
    // over the earlier versions kept: they are stored too).
    let used: i64 = sqlx::query_scalar(
        "select ((select coalesce(sum(size_bytes), 0) from vault_entry where user_id = $1) \
               + (select coalesce(sum(size_bytes), 0) from vault_version where user_id = $1))::bigint",
    )
    .bind(&s.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert!(used > 14 + 2 + 9, "the overwritten values are kept: {used}");
    for (scope, keys, bytes) in [(None, 2, 14), (Some(realm.as_str()), 2, 11)] {
        let r = app.get(&in_realm(STATS, scope), Some(t)).await;
        r.expect(200);
        let d = r.data();
        assert_eq!((&d["total_keys"], &d["total_size_bytes"]), (&json!(keys), &json!(bytes)), "{scope:?}");
        assert_eq!(d["limit_mb"].as_f64().unwrap(), 10.0);
        let close = |v: &Value, want: f64| (v.as_f64().unwrap() - want).abs() < 1e-5;
        assert!(close(&d["total_size_mb"], bytes as f64 / MIB), "{}", r.text);
        assert!(close(&d["remaining_mb"], 10.0 - used as f64 / MIB), "{}", r.text);
        assert!(close(&d["used_percentage"], 0.0), "{}", r.text);
    }

    // Events: one per change, with key, realm and version, never the value or metadata.
    let events: Vec<(String, String, Value, Vec<String>)> = sqlx::query_as(
        "select event_type, resource_type, data, realm_ids from event where user_id = $1 and event_type like 'vault.%' \
         order by id",
    )
    .bind(&s.user_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[1].2, json!({"key": "api.token_1-x", "realm_id": "", "version": 2}));
    assert_eq!(events[3].2, json!({"key": "in-realm", "realm_id": realm, "version": 1}));
    assert_eq!((events[3].1.as_str(), &events[3].3), ("vault", &vec![realm.clone()]));
    let all = format!("{events:?}");
    assert!(!all.contains("s3cret") && !all.contains("text/plain") && !all.contains("rv\""), "{all}");

    // DELETE a key: gone, with its versions; again: 404.
    let r = app.request(Method::DELETE, &key_path("api.token_1-x", None), Some(t), None).await;
    r.expect(200);
    assert_eq!(r.data(), &Value::Null);
    get(&app, t, "api.token_1-x", None).await.expect(404);
    app.request(Method::DELETE, &key_path("api.token_1-x", None), Some(t), None).await.expect(404);
    assert_eq!(count(&app, "select count(*) from vault_version where key = 'api.token_1-x'").await, 0);

    // DELETE /vault: every key of the scope, the others untouched.
    let r = app.request(Method::DELETE, &in_realm(VAULT, Some(&realm)), Some(t), None).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"deleted_count": 2}));
    assert_eq!(stored(&app, &s.user_id).await, vec![("".into(), "empty".into(), 1, 0)]);
    let r = app.request(Method::DELETE, &in_realm(VAULT, Some(&realm)), Some(t), None).await;
    assert_eq!(r.data(), &json!({"deleted_count": 0}));
    let r = app.request(Method::DELETE, VAULT, Some(t), None).await;
    assert_eq!(r.data(), &json!({"deleted_count": 1}));
    assert!(stored(&app, &s.user_id).await.is_empty());
    let kinds: Vec<String> = sqlx::query_scalar(
        "select event_type from event where user_id = $1 and event_type in ('vault.key.deleted', 'vault.cleared') order by id",
    )
    .bind(&s.user_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kinds, ["vault.key.deleted", "vault.cleared", "vault.cleared"]);
    // Empty scopes read as empty.
    assert_eq!(app.get(KEYS, Some(t)).await.data(), &json!([]));
    assert_eq!(app.get(STATS, Some(t)).await.data()["total_keys"], 0);
}

#[tokio::test]
async fn bad_input_is_refused_naming_the_field_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-bad@example.com").await;
    let t = s.token.as_str();
    let long = "k".repeat(257);

    // Bad keys, on every keyed route.
    for key in ["a%20b", "caf%C3%A9", "a:b", "a%2Fb", long.as_str()] {
        let r = put(&app, t, key, None, json!({"value": "v"})).await;
        r.expect(400);
        assert_eq!((r.code(), field(&r)), ("invalid_key", "key"), "{key}: {}", r.text);
        for method in [Method::GET, Method::DELETE] {
            let r = app.request(method, &key_path(key, None), Some(t), None).await;
            r.expect(400);
            assert_eq!(field(&r), "key");
        }
    }
    // The longest key is fine.
    put(&app, t, &"k".repeat(256), None, json!({"value": "v"})).await.expect(200);
    app.request(Method::DELETE, VAULT, Some(t), None).await.expect(200);

    // Bodies: the value is a required string; metadata an object (≤ 256 KB) or null.
    let big = json!({"blob": "x".repeat(256 * 1024)});
    for (body, status, path) in [
        (json!({"value": 5}), 400, "value"),
        (json!({"value": null}), 400, "value"),
        (json!({"value": ["a"]}), 400, "value"),
        (json!({"metadata": {}}), 400, "value"),
        (json!({"value": "v", "metadata": [1]}), 422, "metadata"),
        (json!({"value": "v", "metadata": "text"}), 422, "metadata"),
        (json!({"value": "v", "metadata": 3}), 422, "metadata"),
        (json!({"value": "v", "metadata": big}), 422, "metadata"),
        (json!({"value": "v", "other": 1}), 422, "other"),
    ] {
        let r = put(&app, t, "k", None, body.clone()).await;
        r.expect(status);
        assert_eq!(field(&r), path, "{}: {}", &body.to_string()[..body.to_string().len().min(80)], r.text);
    }
    // Malformed realm ids, on every route.
    for realm in ["xyz", "0123456789abcdef0123456", "0123456789abcdef012345678", "0123456789abcdef0123456g"] {
        for (method, path) in [
            (Method::PUT, key_path("k", Some(realm))),
            (Method::GET, key_path("k", Some(realm))),
            (Method::DELETE, key_path("k", Some(realm))),
            (Method::GET, in_realm(KEYS, Some(realm))),
            (Method::GET, in_realm(STATS, Some(realm))),
            (Method::DELETE, in_realm(VAULT, Some(realm))),
        ] {
            let body = (method == Method::PUT).then(|| json!({"value": "v"}));
            let r = app.request(method.clone(), &path, Some(t), body).await;
            r.expect(400);
            assert_eq!((r.code(), field(&r)), ("invalid_realm_id", "realm_id"), "{method} {path}");
        }
    }
    // A bad version to read, a malformed if-match.
    for q in ["version=0", "version=-1", "version=abc"] {
        let r = app.get(&format!("{KEYS}/k?{q}"), Some(t)).await;
        r.expect(400);
        assert_eq!(field(&r), "version", "{q}");
    }
    let r = app
        .request_with(Method::PUT, &key_path("k", None), Some(t), &[("if-match", "v1")], Some(json!({"value": "v"})))
        .await;
    r.expect(400);
    assert_eq!(field(&r), "if-match");
    // No JSON content type.
    let r = app.client.put(format!("{}{}", app.base, key_path("k", None))).bearer_auth(t).body("v").send().await;
    assert_eq!(r.unwrap().status(), 415);

    assert_eq!(count(&app, "select count(*) from vault_entry").await, 0);
    // Only the 256-character key's write and its clear.
    assert_eq!(count(&app, "select count(*) from event where event_type like 'vault.%'").await, 2);
    // Unauthenticated.
    app.get(KEYS, None).await.expect(401);
}
