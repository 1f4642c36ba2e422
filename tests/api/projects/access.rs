//! Who reaches a project across its routes: another user's project is 404 exactly like a missing
//! one; an auth token needs the leaf of each endpoint; realm-scoped requests see and make
//! projects only in their realm.

use reqwest::Method;
use serde_json::json;

use super::{aliases, assert_code, at, count, create, delete, events, grant, project, put, user, PROJECTS};
use crate::harness::TestApp;

#[tokio::test]
async fn another_users_project_is_404_exactly_like_a_missing_one() {
    let app = TestApp::spawn().await;
    let a = user(&app, "owner").await;
    let b = user(&app, "snoop").await;
    let p = project(&app, &a.token, "Secret").await;
    let pid = hoody_api::db::new_id();
    let missing = app.get(&at(&hoody_api::db::new_id()), Some(&b.token)).await;
    assert_code(&missing, 404, "project_not_found");
    let malformed = app.get(&at("not-an-id"), Some(&b.token)).await;
    assert_code(&malformed, 404, "project_not_found");
    assert_eq!(malformed.body["message"], missing.body["message"]);

    let base = at(&p);
    let grant_body = json!({"user_id": b.user_id, "permission_level": "read"});
    let tries = [
        (Method::GET, base.clone(), None),
        (Method::GET, format!("{base}?include_permissions=true"), None),
        (Method::PUT, base.clone(), Some(json!({"alias": "Mine now"}))),
        (Method::DELETE, base.clone(), None),
        (Method::GET, format!("{base}/stats"), None),
        (Method::GET, format!("{base}/containers"), None),
        (Method::GET, format!("{base}/permissions"), None),
        (Method::POST, format!("{base}/permissions"), Some(grant_body)),
        (Method::PUT, format!("{base}/permissions/{pid}"), Some(json!({"permission_level": "delete"}))),
        (Method::DELETE, format!("{base}/permissions/{pid}"), None),
    ];
    for (method, path, body) in tries {
        let r = app.request(method.clone(), &path, Some(&b.token), body).await;
        assert_code(&r, 404, "project_not_found");
        assert_eq!(r.body["message"], missing.body["message"], "{method} {path}");
        assert_eq!(r.body["error"], missing.body["error"], "{method} {path}");
    }
    // Nothing changed, and b was not let in.
    let r = app.get(&base, Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Secret");
    assert_eq!(count(&app, "select count(*) from project_permission").await, 0);
    assert_eq!(events(&app, &p).await, ["project.created"]);
    app.get(&base, None).await.expect(401);
}

#[tokio::test]
async fn auth_tokens_need_the_leaf_of_each_endpoint() {
    let app = TestApp::spawn().await;
    let s = user(&app, "tokener").await;
    let b = user(&app, "other").await;
    let p = project(&app, &s.token, "Tokens").await;
    let base = at(&p);
    let perm = grant(&app, &s.token, &p, &b.user_id, "read").await;
    let row = format!("{base}/permissions/{perm}");

    // No permissions at all: even reading is refused, naming the leaf.
    let (none, _) = app.new_token(&s.token, json!({})).await;
    for path in [PROJECTS.to_owned(), base.clone(), format!("{base}/stats"), format!("{base}/permissions")] {
        let r = app.get(&path, Some(&none)).await;
        assert_code(&r, 403, "insufficient_permissions");
        assert!(r.body["message"].as_str().unwrap().contains("projects.read"), "{path}: {}", r.text);
    }

    // Only projects.read: reading works, nothing else.
    let (reader, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"read": true}}})).await;
    let r = app.get(PROJECTS, Some(&reader)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["Tokens"]);
    let r = app.get(&format!("{base}?include_permissions=true"), Some(&reader)).await;
    r.expect(200);
    assert_eq!(r.data()["permissions"][0]["id"], perm.as_str());
    app.get(&format!("{base}/stats"), Some(&reader)).await.expect(200);
    let r = app.get(&format!("{base}/permissions"), Some(&reader)).await;
    r.expect(200);
    assert_eq!(r.data()["pagination"]["total"], 1);
    let grant_body = json!({"user_id": hoody_api::db::new_id(), "permission_level": "read"});
    for (method, path, body, leaf) in [
        (Method::POST, PROJECTS.to_owned(), Some(json!({"alias": "New"})), "projects.create"),
        (Method::PUT, base.clone(), Some(json!({"alias": "Renamed"})), "projects.update"),
        (Method::DELETE, base.clone(), None, "projects.delete"),
        (Method::GET, format!("{base}/containers"), None, "containers.read"),
        (Method::POST, format!("{base}/permissions"), Some(grant_body), "projects.members.invite"),
        (Method::PUT, row.clone(), Some(json!({"permission_level": "edit"})), "projects.members.change_roles"),
        (Method::DELETE, row.clone(), None, "projects.members.remove"),
    ] {
        let r = app.request(method.clone(), &path, Some(&reader), body).await;
        assert_code(&r, 403, "insufficient_permissions");
        assert!(r.body["message"].as_str().unwrap().contains(leaf), "{method} {path}: {}", r.text);
    }
    // Nothing changed.
    let r = app.get(&base, Some(&s.token)).await;
    assert_eq!(r.data()["alias"], "Tokens");
    assert_eq!(count(&app, "select count(*) from project").await, 1);
    let level: String = sqlx::query_scalar("select level from project_permission").fetch_one(&app.db).await.unwrap();
    assert_eq!(level, "read");

    // Each leaf lets its own action through.
    let (maker, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"create": true}}})).await;
    let r = create(&app, &maker, json!({"alias": "By token"})).await;
    r.expect(201);
    assert_eq!(r.data()["user_id"], s.user_id.as_str());
    let made = r.data()["id"].as_str().unwrap().to_owned();
    assert_code(&app.get(&at(&made), Some(&maker)).await, 403, "insufficient_permissions");
    let (updater, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"update": true}}})).await;
    let r = put(&app, &base, &updater, json!({"alias": "Renamed"})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Renamed");
    let (members, _) = app
        .new_token(&s.token, json!({"permissions": {"projects": {"members": {"change_roles": true, "remove": true}}}}))
        .await;
    let r = put(&app, &row, &members, json!({"permission_level": "edit"})).await;
    r.expect(200);
    assert_eq!(r.data()["permission_level"], "edit");
    delete(&app, &row, &members).await.expect(200);
    let (deleter, _) = app.new_token(&s.token, json!({"permissions": {"projects": {"delete": true}}})).await;
    delete(&app, &at(&made), &deleter).await.expect(200);
    assert_eq!(count(&app, "select count(*) from project").await, 1);
    assert_eq!(count(&app, "select count(*) from project_permission").await, 0);
}

