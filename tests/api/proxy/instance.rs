//! Where the edge reads the documents: the container's merged over its project's, written into
//! the instance at `/etc/hoody/proxy/permissions.json` (root's, 0600) on every new version, and
//! written again by the reconciler when the instance lost it or holds an older one; and what
//! the documents mean, through `POST …/proxy/explain`.

use std::time::{Duration, Instant};

use base64::Engine;
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::{lxc, LxdApp};

const FILE: &str = "/etc/hoody/proxy/permissions.json";

fn held(id: &str) -> Option<Value> {
    let out = std::process::Command::new("lxc").args(["file", "pull", &format!("c-{id}{FILE}"), "-"]).output().unwrap();
    out.status.success().then(|| serde_json::from_slice(&out.stdout).ok()).flatten()
}

/// The file once it was made from these versions (container document, project document).
async fn file_at(id: &str, versions: (i64, i64)) -> Value {
    let start = Instant::now();
    loop {
        if let Some(v) = held(id) {
            if (v["container_file_version"].as_i64(), v["project_file_version"].as_i64())
                == (Some(versions.0), Some(versions.1))
            {
                return v;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no file at {versions:?}: {:?}", held(id));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn put(app: &LxdApp, token: &str, path: &str, version: i64, body: Value) -> Value {
    let r = app
        .request_with(Method::PUT, path, Some(token), &[("if-match", &format!("file:v{version}"))], Some(body))
        .await;
    r.expect(200);
    r.data().clone()
}

async fn read(app: &LxdApp, token: &str, path: &str) -> Value {
    let r = app.call(Method::GET, path, token, None).await;
    r.expect(200);
    r.data().clone()
}

/// The whole file the instance should hold, from what the API answers its owner: each
/// document's groups (secrets included: the password's stored hash, token values, JWT keys) and
/// rules as its GET returns them, the container's hooks, both versions, and the switch and
/// default that apply (the default as the merged service view reports it; the switch the
/// container's when its document sets it, else the project's). The GETs' own `default`,
/// `enable_proxy`, `schema_version` and `etag` per document are not in the file: it carries the
/// merged ones.
async fn expected_file(app: &LxdApp, token: &str, project: &str, id: &str) -> Value {
    let c = read(app, token, &format!("/api/v1/containers/{id}/proxy/permissions")).await;
    let p = read(app, token, &format!("/api/v1/projects/{project}/proxy/permissions")).await;
    let view = read(app, token, &format!("/api/v1/containers/{id}/proxy/services/http")).await;
    assert_eq!(view["file_version"], c["file_version"]);
    let enable_proxy = c.get("enable_proxy").cloned().unwrap_or_else(|| p["enable_proxy"].clone());
    json!({
        "schema_version": c["schema_version"],
        "project": project,
        "container": id,
        "container_file_version": c["file_version"],
        "project_file_version": p["file_version"],
        "enable_proxy": enable_proxy,
        "default": view["effective_default"],
        "container_document": {"groups": c["groups"], "permissions": c["permissions"]},
        "project_document": {"groups": p["groups"], "permissions": p["permissions"]},
        "hooks": c["hooks"],
    })
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_instance_holds_the_merged_document_and_the_reconciler_keeps_it() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("proxy-file@example.com").await;
    let project = app.project(&s.token, "Edge").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let pdoc = format!("/api/v1/projects/{project}/proxy/permissions");
    let cdoc = format!("/api/v1/containers/{id}/proxy/permissions");

    put(
        &app,
        &s.token,
        &pdoc,
        0,
        json!({"project": project, "groups": {"office": {"type": "ip", "range": "10.0.0.0/8"},
                                              "ci": {"type": "token", "header": "X-CI", "value": "ci-token-1"},
                                              "sso": {"type": "jwt", "secret": "sso-key-1", "algorithm": "HS256",
                                                      "sources": ["cookie:sso"], "claims": {"aud": "edge"}}},
               "permissions": {"office": {"http": [80]}, "ci": {"http": true}}, "default": "deny"}),
    )
    .await;
    let hook = json!({"match": {"method": ["GET", "POST"], "path": "/api"}, "script": {"path": "/hooks/api.js"}, "timeout": 500});
    let written = put(
        &app,
        &s.token,
        &cdoc,
        0,
        json!({"project": project, "container": id,
               "groups": {"ann": {"type": "password", "username": "ann", "password": "open-sesame", "salt": "pepper"}},
               "permissions": {"ann": {"ssh": true}}, "default": "allow", "hooks": {"http": [hook]}}),
    )
    .await;
    assert_eq!(written["enable_proxy"], true, "saving a container document stores the switch");

    // The whole file is the documents as the API returns them to their owner, merged.
    let file = file_at(&id, (1, 1)).await;
    assert_eq!(file, expected_file(&app, &s.token, &project, &id).await);
    assert_eq!(file["default"], "allow", "the container's default over the project's");
    assert_eq!(file["enable_proxy"], true);
    // Secrets as stored: the password's hash (never the password), the token value and JWT key.
    let hash = hoody_api::proxy::group::password_hash("pepper", "open-sesame");
    assert_eq!(file["container_document"]["groups"]["ann"]["password"], hash.as_str());
    assert!(!serde_json::to_string(&file).unwrap().contains("open-sesame"));
    assert_eq!(file["project_document"]["groups"]["ci"]["value"], "ci-token-1");
    assert_eq!(file["project_document"]["groups"]["sso"]["secret"], "sso-key-1");
    assert_eq!(file["hooks"]["http"][0]["id"], written["hooks"]["http"][0]["id"]);
    let mode = lxc(&["exec", &format!("c-{id}"), "--", "stat", "-c", "%a %u %g", FILE]);
    assert_eq!(mode.trim(), "600 0 0", "root's, read by root only");
    let recorded: (i64, i64) =
        sqlx::query_as("select container_version, project_version from proxy_file where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(recorded, (1, 1));

    // A project change reaches the file of every container in the project.
    let r = app
        .request_with(
            Method::PATCH,
            &format!("{pdoc}/state"),
            Some(&s.token),
            &[("if-match", "file:v1")],
            Some(json!({"enable_proxy": false})),
        )
        .await;
    r.expect(200);
    let file = file_at(&id, (1, 2)).await;
    assert_eq!(file, expected_file(&app, &s.token, &project, &id).await);
    assert_eq!(file["enable_proxy"], true, "the container's own switch wins over a disabled project");

    // Lost: the reconciler writes it again.
    lxc(&["exec", &format!("c-{id}"), "--", "rm", "-f", FILE]);
    assert!(held(&id).is_none());
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    let file = file_at(&id, (1, 2)).await;
    assert_eq!(file, expected_file(&app, &s.token, &project, &id).await);

    // Older: the same.
    let old = json!({"container_file_version": 0, "project_file_version": 0, "default": "allow"}).to_string();
    let tmp = std::env::temp_dir().join(format!("old-{id}.json"));
    std::fs::write(&tmp, old).unwrap();
    lxc(&["file", "push", tmp.to_str().unwrap(), &format!("c-{id}{FILE}")]);
    std::fs::remove_file(&tmp).unwrap();
    assert_eq!(held(&id).unwrap()["container_file_version"], 0);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    let file = file_at(&id, (1, 2)).await;
    assert_eq!(file, expected_file(&app, &s.token, &project, &id).await);
    // In step: a pass changes nothing.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_says_what_the_documents_decide_and_why() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("proxy-explain@example.com").await;
    let project = app.project(&s.token, "Explain").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let explain = format!("/api/v1/containers/{id}/proxy/explain");
    let ask = |body: Value| {
        let (app, explain, token) = (&app, &explain, &s.token);
        async move {
            let r = app.call(Method::POST, explain, token, Some(body)).await;
            r.expect(200);
            r.data().clone()
        }
    };

    // No documents: open.
    let d = ask(json!({"program": "http", "instance": 8080})).await;
    assert_eq!((d["decision"].as_str(), d["reason"].as_str()), (Some("allow"), Some("default")));
    assert_eq!((d["container_file_version"].as_i64(), d["project_file_version"].as_i64()), (Some(0), Some(0)));

    let pdoc = format!("/api/v1/projects/{project}/proxy/permissions");
    let cdoc = format!("/api/v1/containers/{id}/proxy/permissions");
    put(
        &app,
        &s.token,
        &pdoc,
        0,
        json!({"project": project, "groups": {"office": {"type": "ip", "range": "10.0.0.0/8"},
                                              "ci": {"type": "token", "header": "X-CI", "value": "ci-secret-1"}},
               "permissions": {"office": {"http": "80,8000-8100"}, "ci": {"http": true}}, "default": "deny"}),
    )
    .await;
    put(
        &app,
        &s.token,
        &cdoc,
        0,
        json!({"project": project, "container": id,
               "groups": {"ann": {"type": "password", "username": "ann", "password": "pw-1", "salt": "s"}},
               "permissions": {"ann": {"ssh": true, "files": true}}, "default": "deny"}),
    )
    .await;

    let d = ask(json!({"program": "http", "instance": 8050, "client_ip": "10.9.9.9"})).await;
    assert_eq!(
        (d["decision"].as_str(), d["group"].as_str(), d["origin"].as_str()),
        (Some("allow"), Some("office"), Some("project"))
    );
    let d = ask(json!({"program": "http", "instance": 8200, "client_ip": "10.9.9.9"})).await;
    assert_eq!((d["decision"].as_str(), d["reason"].as_str()), (Some("deny"), Some("default")));
    assert_eq!(d["matched_groups"], json!(["office"]));
    let d = ask(json!({"program": "http", "instance": 8200, "client_ip": "192.0.2.1"})).await;
    assert_eq!(d["decision"], "deny");
    let d = ask(json!({"program": "http", "instance": 1, "headers": {"x-ci": "ci-secret-1"}})).await;
    assert_eq!((d["decision"].as_str(), d["group"].as_str()), (Some("allow"), Some("ci")));
    let d = ask(json!({"program": "http", "instance": 1, "headers": {"x-ci": "ci-secret-2"}})).await;
    assert_eq!(d["decision"], "deny");
    let d = ask(json!({"program": "ssh", "headers": {"authorization": basic("ann", "pw-1")}})).await;
    assert_eq!(
        (d["decision"].as_str(), d["group"].as_str(), d["origin"].as_str()),
        (Some("allow"), Some("ann"), Some("container"))
    );
    let d = ask(json!({"program": "ssh", "headers": {"authorization": basic("ann", "pw-2")}})).await;
    assert_eq!(d["decision"], "deny");

    // The kill switch: a project's `false` cuts a container that leaves its own unset… the
    // container document stored an explicit `true` when it was saved, so it stays reachable.
    let r = app
        .request_with(
            Method::PATCH,
            &format!("{pdoc}/state"),
            Some(&s.token),
            &[("if-match", "file:v1")],
            Some(json!({"enable_proxy": false})),
        )
        .await;
    r.expect(200);
    let d = ask(json!({"program": "ssh", "headers": {"authorization": basic("ann", "pw-1")}})).await;
    assert_eq!(d["decision"], "allow");
    // …and once the container document is gone (unset), the project's switch decides first.
    let r = app.request_with(Method::DELETE, &cdoc, Some(&s.token), &[("if-match", "file:v1")], None).await;
    r.expect(200);
    let d = ask(json!({"program": "http", "instance": 8050, "client_ip": "10.9.9.9"})).await;
    assert_eq!((d["decision"].as_str(), d["reason"].as_str()), (Some("deny"), Some("proxy_disabled")));

    // Bad input names the field; another user gets 404 (a read grantee's 403: access.rs).
    for (body, field) in [
        (json!({"program": "HTTP"}), "program"),
        (json!({"program": "http", "instance": 0}), "instance"),
        (json!({"program": "http", "client_ip": "10.0.0.300"}), "client_ip"),
    ] {
        let r = app.call(Method::POST, &explain, &s.token, Some(body)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
    }
    let other = app.verified_user("proxy-explain-other@example.com").await;
    app.call(Method::POST, &explain, &other.token, Some(json!({"program": "http"}))).await.expect(404);
}
