//! Who may reach a container, route by route: another user gets the 404 of a container that does
//! not exist; tokens by leaf; grantees by level (`read` sees, `edit` operates and updates,
//! `delete` deletes); a revoked grant hides it again.

use reqwest::Method;
use serde_json::{json, Value};

use super::{count, ids, spawn, user};
use crate::{
    fixtures::{exists, lxc_status},
    permissions::tree,
};

/// Every container route with a body that would pass its checks.
fn routes(base: &str, project: &str) -> Vec<(Method, String, Option<Value>)> {
    let b = |s: &str| format!("{base}{s}");
    vec![
        (Method::GET, b(""), None),
        (Method::PUT, b(""), Some(json!({"comment": "x"}))),
        (Method::DELETE, b(""), None),
        (Method::GET, b("/status-logs"), None),
        (Method::GET, b("/stats"), None),
        (Method::GET, b("/snapshots"), None),
        (Method::POST, b("/snapshots"), Some(json!({}))),
        (Method::PUT, b("/snapshots/snap-1"), None),
        (Method::DELETE, b("/snapshots/snap-1"), None),
        (Method::PUT, b("/snapshots/snap-1/alias"), Some(json!({"alias": "a"}))),
        (Method::GET, b("/network"), None),
        (Method::PUT, b("/network"), Some(json!({"type": "block"}))),
        (Method::DELETE, b("/network"), None),
        (Method::POST, b("/network/start"), None),
        (Method::POST, b("/network/stop"), None),
        (Method::GET, b("/env"), None),
        (Method::PUT, b("/env"), Some(json!({"A": "1"}))),
        (Method::PUT, b("/env/A"), Some(json!({"value": "1"}))),
        (Method::DELETE, b("/env/A"), None),
        (Method::POST, b("/authorize"), None),
        (Method::POST, b("/copy"), Some(json!({"target_project_id": project}))),
        (Method::POST, b("/sync"), None),
        (Method::POST, b("/stop"), None),
        (Method::POST, b("/start"), None),
        (Method::POST, b("/force-stop"), None),
        (Method::POST, b("/restart"), None),
        (Method::POST, b("/pause"), None),
        (Method::POST, b("/resume"), None),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_and_grantees_reach_a_container_each_by_level() {
    let app = spawn().await;
    let s = app.verified_user("owner@example.com").await;
    let p = app.project(&s.token, "Shared").await;
    let id =
        app.running(&s.token, &p, json!({"name": "shared-1", "comment": "orig", "environment_vars": {"A": "0"}})).await;
    let lxd_name = format!("c-{id}");
    let base = format!("/api/v1/containers/{id}");

    // Another user: every route answers as for a container that does not exist.
    let e = user(&app, "stranger").await;
    let random = format!("/api/v1/containers/{}", hoody_api::db::new_id());
    let mut checked = 0;
    for ((m, path, body), (_, rpath, rbody)) in routes(&base, &p).into_iter().zip(routes(&random, &p)) {
        let theirs = app.call(m.clone(), &path, &e.token, body).await;
        theirs.expect(404);
        let missing = app.call(m.clone(), &rpath, &e.token, rbody).await;
        missing.expect(404);
        assert_eq!(theirs.code(), "container_not_found", "{m} {path}: {}", theirs.text);
        assert_eq!(theirs.code(), missing.code(), "{m} {path}");
        assert_eq!(theirs.body["message"], missing.body["message"], "{m} {path}");
        checked += 1;
    }
    assert_eq!(checked, 28);
    let r = app.get("/api/v1/containers/not-an-id", Some(&e.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    // None of it touched the container.
    let r = app.get(&base, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert_eq!(r.data()["comment"], "orig");
    assert_eq!(r.data()["environment_vars"], json!({"A": "0"}));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");

    // A token with containers.read only.
    let (reader, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    app.get(&base, Some(&reader)).await.expect(200);
    let r = app.call(Method::POST, &format!("{base}/stop"), &reader, None).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.actions.stop"), "{}", r.text);
    let r = app.call(Method::PUT, &base, &reader, Some(json!({"comment": "no"}))).await;
    r.expect(403);
    assert!(r.body["message"].as_str().unwrap().contains("containers.update"));
    let r = app.call(Method::DELETE, &base, &reader, None).await;
    r.expect(403);
    assert!(r.body["message"].as_str().unwrap().contains("containers.delete"));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");

    // A grantee with read: sees, cannot change.
    let g = user(&app, "grantee").await;
    let perms = format!("/api/v1/projects/{p}/permissions");
    let grant = app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "read"}))).await;
    grant.expect(201);
    let pid = grant.data()["id"].as_str().unwrap().to_owned();
    let r = app.get(&base, Some(&g.token)).await;
    r.expect(200);
    assert_eq!(r.data()["name"], "shared-1");
    let r = app.get("/api/v1/containers/", Some(&g.token)).await;
    assert_eq!(ids(&r), [id.as_str()]);
    let r = app.get(&format!("/api/v1/projects/{p}/containers"), Some(&g.token)).await;
    r.expect(200);
    assert_eq!(ids(&r), [id.as_str()]);
    for path in ["/env", "/network", "/status-logs", "/snapshots"] {
        app.get(&format!("{base}{path}"), Some(&g.token)).await.expect(200);
    }
    for (m, path, body) in [
        (Method::POST, format!("{base}/stop"), None),
        (Method::POST, format!("{base}/restart"), None),
        (Method::PUT, base.clone(), Some(json!({"comment": "grantee"}))),
        (Method::PUT, format!("{base}/env/B"), Some(json!({"value": "1"}))),
        (Method::PUT, format!("{base}/network"), Some(json!({"type": "block"}))),
        (Method::POST, format!("{base}/snapshots"), Some(json!({}))),
        (Method::POST, format!("{base}/authorize"), None),
        (Method::DELETE, base.clone(), None),
    ] {
        let r = app.call(m.clone(), &path, &g.token, body).await;
        r.expect(403);
        assert_eq!(r.code(), "project_access_denied", "{m} {path}");
    }
    let before = count(&app).await;
    let r = app.create(&g.token, &p, json!({"name": "by-reader"})).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert_eq!(count(&app).await, before);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    assert_eq!(app.get(&base, Some(&s.token)).await.data()["comment"], "orig");

    // edit: stop/start and update, not delete.
    let level = |l: &'static str| json!({"permission_level": l});
    app.call(Method::PUT, &format!("{perms}/{pid}"), &s.token, Some(level("edit"))).await.expect(200);
    let r = app.call(Method::POST, &format!("{base}/stop"), &g.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(lxc_status(&lxd_name), "STOPPED");
    app.call(Method::POST, &format!("{base}/start"), &g.token, None).await.expect(200);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    let r = app.call(Method::PUT, &base, &g.token, Some(json!({"comment": "by grantee"}))).await;
    r.expect(200);
    assert_eq!(r.data()["comment"], "by grantee");
    let r = app.call(Method::DELETE, &base, &g.token, None).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert!(exists(&lxd_name));
    let r = app.get(&format!("{base}/status-logs?sort_order=desc&limit=1"), Some(&s.token)).await;
    assert_eq!(r.data()["logs"][0]["triggered_by"], format!("user:{}", g.user_id));

    // Revoked: gone from the grantee's view, as if it did not exist.
    app.call(Method::DELETE, &format!("{perms}/{pid}"), &s.token, None).await.expect(200);
    let r = app.get(&base, Some(&g.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    let r = app.get(&format!("/api/v1/projects/{p}/containers"), Some(&g.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "project_not_found");
    let r = app.get("/api/v1/containers/", Some(&g.token)).await;
    assert!(ids(&r).is_empty());

    // delete: may delete.
    let grant =
        app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "delete"}))).await;
    grant.expect(201);
    app.call(Method::DELETE, &base, &g.token, None).await.expect(200);
    assert!(!exists(&lxd_name));
    let r = app.get(&base, Some(&s.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
}
