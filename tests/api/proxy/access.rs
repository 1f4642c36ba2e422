//! Who reaches the documents: another user gets the 404 of a missing container or project on
//! every route (before any `if-match` check); a read grantee and a token without the update leaf
//! read the groups without their secrets and cannot write (a read grantee reads the hooks and
//! settings too, and gets 403 on every hook write, the settings write and `explain`); an edit
//! grantee and a token with the leaf see the secrets and write.

use reqwest::Method;
use serde_json::{json, Value};

use super::{fx, send, stored, user, write_at, Doc, Fx};
use crate::permissions::tree;

/// Write a document with one group of each type; returns the secrets it holds.
async fn seed(fx: &Fx, doc: &Doc) {
    let body = doc.whole(json!({
        "groups": {
            "pw": {"type": "password", "username": "alice", "password": "plain-pw", "salt": "salty"},
            "tk": {"type": "token", "header": "X-Key", "value": "token-value"},
            "jw": {"type": "jwt", "secret": "jwt-secret", "algorithm": "HS256", "sources": ["header:Authorization"]},
            "net": {"type": "ip", "range": "10.0.0.0/8"}
        },
        "permissions": {"pw": {"http": true}}
    }));
    write_at(fx, Method::PUT, &doc.at(""), &fx.owner.token, 0, Some(body)).await.expect(200);
}

/// The groups as a caller without edit rights sees them.
fn redacted() -> Value {
    json!({
        "pw": {"type": "password", "username": "alice", "algorithm": "sha256", "salt": "salty"},
        "tk": {"type": "token", "header": "X-Key"},
        "jw": {"type": "jwt", "algorithm": "HS256", "sources": ["header:Authorization"], "claims": {}},
        "net": {"type": "ip", "range": "10.0.0.0/8"}
    })
}

#[track_caller]
fn has_secrets(groups: &Value) {
    assert_eq!(groups["pw"]["password"], super::hash("salty", "plain-pw"), "{groups}");
    assert_eq!(groups["tk"]["value"], "token-value", "{groups}");
    assert_eq!(groups["jw"]["secret"], "jwt-secret", "{groups}");
}

