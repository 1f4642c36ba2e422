//! `PATCH /proxy/aliases/{id}`, `PATCH …/state` and `DELETE …`: partial updates, renames and
//! their uniqueness, bad fields with nothing changed, enabling and disabling, names that became
//! reserved, containers finalizing a claim, deletion; an event for every change and none for
//! a write that changes nothing.

use reqwest::Method;
use serde_json::{json, Value};

use super::{at, count, events, field, fx, rows};

async fn row_of(fx: &super::Fx, id: &str) -> (String, String, i32, Option<String>, bool, bool) {
    sqlx::query_as(
        "select alias, program, program_index, target_path, allow_path_override, enabled from proxy_alias where alias_id = $1",
    )
    .bind(id)
    .fetch_one(&fx.db)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_update_changes_only_the_fields_sent() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "before", "target_path": "/base", "index": 2})).await;
    let patch = |body: Value| fx.patch(&id, t, body);

    let r = patch(json!({"alias": "after", "program": "files"})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "after");
    assert_eq!(r.data()["url"], format!("https://after.{}.containers.test.example/", super::SERVER));
    assert_eq!(row_of(&fx, &id).await, ("after".into(), "files".into(), 2, Some("/base".into()), true, true));

    let later = chrono::Utc::now() + chrono::Duration::hours(5);
    let r = patch(json!({"target_path": null, "allow_path_override": false, "port": 9000, "expires_at": later.timestamp_millis()})).await;
    r.expect(200);
    assert_eq!(r.data()["target_path"], Value::Null);
    assert_eq!(r.data()["index"], 9000);
    assert!(r.data()["expires_at"].is_string());
    assert_eq!(row_of(&fx, &id).await, ("after".into(), "files".into(), 9000, None, false, true));

    let r = patch(json!({"expires_at": null, "target_path": "deep/er", "enabled": false})).await;
    r.expect(200);
    assert_eq!(r.data()["expires_at"], Value::Null);
    assert_eq!(r.data()["enabled"], false);
    assert_eq!(row_of(&fx, &id).await, ("after".into(), "files".into(), 9000, Some("/deep/er".into()), false, false));

    // Nothing sent, or what it already holds: nothing changes, no event.
    patch(json!({})).await.expect(200);
    patch(json!({"alias": "after", "index": 9000})).await.expect(200);
    assert_eq!(
        events(&fx, &id).await,
        [
            "proxy.alias.created",
            "proxy.alias.updated",
            "proxy.alias.updated",
            "proxy.alias.updated",
            "proxy.alias.disabled"
        ]
    );
}

#[tokio::test]
async fn bad_updates_change_nothing() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "steady"})).await;
    fx.alias(json!({"alias": "occupied"})).await;
    let before = rows(&fx).await;
    for (body, status, path) in [
        (json!({"alias": "no"}), 422, "alias"),
        (json!({"alias": "Upper"}), 422, "alias"),
        (json!({"alias": "www"}), 422, "alias"),
        (json!({"alias": null}), 400, "alias"),
        (json!({"alias": false}), 400, "alias"),
        (json!({"program": "bogus"}), 422, "program"),
        (json!({"index": 0}), 422, "index"),
        (json!({"index": 3, "port": 4}), 422, "port"),
        (json!({"target_path": "/a/../b"}), 422, "target_path"),
        (json!({"target_path": "//evil.com"}), 422, "target_path"),
        (json!({"target_path": "/.%2e/x"}), 422, "target_path"),
        (json!({"allow_path_override": null}), 400, "allow_path_override"),
        (json!({"expires_at": 5}), 422, "expires_at"),
        (json!({"expires_at": "tomorrow"}), 422, "expires_at"),
        (json!({"enabled": "no"}), 400, "enabled"),
        (json!({"container_id": fx.container}), 422, "container_id"),
    ] {
        let r = fx.call(Method::PATCH, &at(&id), t, Some(body.clone())).await;
        r.expect(status);
        assert_eq!(field(&r), path, "{body}: {}", r.text);
    }
    let r = fx.call(Method::PATCH, &at(&id), t, Some(json!({"alias": "occupied", "index": 4}))).await;
    r.expect(409);
    assert_eq!(r.code(), "proxy_alias_taken");
    for body in [json!({}), json!({"enabled": "yes"}), json!({"enabled": null})] {
        let r = fx.call(Method::PATCH, &format!("{}/state", at(&id)), t, Some(body.clone())).await;
        r.expect(400);
        assert_eq!(field(&r), "enabled", "{body}");
    }
    assert_eq!(rows(&fx).await, before);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created"]);
}

