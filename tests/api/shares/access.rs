//! Who may reach shares: another user gets 404s as for missing ones; a token needs
//! `resources.storage_shares`; a read grantee sees and cannot change. The lists and their
//! filters (a creator who lost access to the source no longer lists its share); the account cap
//! under concurrent creates.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{create, device, pair, rows, user};
use crate::{fixtures::LxdApp, permissions::tree};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strangers_tokens_and_grantees_reach_shares_as_their_rights_say() {
    let app = super::spawn(3_600_000).await;
    let s = app.verified_user("keeper@example.com").await;
    let (p, a, b) = pair(&app, &s).await;
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly", "label": "docs"}),
    )
    .await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/srv/all", "target_project_id": p, "mode": "readwrite", "enabled": false, "label": "all"}),
    )
    .await;
    r.expect(201);
    let wide = r.data()["id"].as_str().unwrap().to_owned();

    let routes = |c: &str, t: &str| {
        vec![
            (Method::GET, format!("/api/v1/containers/{c}/storage/shares"), None),
            (
                Method::POST,
                format!("/api/v1/containers/{c}/storage/shares"),
                Some(json!({"source_path": "/data/shared", "target_container_id": t, "mode": "readonly"})),
            ),
            (Method::GET, format!("/api/v1/containers/{c}/storage/shares/{id}"), None),
            (Method::PATCH, format!("/api/v1/containers/{c}/storage/shares/{id}"), Some(json!({"label": "x"}))),
            (Method::GET, format!("/api/v1/containers/{t}/storage/incoming"), None),
            (
                Method::PATCH,
                format!("/api/v1/containers/{t}/storage/incoming/{id}/mount"),
                Some(json!({"mount": false})),
            ),
        ]
    };

    // Another user: 404 everywhere, as for containers that do not exist.
    let e = user(&app, "stranger").await;
    for (m, path, body) in routes(&a, &b) {
        let r = app.call(m.clone(), &path, &e.token, body).await;
        r.expect(404);
        assert_eq!(r.code(), "container_not_found", "{m} {path}");
    }
    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &e.token, None).await;
    r.expect(404);
    assert_eq!(r.code(), "share_not_found");
    assert!(app.get("/api/v1/storage/shares", Some(&e.token)).await.data().as_array().unwrap().is_empty());
    assert!(app.get("/api/v1/storage/incoming", Some(&e.token)).await.data().as_array().unwrap().is_empty());
    // Their own container towards the keeper's: the target is missing to them.
    let ep = app.project(&e.token, "Mine").await;
    let ec = app.running(&e.token, &ep, json!({"name": "mine"})).await;
    super::sh(&ec, "mkdir -p /data/shared");
    let r = create(
        &app,
        &e.token,
        &ec,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly"}),
    )
    .await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    let r =
        create(&app, &e.token, &ec, json!({"source_path": "/data/shared", "target_project_id": p, "mode": "readonly"}))
            .await;
    r.expect(404);

    // A token without resources.storage_shares: 403 naming it; with it: allowed.
    let (reader, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    for (m, path, body) in routes(&a, &b) {
        let r = app.call(m.clone(), &path, &reader, body).await;
        r.expect(403);
        assert!(r.text.contains("resources.storage_shares"), "{m} {path}: {}", r.text);
    }
    for path in ["/api/v1/storage/shares", "/api/v1/storage/incoming"] {
        app.get(path, Some(&reader)).await.expect(403);
    }
    app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &reader, None).await.expect(403);
    let (sharer, _) = app.new_token(&s.token, json!({"permissions": tree(&["resources.storage_shares"])})).await;
    app.get(&format!("/api/v1/containers/{a}/storage/shares/{id}"), Some(&sharer)).await.expect(200);

    // A grantee with read: sees, cannot change.
    let g = user(&app, "grantee").await;
    let perms = format!("/api/v1/projects/{p}/permissions");
    app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "read"}))).await.expect(201);
    for (i, (m, path, body)) in routes(&a, &b).into_iter().enumerate() {
        let r = app.call(m.clone(), &path, &g.token, body).await;
        if m == Method::GET {
            r.expect(200);
        } else {
            r.expect(403);
            assert_eq!(r.code(), "project_access_denied", "{i} {m} {path}");
        }
    }
    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &g.token, None).await;
    r.expect(403);
    assert_eq!(rows(&app).await, 2);
    assert!(device(&b, &id).is_some(), "nothing a refused caller asked was applied");

    // The lists and their filters.
    let base = format!("/api/v1/containers/{a}/storage/shares");
    let ids = |q: &str| {
        let app = &app;
        let token = s.token.clone();
        let path = format!("{base}{q}");
        async move {
            let r = app.get(&path, Some(&token)).await;
            r.expect(200);
            r.data().as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
        }
    };
    assert_eq!(ids("").await, [id.clone(), wide.clone()]);
    assert_eq!(ids("?target_type=project").await, [wide.as_str()]);
    assert_eq!(ids("?target_type=container").await, [id.as_str()]);
    assert_eq!(ids("?label=docs").await, [id.as_str()]);
    assert_eq!(ids("?enabled=false").await, [wide.as_str()]);
    assert_eq!(ids("?status=failed").await, Vec::<String>::new());
    assert_eq!(ids("?status=active&enabled=true&include_expired=false").await, [id.as_str()]);
    let r = app.get("/api/v1/storage/shares", Some(&s.token)).await;
    assert_eq!(r.data().as_array().unwrap().len(), 2);
    // Incoming on b: the direct share; the disabled project share shows, not mounted.
    let r = app.get(&format!("/api/v1/containers/{b}/storage/incoming"), Some(&s.token)).await;
    let got: Vec<(&str, bool)> = r
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["id"].as_str().unwrap(), x["mounted"].as_bool().unwrap()))
        .collect();
    assert_eq!(got, [(id.as_str(), true), (wide.as_str(), false)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_never_exceed_the_account_cap() {
    let app = LxdApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
        c.quotas.free.shares = 2;
        c.quotas.standard.shares = 2;
    })
    .await;
    let s = app.verified_user("capped@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    assert!(super::sh(&a, "mkdir -p /d/0 /d/1 /d/2 /d/3 /d/4 /d/5").0);
    let body = |i: usize| json!({"source_path": format!("/d/{i}"), "target_container_id": b, "mode": "readonly"});
    let tries = (0..6).map(|i| create(&app, &s.token, &a, body(i)));
    let answers = futures::future::join_all(tries).await;
    let made = answers.iter().filter(|r| r.status.as_u16() == 201).count();
    assert_eq!(made, 2, "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    for r in answers.iter().filter(|r| r.status.as_u16() != 201) {
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "limits.shares", "{}", r.text);
    }
    assert_eq!(rows(&app).await, 2);
    let devices = super::devices(&b);
    let n = devices.as_object().unwrap().keys().filter(|k| k.starts_with("hoody-share-")).count();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_creator_who_lost_an_end_no_longer_lists_nor_reaches_its_shares() {
    let app = super::spawn(3_600_000).await;
    let s = app.verified_user("owner8@example.com").await;
    let (p, a, b) = pair(&app, &s).await;
    assert!(super::sh(&a, "mkdir -p /data/two").0);
    let g = user(&app, "editor8").await;
    let perms = format!("/api/v1/projects/{p}/permissions");
    let r = app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "edit"}))).await;
    r.expect(201);
    let grant = r.data()["id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for path in ["/data/shared", "/data/two"] {
        let body = json!({"source_path": path, "target_container_id": b, "mode": "readwrite"});
        let r = create(&app, &g.token, &a, body).await;
        r.expect(201);
        assert_eq!(r.data()["created_by"], g.user_id.as_str());
        ids.push(r.data()["id"].as_str().unwrap().to_owned());
    }
    assert!(super::device(&b, &ids[0]).is_some() && super::device(&b, &ids[1]).is_some());
    let listed = |token: String| {
        let app = &app;
        async move {
            let r = app.get("/api/v1/storage/shares", Some(&token)).await;
            r.expect(200);
            let mut ids: Vec<String> =
                r.data().as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        }
    };
    let mut all = ids.clone();
    all.sort();
    assert_eq!(listed(g.token.clone()).await, all);

    // Lowered to read: the creator may no longer edit either end; the shares leave the target
    // at once (no sweep runs in this test), the source keeps its files.
    let one = format!("{perms}/{grant}");
    let r = app.call(Method::PATCH, &one, &s.token, Some(json!({"permission_level": "read"}))).await;
    r.expect(200);
    super::until("the lowered creator's shares left the target", || {
        super::device(&b, &ids[0]).is_none() && super::device(&b, &ids[1]).is_none()
    })
    .await;
    assert!(super::source_device(&a, &ids[0]).is_some(), "the source keeps the volume with its files");
    let r = app.get(&format!("/api/v1/containers/{b}/storage/incoming"), Some(&s.token)).await;
    r.expect(200);
    let incoming = r.data().as_array().unwrap();
    assert_eq!(incoming.len(), 2, "{}", r.text);
    assert!(incoming.iter().all(|x| x["mounted"] == false), "{}", r.text);
    // Edit again: back.
    let r = app.call(Method::PATCH, &one, &s.token, Some(json!({"permission_level": "edit"}))).await;
    r.expect(200);
    super::until("the creator's shares are back", || super::device(&b, &ids[0]).is_some()).await;

    // Removed from the project: gone from the target, and from the creator's list.
    app.call(Method::DELETE, &one, &s.token, None).await.expect(200);
    super::until("the removed creator's shares left the target", || {
        super::device(&b, &ids[0]).is_none() && super::device(&b, &ids[1]).is_none()
    })
    .await;
    assert!(listed(g.token.clone()).await.is_empty(), "a creator without access still listed the shares");
    assert_eq!(listed(s.token.clone()).await, all, "the owner still lists them");
    // The owner may edit both ends, but the share stays its creator's: not mounted.
    let r = app
        .call(
            Method::PATCH,
            &format!("/api/v1/containers/{a}/storage/shares/{}", ids[0]),
            &s.token,
            Some(json!({"label": "still off"})),
        )
        .await;
    r.expect(200);
    assert!(super::device(&b, &ids[0]).is_none());
}
