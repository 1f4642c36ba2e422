//! Every write route of both scopes (24, the GETs making the 26) and the six hook and settings
//! writes of a container's document need `if-match: file:v<N>`: none → 428, a version that is
//! not the current one → 412 carrying the current one, a malformed one → 400 naming the header;
//! none of them writes anything.

use reqwest::Method;
use serde_json::{json, Value};

use super::{events, fx, send, stored, write_at, Doc, Fx};

/// `method path` with `body` refused without the current version (`current`): 428 without the
/// header, 412 carrying `current` with a stale one, 400 naming the header with a malformed one.
async fn refused_without(fx: &Fx, method: &Method, path: &str, body: &Option<Value>, current: i64) {
    let t = &fx.owner.token;
    let what = format!("{method} {path}");
    // No header.
    let r = send(fx, method.clone(), path, t, None, body.clone()).await;
    assert_eq!(r.status, 428, "{what}: {}", r.text);
    r.expect(428);
    assert_eq!(r.code(), "if_match_required", "{what}: {}", r.text);
    // A stale version, an older one and one from the future: 412 with the current one.
    let (older, newer) = (format!("file:v{}", current - 1), format!("file:v{}", current + 1));
    let quoted = format!("\"file:v{}\"", current - 1);
    for stale in ["file:v0", older.as_str(), newer.as_str(), "file:v77", quoted.as_str()] {
        let r = send(fx, method.clone(), path, t, Some(stale), body.clone()).await;
        assert_eq!(r.status, 412, "{what} with {stale}: {}", r.text);
        r.expect(412);
        assert_eq!(r.code(), "version_mismatch", "{what}: {}", r.text);
        assert_eq!(r.body["details"]["current_file_version"], current, "{what}: {}", r.text);
    }
    // Malformed.
    let bare = current.to_string();
    for bad in ["v2", "file:vx", "file:v", "file:2", "file:v-1", "*", bare.as_str()] {
        let r = send(fx, method.clone(), path, t, Some(bad), body.clone()).await;
        assert_eq!(r.status, 400, "{what} with {bad}: {}", r.text);
        r.expect(400);
        assert_eq!(r.code(), "invalid_if_match", "{what} with {bad}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], "if-match", "{what}: {}", r.text);
    }
}

#[tokio::test]
async fn every_write_route_needs_the_current_version() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let docs = [fx.cdoc(), fx.pdoc()];
    // Both documents at version 2, with a group g1 holding a rule (so every route could apply).
    for d in &docs {
        let body = d.whole(json!({
            "groups": {"g1": {"type": "ip", "range": "10.0.0.0/8"}},
            "permissions": {"g1": {"http": true}}
        }));
        write_at(&fx, Method::PUT, &d.at(""), t, 0, Some(body)).await.expect(200);
        write_at(&fx, Method::PATCH, &d.at("/default"), t, 1, Some(json!({"default": "allow"}))).await.expect(200);
    }
    let before: Vec<_> = futures::future::join_all(docs.iter().map(|d| stored(&fx, d))).await;
    let events_before: Vec<usize> =
        futures::future::join_all(docs.iter().map(|d| events(&fx, d))).await.iter().map(Vec::len).collect();
    assert_eq!(before.iter().map(|b| b.0).collect::<Vec<_>>(), [2, 2]);

    let mut routes = 0;
    for d in &docs {
        for (method, path, body) in d.writes() {
            routes += 1;
            refused_without(&fx, &method, &path, &body, 2).await;
        }
    }
    assert_eq!(routes, 24);
    let after: Vec<_> = futures::future::join_all(docs.iter().map(|d| stored(&fx, d))).await;
    assert_eq!(after, before, "nothing written");
    let events_after: Vec<usize> =
        futures::future::join_all(docs.iter().map(|d| events(&fx, d))).await.iter().map(Vec::len).collect();
    assert_eq!(events_after, events_before, "no event published");

    // The current version, quoted as an ETag or weak, is taken.
    let c: &Doc = &docs[0];
    let r = send(&fx, Method::PATCH, &c.at("/default"), t, Some("\"file:v2\""), Some(json!({"default": "deny"}))).await;
    r.expect(200);
    assert_eq!(r.data()["file_version"], 3);
    let r =
        send(&fx, Method::PATCH, &c.at("/default"), t, Some("W/\"file:v3\""), Some(json!({"default": "allow"}))).await;
    r.expect(200);
    assert_eq!(r.data()["file_version"], 4);
    // The version a refused write was told is the one that works.
    let r = write_at(&fx, Method::PATCH, &c.at("/state"), t, 3, Some(json!({"enable_proxy": false}))).await;
    r.expect(412);
    let current = r.body["details"]["current_file_version"].as_i64().unwrap();
    assert_eq!(current, 4);
    write_at(&fx, Method::PATCH, &c.at("/state"), t, current, Some(json!({"enable_proxy": false}))).await.expect(200);
}

