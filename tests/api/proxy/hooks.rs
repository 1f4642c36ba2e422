//! The `proxyHooks` and `proxyDiscovery` routes: hooks appended, inserted, moved, replaced and
//! removed under `if-match`, their ids lowercase ULIDs, their limits (8 per service, 32 in a
//! document, three services refused), and the discovery views over the container's document
//! merged with its project's.

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::LxdApp;

fn hook(path: &str) -> Value {
    json!({"match": {"method": "GET", "path": path}, "script": {"path": format!("/hooks{path}.js")}})
}

fn ulid(id: &Value) -> bool {
    id.as_str().is_some_and(|s| {
        s.len() == 26 && s.bytes().all(|b| b"0123456789abcdefghjkmnpqrstvwxyz".contains(&b)) && s.as_bytes()[0] <= b'7'
    })
}

struct Doc<'a> {
    app: &'a LxdApp,
    token: &'a str,
    id: &'a str,
}

impl Doc<'_> {
    async fn version(&self) -> i64 {
        let r = self
            .app
            .call(Method::GET, &format!("/api/v1/containers/{}/proxy/permissions", self.id), self.token, None)
            .await;
        r.expect(200);
        r.data()["file_version"].as_i64().unwrap()
    }

    /// A write with the current version.
    async fn write(&self, method: Method, rest: &str, body: Option<Value>) -> crate::harness::Resp {
        let v = self.version().await;
        let path = format!("/api/v1/containers/{}/proxy/{rest}", self.id);
        self.app.request_with(method, &path, Some(self.token), &[("if-match", &format!("file:v{v}"))], body).await
    }

    async fn get(&self, rest: &str) -> Value {
        let r =
            self.app.call(Method::GET, &format!("/api/v1/containers/{}/proxy/{rest}", self.id), self.token, None).await;
        r.expect(200);
        r.data().clone()
    }
}

