//! Who may reach an alias: tokens by the `resources.proxy_aliases` leaf; grantees by level
//! (`read` sees, `edit` creates, changes and deletes); other users get the 404 of an alias that
//! does not exist; realms as for containers; a deleted container takes its aliases with it.

use reqwest::Method;
use serde_json::{json, Value};

use super::{at, count, fx, names, project, rows, user, BASE};
use crate::permissions::tree;

/// Every alias route on alias `id`, each with a body that would pass its checks.
fn routes(id: &str) -> Vec<(Method, String, Option<Value>)> {
    vec![
        (Method::GET, at(id), None),
        (Method::PATCH, at(id), Some(json!({"target_path": "/changed"}))),
        (Method::PATCH, format!("{}/state", at(id)), Some(json!({"enabled": false}))),
        (Method::DELETE, at(id), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_need_the_proxy_aliases_leaf() {
    let fx = fx().await;
    let id = fx.alias(json!({"alias": "leafy"})).await;
    let everything: Vec<&str> = hoody_api::auth::permissions::LEAVES.iter().map(String::as_str).collect();
    let without: Vec<&str> = everything.iter().copied().filter(|l| *l != "resources.proxy_aliases").collect();
    let (lacking, _) = fx.new_token(&fx.owner.token, json!({"permissions": tree(&without)})).await;
    let mut all = routes(&id);
    all.push((Method::GET, BASE.into(), None));
    all.push((Method::POST, BASE.into(), Some(json!({"container_id": fx.container, "program": "exec"}))));
    for (m, path, body) in &all {
        let r = fx.call(m.clone(), path, &lacking, body.clone()).await;
        r.expect(403);
        assert_eq!(r.code(), "insufficient_permissions", "{m} {path}");
        assert!(r.body["message"].as_str().unwrap().contains("resources.proxy_aliases"));
    }
    assert_eq!(rows(&fx).await, [("leafy".into(), "exec".into(), 1, None, true, true)]);
    // The leaf alone is enough for all of it.
    let (only, _) = fx.new_token(&fx.owner.token, json!({"permissions": tree(&["resources.proxy_aliases"])})).await;
    fx.create_on(&only, &fx.container, json!({"alias": "by-token"})).await.expect(201);
    assert_eq!(names(fx.get(BASE, Some(&only)).await.expect(200)), ["by-token", "leafy"]);
    for (m, path, body) in routes(&id) {
        fx.call(m.clone(), &path, &only, body).await.expect(200);
    }
    assert_eq!(count(&fx).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_gets_the_404_of_a_missing_alias() {
    let fx = fx().await;
    let id = fx.alias(json!({"alias": "private"})).await;
    let stranger = user(&fx, "stranger").await;
    let random = hoody_api::db::new_id();
    for ((m, path, body), (_, rpath, rbody)) in routes(&id).into_iter().zip(routes(&random)) {
        let theirs = fx.call(m.clone(), &path, &stranger.token, body).await;
        theirs.expect(404);
        let missing = fx.call(m.clone(), &rpath, &stranger.token, rbody).await;
        missing.expect(404);
        assert_eq!(theirs.code(), "proxy_alias_not_found", "{m} {path}");
        assert_eq!(theirs.body["message"], missing.body["message"]);
    }
    let r = fx.create_on(&stranger.token, &fx.container, json!({"alias": "hijack"})).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    let r = fx.get(BASE, Some(&stranger.token)).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"aliases": [], "count": 0}));
    let r = fx.get(&format!("{BASE}?container_id={}", fx.container), Some(&stranger.token)).await;
    assert_eq!(r.data()["count"], 0);
    assert_eq!(rows(&fx).await, [("private".into(), "exec".into(), 1, None, true, true)]);
    assert_eq!(super::events(&fx, &id).await, ["proxy.alias.created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grantees_act_by_their_level() {
    let fx = fx().await;
    let id = fx.alias(json!({"alias": "shared"})).await;
    let perms = format!("/api/v1/projects/{}/permissions", fx.project);
    let reader = user(&fx, "reader").await;
    let editor = user(&fx, "editor").await;
    for (who, level) in [(&reader, "read"), (&editor, "edit")] {
        let body = json!({"user_id": who.user_id, "permission_level": level});
        fx.post_auth(&perms, &fx.owner.token, Some(body)).await.expect(201);
    }
    // Read: sees, changes nothing.
    assert_eq!(names(fx.get(BASE, Some(&reader.token)).await.expect(200)), ["shared"]);
    let r = fx.get(&at(&id), Some(&reader.token)).await;
    r.expect(200);
    assert_eq!(r.data()["user_id"], fx.owner.user_id.as_str());
    for (m, path, body) in routes(&id).into_iter().skip(1) {
        let r = fx.call(m.clone(), &path, &reader.token, body).await;
        r.expect(403);
        assert_eq!(r.code(), "project_access_denied", "{m} {path}");
    }
    let r = fx.create_on(&reader.token, &fx.container, json!({"alias": "by-reader"})).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert_eq!(rows(&fx).await, [("shared".into(), "exec".into(), 1, None, true, true)]);
    // Edit: creates, changes, deletes.
    let r = fx.create_on(&editor.token, &fx.container, json!({"alias": "by-editor"})).await;
    r.expect(201);
    assert_eq!(r.data()["user_id"], fx.owner.user_id.as_str(), "the project owner owns it");
    for (m, path, body) in routes(&id) {
        fx.call(m.clone(), &path, &editor.token, body).await.expect(200);
    }
    assert_eq!(rows(&fx).await, [("by-editor".into(), "exec".into(), 1, None, true, true)]);
    // A revoked grant hides them again.
    let pid: String = sqlx::query_scalar("select permission_id from project_permission where user_id = $1")
        .bind(&editor.user_id)
        .fetch_one(&fx.db)
        .await
        .unwrap();
    fx.call(Method::DELETE, &format!("{perms}/{pid}"), &fx.owner.token, None).await.expect(200);
    let left: String = sqlx::query_scalar("select alias_id from proxy_alias").fetch_one(&fx.db).await.unwrap();
    fx.get(&at(&left), Some(&editor.token)).await.expect(404);
    assert_eq!(fx.get(BASE, Some(&editor.token)).await.data()["count"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realms_apply_as_for_containers() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let realm = hoody_api::db::new_id();
    let pr = project(&fx, t, "Realmed", json!([realm])).await;
    let inside = fx.seed(&pr, "inside", "running", |n| n.realm_ids = vec![realm.clone()]).await;
    let inner = fx.create_on(t, &inside, json!({"alias": "inner"})).await;
    inner.expect(201);
    let inner = inner.data()["id"].as_str().unwrap().to_owned();
    let outer = fx.alias(json!({"alias": "outer"})).await;
    let (rt, _) =
        fx.new_token(t, json!({"permissions": tree(&["resources.proxy_aliases"]), "realm_ids": [realm]})).await;
    let q = format!("realm_id={realm}");
    assert_eq!(names(fx.get(&format!("{BASE}?{q}"), Some(&rt)).await.expect(200)), ["inner"]);
    let r = fx.get(BASE, Some(&rt)).await;
    r.expect(403);
    assert_eq!(r.code(), "realm_scope_required");
    fx.get(&format!("{}?{q}", at(&inner)), Some(&rt)).await.expect(200);
    let r = fx.get(&format!("{}?{q}", at(&outer)), Some(&rt)).await;
    r.expect(404);
    assert_eq!(r.code(), "proxy_alias_not_found");
    let r = fx.call(Method::DELETE, &format!("{}?{q}", at(&outer)), &rt, None).await;
    r.expect(404);
    let r =
        fx.post_auth(&format!("{BASE}?{q}"), &rt, Some(json!({"container_id": fx.container, "program": "exec"}))).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    fx.post_auth(
        &format!("{BASE}?{q}"),
        &rt,
        Some(json!({"container_id": inside, "program": "exec", "alias": "in-realm"})),
    )
    .await
    .expect(201);
    // A session scoped to the realm sees the same.
    assert_eq!(names(fx.get(&format!("{BASE}?{q}"), Some(t)).await.expect(200)), ["in-realm", "inner"]);
    assert_eq!(count(&fx).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_container_takes_its_aliases_with_it() {
    let fx = fx().await;
    let other = fx.seed(&fx.project, "keeper", "running", |_| {}).await;
    let gone = fx.alias(json!({"alias": "goes"})).await;
    fx.create_on(&fx.owner.token, &other, json!({"alias": "stays"})).await.expect(201);
    // What the container delete does once the host removed the instance.
    hoody_api::db::containers::delete(&mut fx.db.acquire().await.unwrap(), &fx.container).await.unwrap();
    assert_eq!(rows(&fx).await, [("stays".into(), "exec".into(), 1, None, true, true)]);
    fx.get(&at(&gone), Some(&fx.owner.token)).await.expect(404);
    // The name is free again.
    fx.create_on(&fx.owner.token, &other, json!({"alias": "goes"})).await.expect(201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_container_through_the_api_removes_its_aliases_with_their_events() {
    let app =
        crate::fixtures::LxdApp::spawn_with(|c| c.reconcile_interval = std::time::Duration::from_secs(3600)).await;
    let s = user(&app, "lxd-owner").await;
    let p = app.project(&s.token, "Live").await;
    let id = app.running(&s.token, &p, json!({"name": "live-1"})).await;
    let body = json!({"container_id": id, "program": "terminal", "alias": "live-one"});
    let r = app.post_auth(BASE, &s.token, Some(body)).await;
    r.expect(201);
    let alias = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.data()["url"],
        "https://live-one.local.containers.hoody.icu/",
        "the real server's name, the default domain"
    );
    app.call(Method::DELETE, &format!("/api/v1/containers/{id}"), &s.token, None).await.expect(200);
    assert_eq!(count(&app).await, 0);
    assert_eq!(super::events(&app, &alias).await, ["proxy.alias.created", "proxy.alias.deleted"]);
    let reason: Value = sqlx::query_scalar(
        "select data->'reason' from event where resource_id = $1 and event_type = 'proxy.alias.deleted'",
    )
    .bind(&alias)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(reason, "container_deleted");
}