#[tokio::test]
async fn the_first_write_needs_version_0() {
    let fx = fx().await;
    let t = &fx.owner.token;
    for d in [fx.cdoc(), fx.pdoc()] {
        let path = d.at("/groups/a/ip");
        let body = Some(json!({"range": "10.0.0.0/8"}));
        let r = write_at(&fx, Method::PUT, &path, t, 1, body.clone()).await;
        r.expect(412);
        assert_eq!(r.body["details"]["current_file_version"], 0, "{}", r.text);
        send(&fx, Method::PUT, &path, t, None, body.clone()).await.expect(428);
        assert_eq!(stored(&fx, &d).await, (0, None), "no document made");
        let r = write_at(&fx, Method::PUT, &path, t, 0, body.clone()).await;
        r.expect(200);
        assert_eq!(r.data()["etag"], "file:v1");
        // Version 0 is not "whatever it is" once written.
        let r = write_at(&fx, Method::PUT, &path, t, 0, body).await;
        r.expect(412);
        assert_eq!(r.body["details"]["current_file_version"], 1);
        assert_eq!(stored(&fx, &d).await.0, 1);
    }
}

#[tokio::test]
async fn hook_and_settings_writes_need_the_current_version() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let d = fx.cdoc();
    let hook = |path: &str| json!({"match": {"method": "GET", "path": path}, "script": {"path": "/hooks/a.js"}});
    // The container's document at version 2 holding two hooks of one service, so that every
    // route could apply (hooks and settings are the container document's only: no project
    // scope has them).
    let body = d.whole(json!({
        "groups": {"g1": {"type": "ip", "range": "10.0.0.0/8"}},
        "permissions": {"g1": {"http": true}},
        "hooks": {"http": [hook("/a"), hook("/b")]}
    }));
    write_at(&fx, Method::PUT, &d.at(""), t, 0, Some(body)).await.expect(200);
    write_at(&fx, Method::PATCH, &d.at("/default"), t, 1, Some(json!({"default": "allow"}))).await.expect(200);
    let r = fx.get(&format!("/api/v1/containers/{}/proxy/hooks/http", fx.container), Some(t)).await;
    r.expect(200);
    assert_eq!(r.data()["file_version"], 2);
    let hook_id = r.data()["hooks"][1]["id"].as_str().unwrap().to_owned();
    let before = stored(&fx, &d).await;
    let events_before = events(&fx, &d).await.len();
    let project_before = stored(&fx, &fx.pdoc()).await;

    let base = format!("/api/v1/containers/{}/proxy", fx.container);
    let routes = [
        // In an order in which each applies when written with the current version below.
        (Method::POST, format!("{base}/hooks/http"), Some(hook("/c"))),
        (Method::PUT, format!("{base}/hooks/http/{hook_id}"), Some(hook("/b2"))),
        (Method::PATCH, format!("{base}/hooks/http/{hook_id}/position"), Some(json!({"position": 0}))),
        (Method::DELETE, format!("{base}/hooks/http/{hook_id}"), None),
        (Method::DELETE, format!("{base}/hooks/http"), None),
        (Method::PUT, format!("{base}/settings"), Some(json!({"enable_proxy": false}))),
    ];
    for (method, path, body) in &routes {
        refused_without(&fx, method, path, body, 2).await;
        assert_eq!(stored(&fx, &d).await, before, "{method} {path}: nothing written");
    }
    assert_eq!(events(&fx, &d).await.len(), events_before, "no event published");
    assert_eq!(stored(&fx, &fx.pdoc()).await, project_before, "the project's document untouched");

    // With the current version each of them writes (so the refusals were about the version).
    for (i, (method, path, body)) in routes.into_iter().enumerate() {
        let r = write_at(&fx, method.clone(), &path, t, 2 + i as i64, body).await;
        assert_eq!(r.status, 200, "{method} {path}: {}", r.text);
        assert_eq!(r.data()["file_version"], 3 + i as i64, "{method} {path}");
    }
    assert_eq!(stored(&fx, &d).await.0, 8);
}