fn field(r: &crate::harness::Resp) -> String {
    r.body["details"]["fields"][0]["path"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_are_ordered_limited_and_written_under_if_match() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("proxy-hooks@example.com").await;
    let project = app.project(&s.token, "Hooks").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let doc = Doc { app: &app, token: &s.token, id: &id };

    let all = doc.get("hooks").await;
    assert_eq!((all["hooks"].clone(), all["file_version"].as_i64()), (json!({}), Some(0)));
    let path = format!("/api/v1/containers/{id}/proxy/hooks/http");
    let r = app.call(Method::POST, &path, &s.token, Some(hook("/a"))).await;
    r.expect(428);
    let r = app.request_with(Method::POST, &path, Some(&s.token), &[("if-match", "file:v7")], Some(hook("/a"))).await;
    r.expect(412);

    let a = doc.write(Method::POST, "hooks/http", Some(hook("/a"))).await;
    a.expect(200);
    assert!(ulid(&a.data()["hook"]["id"]), "{}", a.text);
    assert_eq!((a.data()["hook"]["position"].as_i64(), a.data()["file_version"].as_i64()), (Some(0), Some(1)));
    assert_eq!(a.data()["etag"], "file:v1");
    let a_id = a.data()["hook"]["id"].as_str().unwrap().to_owned();
    let b = doc.write(Method::POST, "hooks/http", Some(json!({"match": {"method": ["POST", "PUT"]}, "script": {"path": "/b.js"}, "timeout": 30000, "position": 0}))).await;
    b.expect(200);
    let b_id = b.data()["hook"]["id"].as_str().unwrap().to_owned();
    assert_ne!(a_id, b_id);
    let list = doc.get("hooks/http").await;
    let order: Vec<&str> = list["hooks"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap()).collect();
    assert_eq!(order, [b_id.as_str(), a_id.as_str()], "inserted at 0");
    assert_eq!(list["hooks"][1]["position"], 1);

    // Replace keeps id and position; move; get one.
    let r = doc.write(Method::PUT, &format!("hooks/http/{a_id}"), Some(hook("/a2"))).await;
    r.expect(200);
    assert_eq!(
        (r.data()["hook"]["id"].as_str(), r.data()["hook"]["position"].as_i64()),
        (Some(a_id.as_str()), Some(1))
    );
    assert_eq!(r.data()["hook"]["match"]["path"], "/a2");
    let r = doc.write(Method::PATCH, &format!("hooks/http/{a_id}/position"), Some(json!({"position": 0}))).await;
    r.expect(200);
    assert_eq!(r.data()["hook"]["position"], 0);
    let one = doc.get(&format!("hooks/http/{b_id}")).await;
    assert_eq!((one["hook"]["position"].as_i64(), one["hook"]["timeout"].as_i64()), (Some(1), Some(30000)));
    let r = doc.write(Method::PATCH, &format!("hooks/http/{a_id}/position"), Some(json!({"position": 2}))).await;
    r.expect(422);
    assert_eq!(field(&r), "position");
    app.call(Method::GET, &format!("{path}/NOT-A-ULID"), &s.token, None).await.expect(404);
    app.call(Method::GET, &format!("{path}/{}", "0".repeat(26)), &s.token, None).await.expect(404);

    // Bad hooks name the field and store nothing.
    let v = doc.version().await;
    for (service, body, f) in [
        ("logs", hook("/x"), "service"),
        ("proxy", hook("/x"), "service"),
        ("workspaces", hook("/x"), "service"),
        ("Bad_Service", hook("/x"), "service"),
        ("http", json!({"match": {"method": "FETCH"}, "script": {"path": "/x"}}), "match.method"),
        ("http", json!({"match": {}, "script": {}}), "script.path"),
        ("http", json!({"script": {"path": "/x"}}), "match"),
        ("http", json!({"match": {}, "script": {"path": "/x"}, "timeout": 0}), "timeout"),
        ("http", json!({"match": {}, "script": {"path": "/x"}, "timeout": 30001}), "timeout"),
        (
            "http",
            json!({"match": {}, "script": {"path": "/x"}, "applies_to": {"groups": ["nobody"]}}),
            "applies_to.groups",
        ),
        ("http", json!({"match": {}, "script": {"path": "/x"}, "position": 9}), "position"),
    ] {
        let r = doc.write(Method::POST, &format!("hooks/{service}"), Some(body.clone())).await;
        assert_eq!(r.status, 422, "{service} {body}: {}", r.text);
        assert_eq!(field(&r), f, "{body}");
    }
    assert_eq!(doc.version().await, v, "nothing stored");

    // 8 per service, 32 in the document.
    for i in 0..6 {
        doc.write(Method::POST, "hooks/http", Some(hook(&format!("/h{i}")))).await.expect(200);
    }
    let r = doc.write(Method::POST, "hooks/http", Some(hook("/ninth"))).await;
    r.expect(422);
    assert_eq!(field(&r), "service");
    for svc in ["ssh", "terminal", "ui"] {
        for i in 0..8 {
            doc.write(Method::POST, &format!("hooks/{svc}"), Some(hook(&format!("/h{i}")))).await.expect(200);
        }
    }
    let r = doc.write(Method::POST, "hooks/files", Some(hook("/33rd"))).await;
    r.expect(422);
    assert_eq!(field(&r), "hooks");

    // Remove one, clear a service.
    doc.write(Method::DELETE, &format!("hooks/http/{b_id}"), None).await.expect(200);
    doc.write(Method::DELETE, &format!("hooks/http/{b_id}"), None).await.expect(404);
    let r = doc.write(Method::DELETE, "hooks/ssh", None).await;
    r.expect(200);
    assert_eq!(r.data()["removed"], 8);
    let all = doc.get("hooks").await;
    assert_eq!(all["hooks"]["http"].as_array().unwrap().len(), 7);
    assert!(all["hooks"].get("ssh").is_none());
    // Every write was stored as a version.
    let stored: i64 =
        sqlx::query_scalar("select version from document where kind = 'proxy.container' and owner_key = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, all["file_version"].as_i64().unwrap());

    // Another user sees nothing (a read grantee's refusals: access.rs, without LXD).
    let other = app.verified_user("proxy-hooks-other@example.com").await;
    app.call(Method::GET, &format!("/api/v1/containers/{id}/proxy/hooks"), &other.token, None).await.expect(404);
    let r =
        app.request_with(Method::POST, &path, Some(&other.token), &[("if-match", "file:v1")], Some(hook("/x"))).await;
    r.expect(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_shows_the_merged_view_and_settings_take_if_match() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("proxy-discovery@example.com").await;
    let project = app.project(&s.token, "Discovery").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let doc = Doc { app: &app, token: &s.token, id: &id };

    let settings = doc.get("settings").await;
    assert_eq!(settings, json!({"enable_proxy": true, "default": "allow", "file_version": 0, "etag": "file:v0"}));
    assert_eq!(doc.get("services").await["services"], json!([]));

    let r = app
        .request_with(
            Method::PUT,
            &format!("/api/v1/projects/{project}/proxy/permissions"),
            Some(&s.token),
            &[("if-match", "file:v0")],
            Some(json!({"project": project, "groups": {"team": {"type": "ip", "range": "10.0.0.0/8"}},
                        "permissions": {"team": {"http": true, "ssh": [22]}}, "default": "deny"})),
        )
        .await;
    r.expect(200);
    let r = doc
        .write(
            Method::PUT,
            "permissions",
            Some(json!({"project": project, "container": id,
                        "groups": {"team": {"type": "ip", "range": "192.168.0.0/16"}, "ops": {"type": "ip", "range": "10.1.0.0/16"}},
                        "permissions": {"team": {"http": false}, "ops": {"http": [8080], "exec": true}},
                        "hooks": {"api": [hook("/api")]}})),
        )
        .await;
    r.expect(200);

    let services = doc.get("services").await;
    assert_eq!(services["services"], json!(["api", "exec", "http"]));
    assert_eq!(services["file_version"], 1);
    let http = doc.get("services/http").await;
    assert_eq!(
        http["permissions_raw"],
        json!({"ops": [8080], "team": false}),
        "the container's rule over the project's"
    );
    assert_eq!((http["effective_default"].as_str(), http["is_reject_listed"].as_bool()), (Some("deny"), Some(false)));
    let ssh = doc.get("services/ssh").await;
    assert_eq!(ssh["permissions_raw"], json!({"team": [22]}), "the project's where the container has none");
    assert_eq!(doc.get("services/api").await["hooks"][0]["match"]["path"], "/api");
    assert_eq!(doc.get("services/logs").await["is_reject_listed"], true);
    let groups = doc.get("groups").await;
    assert_eq!(
        groups["groups"],
        json!([{"name": "ops", "auth_rule_count": 2}, {"name": "team", "auth_rule_count": 1}])
    );

    let put = format!("/api/v1/containers/{id}/proxy/settings");
    app.call(Method::PUT, &put, &s.token, Some(json!({"enable_proxy": false}))).await.expect(428);
    let r = app
        .request_with(
            Method::PUT,
            &put,
            Some(&s.token),
            &[("if-match", "file:v0")],
            Some(json!({"enable_proxy": false})),
        )
        .await;
    r.expect(412);
    assert_eq!(r.body["details"]["current_file_version"], 1, "{}", r.text);
    let r = doc.write(Method::PUT, "settings", Some(json!({}))).await;
    r.expect(422);
    let r = doc.write(Method::PUT, "settings", Some(json!({"default": "maybe"}))).await;
    r.expect(422);
    assert_eq!(field(&r), "default");
    let r = doc.write(Method::PUT, "settings", Some(json!({"enable_proxy": false}))).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"enable_proxy": false, "default": "deny", "file_version": 2, "etag": "file:v2"}));
    let r = doc.write(Method::PUT, "settings", Some(json!({"default": "allow", "enable_proxy": true}))).await;
    r.expect(200);
    let full = doc.get("permissions").await;
    assert_eq!((full["default"].as_str(), full["enable_proxy"].as_bool()), (Some("allow"), Some(true)));
    assert_eq!(full["groups"]["ops"]["range"], "10.1.0.0/16", "a settings write leaves the rest");
}