#[tokio::test]
async fn realm_scoped_requests_see_and_make_projects_only_in_their_realm() {
    let app = TestApp::spawn().await;
    let s = user(&app, "realmer").await;
    let realm = hoody_api::db::new_id();
    let other = hoody_api::db::new_id();
    let inside = create(&app, &s.token, json!({"alias": "Inside", "realm_ids": [realm]})).await;
    inside.expect(201);
    assert_eq!(inside.data()["realm_ids"], json!([realm]));
    let inside = inside.data()["id"].as_str().unwrap().to_owned();
    let both = create(&app, &s.token, json!({"alias": "Both", "realm_ids": [other, realm]})).await;
    both.expect(201);
    let both = both.data()["id"].as_str().unwrap().to_owned();
    let nowhere = project(&app, &s.token, "Nowhere").await;
    let elsewhere = create(&app, &s.token, json!({"alias": "Elsewhere", "realm_ids": [other]})).await;
    elsewhere.expect(201);
    let q = format!("?realm_id={realm}");

    // A session scoped by ?realm_id= lists that realm's projects, and creates into it.
    let r = app.get(&format!("{PROJECTS}{q}&sort_by=alias&sort_order=asc"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["Both", "Inside"]);
    let r = app.post_auth(&format!("{PROJECTS}{q}"), &s.token, Some(json!({"alias": "Session scoped"}))).await;
    r.expect(201);
    assert_eq!(r.data()["realm_ids"], json!([realm]));
    let r =
        app.post_auth(&format!("{PROJECTS}{q}"), &s.token, Some(json!({"alias": "Two", "realm_ids": [other]}))).await;
    r.expect(201);
    assert_eq!(r.data()["realm_ids"], json!([other, realm]), "the request's realm is added");
    let stored: Vec<String> =
        sqlx::query_scalar("select realm_ids from project where alias = 'Two'").fetch_one(&app.db).await.unwrap();
    assert_eq!(stored, [other.clone(), realm.clone()]);
    assert_code(&app.get(&format!("{}{q}", at(&nowhere)), Some(&s.token)).await, 404, "project_not_found");

    // A token restricted to the realm.
    let (t, _) = app.new_token(&s.token, json!({"permission_template": "full_access", "realm_ids": [realm]})).await;
    assert_code(&app.get(PROJECTS, Some(&t)).await, 403, "realm_scope_required");
    assert_code(&app.get(&format!("{PROJECTS}?realm_id={other}"), Some(&t)).await, 403, "realm_not_allowed");
    let r = app.get(&format!("{PROJECTS}{q}&sort_by=alias&sort_order=asc"), Some(&t)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["Both", "Inside", "Session scoped", "Two"]);
    assert!(r.data()["projects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["realm_ids"].as_array().unwrap().contains(&json!(realm))));
    let missing = app.get(&format!("{}{q}", at(&hoody_api::db::new_id())), Some(&t)).await;
    for outside in [&nowhere, elsewhere.data()["id"].as_str().unwrap()] {
        let r = app.get(&format!("{}{q}", at(outside)), Some(&t)).await;
        assert_code(&r, 404, "project_not_found");
        assert_eq!(r.body["message"], missing.body["message"]);
        assert_code(
            &put(&app, &format!("{}{q}", at(outside)), &t, json!({"alias": "x"})).await,
            404,
            "project_not_found",
        );
    }
    app.get(&format!("{}{q}", at(&inside)), Some(&t)).await.expect(200);

    // Creating through the token puts the realm in; naming another realm is refused.
    let r = app.post_auth(&format!("{PROJECTS}{q}"), &t, Some(json!({"alias": "Token made"}))).await;
    r.expect(201);
    assert_eq!(r.data()["realm_ids"], json!([realm]));
    let r = app.post_auth(&format!("{PROJECTS}{q}"), &t, Some(json!({"alias": "Escape", "realm_ids": [other]}))).await;
    assert_code(&r, 403, "realm_change_forbidden");
    assert_eq!(count(&app, "select count(*) from project where alias = 'Escape'").await, 0);

    // Updating through the token: other fields yes, realm_ids no (unless unchanged).
    let path = format!("{}{q}", at(&inside));
    let r = put(&app, &path, &t, json!({"alias": "Inside 2", "realm_ids": [realm, other]})).await;
    assert_code(&r, 403, "realm_change_forbidden");
    let r = put(&app, &format!("{}{q}", at(&both)), &t, json!({"alias": "Both", "realm_ids": [realm]})).await;
    assert_code(&r, 403, "realm_change_forbidden");
    let r = put(&app, &path, &t, json!({"alias": "Inside 2"})).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([realm]));
    let r = put(&app, &path, &t, json!({"alias": "Inside 3", "realm_ids": [realm]})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Inside 3");
    let stored: Vec<String> = sqlx::query_scalar("select realm_ids from project where project_id = $1")
        .bind(&inside)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, [realm.as_str()]);

    // The session moves it out of the realm: the token loses sight of it at once.
    put(&app, &at(&inside), &s.token, json!({"alias": "Moved", "realm_ids": [other]})).await.expect(200);
    assert_code(&app.get(&path, Some(&t)).await, 404, "project_not_found");
}