#[tokio::test]
async fn another_user_gets_404_on_every_route_even_without_if_match() {
    let fx = fx().await;
    let docs = [fx.cdoc(), fx.pdoc()];
    for d in &docs {
        seed(&fx, d).await;
    }
    let e = user(&fx, "stranger").await;
    // Their own project, to be sure they are a working user.
    let own = super::project(&fx, &e.token, "Mine").await;
    fx.get(&Doc::project(&own).at(""), Some(&e.token)).await.expect(200);
    for d in &docs {
        let code = if d.container.is_some() { "container_not_found" } else { "project_not_found" };
        for path in [d.at(""), d.at("?version=1")] {
            let r = fx.get(&path, Some(&e.token)).await;
            r.expect(404);
            assert_eq!(r.code(), code);
        }
        for (method, path, body) in d.writes() {
            for m in [None, Some("file:v1"), Some("file:v0"), Some("garbage")] {
                let r = send(&fx, method.clone(), &path, &e.token, m, body.clone()).await;
                assert_eq!(r.status, 404, "{method} {path} with {m:?}: {}", r.text);
                r.expect(404);
                assert_eq!(r.code(), code, "{method} {path}");
            }
        }
        assert_eq!(stored(&fx, d).await.0, 1, "nothing written");
    }
    // A missing container and project read the same.
    let ghost = hoody_api::db::new_id();
    let r = fx.get(&Doc::container(&fx.project, &ghost).at(""), Some(&e.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    let r = fx.get(&Doc::container(&fx.project, &ghost).at(""), Some(&fx.owner.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
}

#[tokio::test]
async fn grantees_see_secrets_only_when_they_may_edit() {
    let fx = fx().await;
    let docs = [fx.cdoc(), fx.pdoc()];
    for d in &docs {
        seed(&fx, d).await;
    }
    let grants = format!("/api/v1/projects/{}/permissions", fx.project);
    let reader = user(&fx, "reader").await;
    let r = fx
        .post_auth(&grants, &fx.owner.token, Some(json!({"user_id": reader.user_id, "permission_level": "read"})))
        .await;
    r.expect(201);
    let editor = user(&fx, "editor").await;
    let r = fx
        .post_auth(&grants, &fx.owner.token, Some(json!({"user_id": editor.user_id, "permission_level": "edit"})))
        .await;
    r.expect(201);

    for d in &docs {
        // The reader: the document without secrets, now and in a kept version.
        for path in [d.at(""), d.at("?version=1")] {
            let r = fx.get(&path, Some(&reader.token)).await;
            r.expect(200);
            assert_eq!(r.data()["groups"], redacted(), "{path}: {}", r.text);
            assert_eq!(r.data()["permissions"], json!({"pw": {"http": true}}));
            assert_eq!(r.data()["file_version"], 1);
            assert!(!r.text.contains("token-value") && !r.text.contains("jwt-secret"), "{}", r.text);
        }
        // … and no write, with or without the right version.
        for (method, path, body) in d.writes() {
            for m in [Some("file:v1"), None] {
                let r = send(&fx, method.clone(), &path, &reader.token, m, body.clone()).await;
                assert_eq!(r.status, 403, "{method} {path} with {m:?}: {}", r.text);
                r.expect(403);
                assert_eq!(r.code(), "project_access_denied", "{method} {path}");
            }
        }
        assert_eq!(stored(&fx, d).await.0, 1, "nothing written");

        // The editor: secrets, and writes.
        let r = fx.get(&d.at(""), Some(&editor.token)).await;
        r.expect(200);
        has_secrets(&r.data()["groups"]);
        let r =
            write_at(&fx, Method::PATCH, &d.at("/default"), &editor.token, 1, Some(json!({"default": "allow"}))).await;
        r.expect(200);
        assert_eq!(r.data()["file_version"], 2);
        has_secrets(&r.data()["groups"]);
        // The owner sees secrets too.
        let r = fx.get(&d.at(""), Some(&fx.owner.token)).await;
        has_secrets(&r.data()["groups"]);
    }
    // The events are the owner's (grantees see them through the project), saying who wrote.
    let by: Vec<(String, Value)> = sqlx::query_as(
        "select user_id, data->'by' from event where resource_type = 'proxy_permissions' \
         and event_type = 'proxy.permissions.default_changed'",
    )
    .fetch_all(&fx.db)
    .await
    .unwrap();
    assert_eq!(by.len(), 2);
    assert!(by.iter().all(|(u, b)| u == &fx.owner.user_id && b == &json!(editor.user_id)), "{by:?}");
}

#[tokio::test]
async fn tokens_need_the_update_leaf_to_write_and_to_see_secrets() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let docs = [fx.cdoc(), fx.pdoc()];
    for d in &docs {
        seed(&fx, d).await;
    }
    for d in &docs {
        let (read, update) = if d.container.is_some() {
            ("containers.read", "containers.update")
        } else {
            ("projects.read", "projects.update")
        };
        let (reading, _) = fx.new_token(t, json!({"permissions": tree(&[read])})).await;
        let (updating, _) = fx.new_token(t, json!({"permissions": tree(&[read, update])})).await;
        let (neither, _) = fx.new_token(t, json!({"permissions": tree(&[])})).await;

        let r = fx.get(&d.at(""), Some(&reading)).await;
        r.expect(200);
        assert_eq!(r.data()["groups"], redacted(), "{}", r.text);
        for (method, path, body) in d.writes() {
            let r = write_at(&fx, method.clone(), &path, &reading, 1, body).await;
            assert_eq!(r.status, 403, "{method} {path}: {}", r.text);
            r.expect(403);
            assert_eq!(r.code(), "insufficient_permissions");
            assert!(r.text.contains(update), "{}", r.text);
        }
        let r = fx.get(&d.at(""), Some(&neither)).await;
        r.expect(403);
        assert!(r.text.contains(read), "{}", r.text);
        assert_eq!(stored(&fx, d).await.0, 1, "nothing written");

        let r = fx.get(&d.at(""), Some(&updating)).await;
        r.expect(200);
        has_secrets(&r.data()["groups"]);
        let r =
            write_at(&fx, Method::PUT, &d.at("/groups/more/ip"), &updating, 1, Some(json!({"range": "1.2.3.0/24"})))
                .await;
        r.expect(200);
        has_secrets(&r.data()["groups"]);
        assert_eq!(stored(&fx, d).await.0, 2);
    }
}

#[tokio::test]
async fn container_reads_report_the_documents_and_include_them_on_request() {
    let fx = fx().await;
    let one = format!("/api/v1/containers/{}", fx.container);
    let list = format!("/api/v1/projects/{}/containers", fx.project);
    let r = fx.get(&one, Some(&fx.owner.token)).await;
    r.expect(200);
    assert_eq!(
        (r.data()["has_proxy_permissions"].as_bool(), r.data()["proxy_permissions_scope"].as_str()),
        (Some(false), Some("none"))
    );
    assert!(r.data().get("proxy_permissions").is_none(), "only when asked for");

    seed(&fx, &fx.pdoc()).await;
    let r = fx.get(&one, Some(&fx.owner.token)).await;
    assert_eq!(r.data()["proxy_permissions_scope"], "project");
    seed(&fx, &fx.cdoc()).await;
    let r = fx.get(&format!("{list}?include_proxy_permissions=true"), Some(&fx.owner.token)).await;
    r.expect(200);
    let c = &r.data()["containers"][0];
    assert_eq!(
        (c["has_proxy_permissions"].as_bool(), c["proxy_permissions_scope"].as_str()),
        (Some(true), Some("both"))
    );
    assert_eq!(c["proxy_permissions"]["container"], fx.container.as_str());
    assert_eq!(c["proxy_permissions"]["file_version"], 1);
    has_secrets(&c["proxy_permissions"]["groups"]);
    has_secrets(&c["project_proxy_permissions"]["groups"]);
    assert!(c["project_proxy_permissions"].get("container").is_none());

    // A read grantee gets them without the secrets.
    let reader = user(&fx, "include-reader").await;
    let grants = format!("/api/v1/projects/{}/permissions", fx.project);
    let r = fx
        .post_auth(&grants, &fx.owner.token, Some(json!({"user_id": reader.user_id, "permission_level": "read"})))
        .await;
    r.expect(201);
    let r = fx.get(&format!("{one}?include_proxy_permissions=true"), Some(&reader.token)).await;
    r.expect(200);
    assert_eq!(r.data()["proxy_permissions"]["groups"], redacted());
    assert_eq!(r.data()["project_proxy_permissions"]["groups"], redacted());
    assert!(!r.text.contains("token-value") && !r.text.contains("jwt-secret"), "{}", r.text);
}

#[tokio::test]
async fn read_grantees_read_hooks_and_settings_but_cannot_write_them_nor_ask_explain() {
    let fx = fx().await;
    let d = fx.cdoc();
    let hook = json!({"match": {"method": "GET", "path": "/a"}, "script": {"path": "/hooks/a.js"}});
    let body = d.whole(json!({"groups": {"net": {"type": "ip", "range": "10.0.0.0/8"}},
                              "permissions": {"net": {"http": true}}, "hooks": {"http": [hook.clone()]}}));
    write_at(&fx, Method::PUT, &d.at(""), &fx.owner.token, 0, Some(body)).await.expect(200);
    let grants = format!("/api/v1/projects/{}/permissions", fx.project);
    let reader = user(&fx, "hooks-reader").await;
    let r = fx
        .post_auth(&grants, &fx.owner.token, Some(json!({"user_id": reader.user_id, "permission_level": "read"})))
        .await;
    r.expect(201);
    let base = format!("/api/v1/containers/{}/proxy", fx.container);

    // The reader sees the hooks and the settings…
    let r = fx.get(&format!("{base}/hooks/http"), Some(&reader.token)).await;
    r.expect(200);
    let hook_id = r.data()["hooks"][0]["id"].as_str().unwrap().to_owned();
    let r = fx.get(&format!("{base}/settings"), Some(&reader.token)).await;
    r.expect(200);
    assert_eq!(r.data()["file_version"], 1);
    let before = stored(&fx, &d).await;

    // …and writes none of them nor asks `explain`, with or without the current version.
    let explain = json!({"program": "http", "instance": 80, "client_ip": "10.1.2.3"});
    let routes = [
        (Method::POST, format!("{base}/hooks/http"), Some(hook.clone())),
        (Method::DELETE, format!("{base}/hooks/http"), None),
        (Method::PUT, format!("{base}/hooks/http/{hook_id}"), Some(hook.clone())),
        (Method::DELETE, format!("{base}/hooks/http/{hook_id}"), None),
        (Method::PATCH, format!("{base}/hooks/http/{hook_id}/position"), Some(json!({"position": 0}))),
        (Method::PUT, format!("{base}/settings"), Some(json!({"enable_proxy": false}))),
        (Method::POST, format!("{base}/explain"), Some(explain.clone())),
    ];
    for (method, path, body) in &routes {
        for m in [Some("file:v1"), None] {
            let r = send(&fx, method.clone(), path, &reader.token, m, body.clone()).await;
            assert_eq!(r.status, 403, "{method} {path} with {m:?}: {}", r.text);
            r.expect(403);
            assert_eq!(r.code(), "project_access_denied", "{method} {path}");
        }
    }
    assert_eq!(stored(&fx, &d).await, before, "nothing written");

    // The owner may do each (so the refusals were about the level): explain answers, a
    // settings write lands.
    let r = send(&fx, Method::POST, &format!("{base}/explain"), &fx.owner.token, None, Some(explain)).await;
    r.expect(200);
    assert_eq!((r.data()["decision"].as_str(), r.data()["group"].as_str()), (Some("allow"), Some("net")));
    let r =
        write_at(&fx, Method::PUT, &format!("{base}/settings"), &fx.owner.token, 1, Some(json!({"default": "allow"})))
            .await;
    r.expect(200);
    assert_eq!(stored(&fx, &d).await.0, 2);
}
