//! `GET /projects/{id}/stats` on the real LXD: the host's figures, for a `read` grantee too; the
//! request's realm and the token's `containers` leaf limit what it shows.

use serde_json::json;

use super::{assert_code, at, delete, events, grant, user};
use crate::fixtures::{exists, LxdApp};

/// On the real LXD: a running container shows in the project's stats (also to a `read`
/// grantee), and deleting the project removes the instance from LXD and counts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_read_the_host_and_delete_takes_the_containers_along() {
    let app = LxdApp::spawn().await;
    let s = user(&app, "hoster").await;
    let b = user(&app, "watcher").await;
    let p = app.project(&s.token, "Hosted").await;
    let base = at(&p);
    let empty = app.get(&format!("{base}/stats"), Some(&s.token)).await;
    empty.expect(200);
    assert_eq!(empty.data()["stats"], json!([]));
    assert_eq!(empty.data()["summary"]["container_count"], 0);

    let cid = app.running(&s.token, &p, json!({"name": "stats-1"})).await;
    let lxd_name = format!("c-{cid}");
    assert!(exists(&lxd_name));
    let r = app.get(&format!("{base}/stats"), Some(&s.token)).await;
    r.expect(200);
    let stats = r.data()["stats"].as_array().unwrap();
    assert_eq!(stats.len(), 1, "{}", r.text);
    assert_eq!(stats[0]["id"], cid.as_str());
    assert_eq!(stats[0]["status"], "running");
    assert_eq!(stats[0]["status_code"], 103);
    assert_eq!(stats[0]["project_id"], p.as_str());
    assert_eq!(stats[0]["project_name"], "Hosted");
    assert_eq!(stats[0]["subserver_name"], lxd_name.as_str());
    assert!(stats[0]["processes"].as_i64().unwrap() >= 1, "{}", r.text);
    let summary = &r.data()["summary"];
    assert_eq!(summary["container_count"], 1);
    assert_eq!(summary["project_id"], p.as_str());
    assert_eq!(summary["project_name"], "Hosted");
    assert!(summary["total_processing_time"].as_str().unwrap().ends_with("ms"));

    // A read grantee sees the same, lists the container, and cannot delete the project.
    let perm = grant(&app, &s.token, &p, &b.user_id, "read").await;
    let r = app.get(&format!("{base}/stats"), Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["stats"][0]["status"], "running");
    let r = app.get(&format!("{base}/containers"), Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["containers"][0]["id"], cid.as_str());
    assert_eq!(r.data()["pagination"]["total"], 1);
    assert_code(&delete(&app, &base, &b.token).await, 403, "project_access_denied");
    assert!(exists(&lxd_name), "a refused delete leaves the instance");

    let r = delete(&app, &format!("{base}?include_deleted_items=true"), &s.token).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"], json!({"containers": 1, "permissions": 1, "aliases": 0}));
    assert_eq!(r.data()["deleted_items"]["containers"], json!([{"id": cid, "name": "stats-1"}]));
    assert!(!exists(&lxd_name), "the instance is gone from LXD");
    assert_code(&app.get(&base, Some(&s.token)).await, 404, "project_not_found");
    assert_code(&app.get(&format!("/api/v1/containers/{cid}"), Some(&s.token)).await, 404, "container_not_found");
    let left: i64 = sqlx::query_scalar("select count(*) from project_permission where permission_id = $1")
        .bind(&perm)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    let ev = events(&app, &p).await;
    for kind in ["project.created", "project.permission.granted", "container.deleted", "project.deleted"] {
        assert!(ev.contains(&kind.to_owned()), "{kind} missing: {ev:?}");
    }
    assert_eq!(ev.last().map(String::as_str), Some("project.deleted"), "{ev:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_stats_keep_to_the_request_realm_and_the_containers_leaf() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("stats-realm@example.com").await;
    let realm = hoody_api::db::new_id();
    let r =
        app.post_auth(&format!("/api/v1/projects/?realm_id={realm}"), &s.token, Some(json!({"alias": "Mixed"}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    let inside = app.running(&s.token, &project, json!({"name": "inside", "realm_ids": [realm]})).await;
    app.running(&s.token, &project, json!({"name": "outside"})).await;
    let r = app.get(&format!("/api/v1/projects/{project}/stats?realm_id={realm}"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["summary"]["container_count"], 1);
    assert_eq!(r.data()["stats"][0]["id"], inside.as_str());
    let r = app.get(&format!("/api/v1/projects/{project}/stats"), Some(&s.token)).await;
    assert_eq!(r.data()["summary"]["container_count"], 2);
    // A token with projects.read only gets the count, not the containers' figures.
    let (tok, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"read": true}}})).await;
    let r = app.get(&format!("/api/v1/projects/{project}/stats"), Some(&tok)).await;
    r.expect(200);
    assert_eq!(r.data()["summary"]["container_count"], 2);
    assert_eq!(r.data()["stats"], json!([]));
}
