//! The account's size limit under concurrent writes, and versions with `if-match`.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::{count, etag, field, get, key_path, put, stored, STATS};
use crate::harness::TestApp;

const LIMIT: i64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_past_the_limit_store_exactly_those_that_fit() {
    let app = TestApp::spawn_with(|c| c.vault_limit_mb = 1).await;
    let s = app.verified_user("vault-limit@example.com").await;
    let t = s.token.as_str();
    let realm = hoody_api::db::new_id();
    let chunk = "x".repeat(300_000);

    // Five writes of 300 000 bytes at once, in two realms: three fit in 1 MiB, over all realms.
    let names: Vec<String> = (0..5).map(|i| format!("chunk-{i}")).collect();
    let writes = names.iter().enumerate().map(|(i, name)| {
        let realm = (i % 2 == 1).then_some(realm.as_str());
        put(&app, t, name, realm, json!({"value": chunk}))
    });
    let answers = join_all(writes).await;
    let ok = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 3, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status != 200) {
        r.expect(422);
        assert_eq!((r.code(), field(r)), ("vault_limit_exceeded", "value"), "{}", r.text);
    }
    let rows = stored(&app, &s.user_id).await;
    assert_eq!(rows.len(), 3);
    let used: i64 = rows.iter().map(|r| r.3).sum();
    assert_eq!(used, 900_000);
    assert_eq!(count(&app, "select count(*) from event where event_type = 'vault.key.set'").await, 3);

    // Stats: the limit is for all realms together.
    let d = app.get(STATS, Some(t)).await.data().clone();
    assert_eq!(d["limit_mb"].as_f64().unwrap(), 1.0);
    let want = (900_000.0 * 100.0 / LIMIT as f64 * 100.0).round() / 100.0;
    assert_eq!(d["used_percentage"].as_f64().unwrap(), want);
    assert!((d["remaining_mb"].as_f64().unwrap() - (LIMIT - 900_000) as f64 / LIMIT as f64).abs() < 1e-5);

    // Metadata counts too. Earlier versions are stored, so they count: an overwrite is charged in
    // full while the value it replaces is kept; deleting a key frees its versions.
    let room = (LIMIT - used) as usize;
    let (realm_of, existing) = (rows[0].0.clone(), rows[0].1.clone());
    let scope = (!realm_of.is_empty()).then_some(realm_of.as_str());
    let r =
        put(&app, t, "meta", None, json!({"value": "x".repeat(room - 20), "metadata": {"k": "y".repeat(20)}})).await;
    r.expect(422);
    assert_eq!(r.code(), "vault_limit_exceeded");
    // Counting current values only, this would fit (it replaces 300 000 bytes): it does not.
    let r = put(&app, t, &existing, scope, json!({"value": "z".repeat(room + 1)})).await;
    r.expect(422);
    put(&app, t, &existing, scope, json!({"value": "z".repeat(room - 10)})).await.expect(200);
    put(&app, t, "one-more", None, json!({"value": "a".repeat(20)})).await.expect(422);
    let history: i64 =
        sqlx::query_scalar("select coalesce(sum(size_bytes), 0)::bigint from vault_version where user_id = $1")
            .bind(&s.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(history, 300_000, "the replaced value is kept as version 1");
    let d = app.get(STATS, Some(t)).await.data().clone();
    let held = 900_000 + room as i64 - 10;
    let want = (held as f64 * 100.0 / LIMIT as f64 * 100.0).round() / 100.0;
    assert_eq!(d["used_percentage"].as_f64().unwrap(), want, "{d}");
    app.request(Method::DELETE, &key_path(&existing, scope), Some(t), None).await.expect(200);
    put(&app, t, "one-more", None, json!({"value": "a".repeat(20)})).await.expect(200);
    let used: i64 = stored(&app, &s.user_id).await.iter().map(|r| r.3).sum();
    assert!(used <= LIMIT, "{used}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_write_is_a_version_and_if_match_guards_it() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("vault-versions@example.com").await;
    let t = s.token.as_str();
    let path = key_path("doc", None);
    let write = |ifm: Option<&'static str>, value: String| {
        let headers: Vec<(&str, &str)> = ifm.map(|v| ("if-match", v)).into_iter().collect();
        let (app, path) = (&app, path.clone());
        async move { app.request_with(Method::PUT, &path, Some(t), &headers, Some(json!({"value": value}))).await }
    };

    // file:v0: only while the key does not exist.
    let r = write(Some("file:v0"), "v1".into()).await;
    r.expect(200);
    assert_eq!(etag(&r), "\"file:v1\"");
    let r = write(Some("file:v0"), "again".into()).await;
    r.expect(412);
    assert_eq!(r.body["details"]["current_file_version"], 1);
    // The current version: written; a stale one: 412 with the current version, nothing changed.
    let r = write(Some("file:v1"), "v2".into()).await;
    r.expect(200);
    assert_eq!(etag(&r), "\"file:v2\"");
    let r = write(Some("\"file:v1\""), "stale".into()).await;
    r.expect(412);
    assert_eq!((r.code(), &r.body["details"]["current_file_version"]), ("version_mismatch", &json!(2)));
    assert_eq!(get(&app, t, "doc", None).await.data()["value"], "v2");
    // No header: a plain write.
    for n in 3..=12 {
        let r = write(None, format!("v{n}")).await;
        r.expect(200);
        assert_eq!(etag(&r), format!("\"file:v{n}\""));
    }
    assert_eq!(stored(&app, &s.user_id).await, vec![("".into(), "doc".into(), 12, 3)]);

    // The last ten versions are kept (12 current, 3–11 earlier); older ones pruned.
    let versions: Vec<i64> =
        sqlx::query_scalar("select version from vault_version where user_id = $1 order by version")
            .bind(&s.user_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(versions, (3..=11).collect::<Vec<_>>());
    for n in [3, 7, 11, 12] {
        let r = app.get(&format!("{path}?version={n}"), Some(t)).await;
        r.expect(200);
        assert_eq!(r.data()["value"], format!("v{n}"));
        assert_eq!(etag(&r), format!("\"file:v{n}\""));
    }
    for n in [1, 2, 13] {
        let r = app.get(&format!("{path}?version={n}"), Some(t)).await;
        r.expect(404);
        assert_eq!(r.code(), "vault_version_not_found");
    }

    // Ten writers holding version 12: exactly one wins, the others get 412 with version 13.
    let answers = join_all((0..10).map(|i| write(Some("file:v12"), format!("racer-{i}")))).await;
    assert_eq!(answers.iter().filter(|r| r.status == 200).count(), 1);
    for r in answers.iter().filter(|r| r.status != 200) {
        r.expect(412);
        assert_eq!(r.body["details"]["current_file_version"], 13);
    }
    assert_eq!(stored(&app, &s.user_id).await[0].2, 13);

    // Deleting the key deletes its versions; a new key starts again at 1.
    app.request(Method::DELETE, &path, Some(t), None).await.expect(200);
    assert_eq!(count(&app, "select count(*) from vault_version").await, 0);
    app.get(&format!("{path}?version=5"), Some(t)).await.expect(404);
    let r = write(Some("file:v3"), "x".into()).await;
    r.expect(412);
    assert_eq!(r.body["details"]["current_file_version"], 0);
    assert_eq!(etag(&write(None, "fresh".into()).await), "\"file:v1\"");
}
