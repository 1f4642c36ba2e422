//! The `hoody` CLI sends PATCH where the SDK sends PUT, with the same bodies: snapshot restore and
//! its alias, one environment variable and the whole environment, the network settings, and a
//! project grant. Each is served by the same handler as the PUT, with the same effect on LXD.

use reqwest::Method;
use serde_json::json;

use crate::fixtures::{lxc, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clis_patch_requests_do_what_the_sdks_puts_do() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("cli-patch@example.com").await;
    let friend = app.verified_user("cli-patch-friend@example.com").await;
    let project = app.project(&s.token, "Cli").await;
    let id = app.running(&s.token, &project, json!({"name": "cli-1"})).await;
    let name = format!("c-{id}");
    let base = format!("/api/v1/containers/{id}");

    // env: one key, then several.
    let r = app.call(Method::PATCH, &format!("{base}/env/GREETING"), &s.token, Some(json!({"value": "hello"}))).await;
    r.expect(200);
    assert_eq!(lxc(&["config", "get", &name, "environment.GREETING"]), "hello");
    let r = app.call(Method::PATCH, &format!("{base}/env"), &s.token, Some(json!({"A": "1", "B": "2"}))).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"A": "1", "B": "2", "GREETING": "hello"}));
    assert_eq!(lxc(&["config", "get", &name, "environment.B"]), "2");

    // network.
    let body = json!({"type": "http", "proxy": "http://203.0.113.7:3128"});
    app.call(Method::PATCH, &format!("{base}/network"), &s.token, Some(body)).await.expect(200);
    assert_eq!(lxc(&["config", "get", &name, "user.hoody.network.type"]), "http");

    // snapshot restore and alias.
    let r = app.call(Method::POST, &format!("{base}/snapshots"), &s.token, Some(json!({}))).await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    lxc(&["exec", &name, "--", "touch", "/root/after-snapshot"]);
    let r = app
        .call(Method::PATCH, &format!("{base}/snapshots/{snap}/alias"), &s.token, Some(json!({"alias": "cli"})))
        .await;
    r.expect(200);
    assert_eq!(r.data()["snapshot"]["alias"], "cli");
    app.call(Method::PATCH, &format!("{base}/snapshots/{snap}"), &s.token, None).await.expect(200);
    let after = std::process::Command::new("lxc")
        .args(["exec", &name, "--", "test", "-e", "/root/after-snapshot"])
        .status()
        .unwrap();
    assert!(!after.success(), "the restore rolled the file back");

    // a grant's level.
    let r = app
        .post_auth(
            &format!("/api/v1/projects/{project}/permissions"),
            &s.token,
            Some(json!({"user_id": friend.user_id, "permission_level": "read"})),
        )
        .await;
    r.expect(201);
    let grant = r.data()["id"].as_str().unwrap().to_owned();
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/projects/{project}/permissions/{grant}"),
            &s.token,
            Some(json!({"permission_level": "edit"})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["permission_level"], "edit");

    // The document declares both methods, each with its own operation id.
    let doc = hoody_api::openapi::document_json();
    let doc: serde_json::Value = serde_json::from_str(&doc).unwrap();
    for path in [
        "/api/v1/containers/{id}/env",
        "/api/v1/containers/{id}/env/{key}",
        "/api/v1/containers/{id}/network",
        "/api/v1/containers/{id}/snapshots/{name}",
        "/api/v1/containers/{id}/snapshots/{name}/alias",
        "/api/v1/projects/{id}/permissions/{permissionId}",
    ] {
        let item = &doc["paths"][path];
        let (put, patch) = (&item["put"]["operationId"], &item["patch"]["operationId"]);
        assert!(put.is_string() && patch.is_string() && put != patch, "{path}: {put} / {patch}");
    }
}