#[tokio::test]
async fn enable_and_disable_are_kept_and_evented() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "toggle"})).await;
    let state = |on: bool| fx.state(&id, t, on);
    let r = state(false).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], false);
    assert!(!row_of(&fx, &id).await.5);
    state(false).await.expect(200);
    let r = state(true).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], true);
    assert!(row_of(&fx, &id).await.5);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created", "proxy.alias.disabled", "proxy.alias.enabled"]);
}

#[tokio::test]
async fn a_name_that_became_reserved_can_be_disabled_renamed_or_deleted_not_enabled() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "legacy-name"})).await;
    let other = fx.alias(json!({"alias": "legacy-two", "enabled": false})).await;
    // The catalogue has since reserved these names (as an older alias would hold them).
    sqlx::query(
        "update proxy_alias set alias = case alias_id when $1 then 'status' else 'docs' end where alias_id in ($1, $2)",
    )
    .bind(&id)
    .bind(&other)
    .execute(&fx.db)
    .await
    .unwrap();
    // Disabling is never refused; enabling again is.
    fx.state(&id, t, false).await.expect(200);
    let r = fx.state(&id, t, true).await;
    r.expect(422);
    assert_eq!(field(&r), "enabled");
    let r = fx.call(Method::PATCH, &at(&id), t, Some(json!({"enabled": true}))).await;
    r.expect(422);
    assert_eq!(field(&r), "enabled");
    assert!(!row_of(&fx, &id).await.5);
    // Other changes to a disabled one are fine; renaming lets it be enabled.
    fx.call(Method::PATCH, &at(&id), t, Some(json!({"target_path": "/kept"}))).await.expect(200);
    let r = fx.call(Method::PATCH, &at(&id), t, Some(json!({"alias": "renamed-ok", "enabled": true}))).await;
    r.expect(200);
    assert_eq!((r.data()["alias"].as_str(), r.data()["enabled"].as_bool()), (Some("renamed-ok"), Some(true)));
    // Or it goes.
    let r = fx.state(&other, t, true).await;
    r.expect(422);
    fx.call(Method::DELETE, &at(&other), t, None).await.expect(200);
    assert_eq!(count(&fx).await, 1);
}

#[tokio::test]
async fn writes_wait_out_a_claim_with_409() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "claimed"})).await;
    sqlx::query("update container set status = 'claiming' where container_id = $1")
        .bind(&fx.container)
        .execute(&fx.db)
        .await
        .unwrap();
    for (m, path, body) in [
        (Method::PATCH, at(&id), Some(json!({"target_path": "/x"}))),
        (Method::PATCH, format!("{}/state", at(&id)), Some(json!({"enabled": false}))),
        (Method::DELETE, at(&id), None),
    ] {
        let r = fx.call(m.clone(), &path, t, body).await;
        r.expect(409);
        assert_eq!(r.code(), "container_claiming", "{m} {path}");
    }
    fx.get(&at(&id), Some(t)).await.expect(200);
    assert_eq!(rows(&fx).await, [("claimed".into(), "exec".into(), 1, None, true, true)]);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created"]);
}

#[tokio::test]
async fn delete_is_permanent_and_frees_the_name() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "short-lived"})).await;
    let r = fx.call(Method::DELETE, &at(&id), t, None).await;
    r.expect(200);
    assert_eq!(r.data(), &Value::Null);
    assert_eq!(count(&fx).await, 0);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created", "proxy.alias.deleted"]);
    for (m, body) in [(Method::GET, None), (Method::DELETE, None), (Method::PATCH, Some(json!({"index": 2})))] {
        let r = fx.call(m, &at(&id), t, body).await;
        r.expect(404);
        assert_eq!(r.code(), "proxy_alias_not_found");
    }
    fx.alias(json!({"alias": "short-lived"})).await;
}

#[tokio::test]
async fn an_expired_alias_is_not_enabled_until_its_expiry_moves() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let id = fx.alias(json!({"alias": "run-out"})).await;
    sqlx::query("update proxy_alias set expires_at = now() - interval '1 minute' where alias_id = $1")
        .bind(&id)
        .execute(&fx.db)
        .await
        .unwrap();
    let r = fx.state(&id, t, true).await;
    r.expect(422);
    assert_eq!(field(&r), "expires_at", "{}", r.text);
    assert!(r.text.contains("extend expires_at first"), "{}", r.text);
    let r = fx.patch(&id, t, json!({"enabled": true})).await;
    r.expect(422);
    assert_eq!(field(&r), "expires_at", "{}", r.text);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created"]);

    // Disabling stays possible; with a later expiry it can be enabled again.
    fx.state(&id, t, false).await.expect(200);
    let later = (chrono::Utc::now() + chrono::Duration::days(1)).timestamp();
    let r = fx.patch(&id, t, json!({"expires_at": later, "enabled": true})).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], true);
}
