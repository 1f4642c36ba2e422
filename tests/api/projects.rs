//! The `projects` endpoints over HTTP: create, list, get, update, delete, stats and the
//! permission rows. Each endpoint's success (checked by reading it back), its bad input, and
//! who may do what: another user's project is 404 like a missing one, a grantee's level
//! (`read` < `edit` < `delete`) gates what it may do from its next request on, auth token
//! leaves and realms restrict further. Stats and deletion with a container run on the real LXD.

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    fixtures::{exists, LxdApp},
    harness::{Resp, Session, TestApp, PASSWORD},
};

const PROJECTS: &str = "/api/v1/projects/";

fn at(id: &str) -> String {
    format!("/api/v1/projects/{id}")
}

/// A verified user inserted directly and signed in.
async fn user(app: &TestApp, name: &str) -> Session {
    let email = format!("{name}@example.com");
    app.seed_user(&email, name, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

async fn create(app: &TestApp, token: &str, body: Value) -> Resp {
    app.post_auth(PROJECTS, token, Some(body)).await
}

/// Create a project and return its id.
async fn project(app: &TestApp, token: &str, alias: &str) -> String {
    let r = create(app, token, json!({"alias": alias})).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> Resp {
    app.request(Method::PUT, path, Some(token), Some(body)).await
}

async fn delete(app: &TestApp, path: &str, token: &str) -> Resp {
    app.request(Method::DELETE, path, Some(token), None).await
}

/// Grant `user_id` access at `level`; returns the permission id.
async fn grant(app: &TestApp, token: &str, project: &str, user_id: &str, level: &str) -> String {
    let r = app
        .post_auth(
            &format!("{}/permissions", at(project)),
            token,
            Some(json!({"user_id": user_id, "permission_level": level})),
        )
        .await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

/// The event types written for a project, oldest first.
async fn events(app: &TestApp, project: &str) -> Vec<String> {
    sqlx::query_scalar("select event_type from event where project_id = $1 order by created_at, event_id")
        .bind(project)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// The aliases of a list response, in order.
fn aliases(r: &Resp) -> Vec<String> {
    r.data()["projects"].as_array().unwrap().iter().map(|p| p["alias"].as_str().unwrap().to_owned()).collect()
}

#[track_caller]
fn assert_field(r: &Resp, status: u16, field: &str) {
    r.expect(status);
    assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
}

#[track_caller]
fn assert_code(r: &Resp, status: u16, code: &str) {
    r.expect(status);
    assert_eq!(r.code(), code, "{}", r.text);
}

fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[tokio::test]
async fn create_stores_the_project_normalises_the_colour_and_writes_an_event() {
    let app = TestApp::spawn().await;
    let s = user(&app, "maker").await;
    let r = create(&app, &s.token, json!({"alias": "  Web shop  ", "color": "abc", "max_containers": 5})).await;
    r.expect(201);
    let d = r.data();
    let id = d["id"].as_str().unwrap().to_owned();
    assert!(hoody_api::db::is_id(&id), "{id}");
    assert_eq!(d["alias"], "Web shop", "the alias is trimmed");
    assert_eq!(d["color"], "#ABC");
    assert_eq!(d["max_containers"], 5);
    assert_eq!(d["user_id"], s.user_id.as_str());
    assert_eq!(d["is_default"], false);
    assert_eq!(d["realm_ids"], json!([]));
    assert!(d.get("permissions").is_none());
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));

    // Read back over HTTP and in the database.
    let got = app.get(&at(&id), Some(&s.token)).await;
    got.expect(200);
    assert_eq!(got.data(), d);
    let (alias, color, max): (String, String, Option<i32>) =
        sqlx::query_as("select alias, color, max_containers from project where project_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((alias.as_str(), color.as_str(), max), ("Web shop", "#ABC", Some(5)));
    assert_eq!(events(&app, &id).await, ["project.created"]);

    // #RRGGBB is uppercased; no colour gives a random one; no max_containers is unlimited.
    let r = create(&app, &s.token, json!({"alias": "Pink", "color": "#ff00aa"})).await;
    r.expect(201);
    assert_eq!(r.data()["color"], "#FF00AA");
    let r = create(&app, &s.token, json!({"alias": "Random", "max_containers": null})).await;
    r.expect(201);
    assert!(is_hex_colour(r.data()["color"].as_str().unwrap()), "{}", r.text);
    assert!(r.data()["max_containers"].is_null());
    // Boundaries that are allowed: a 100-character alias, 0 and 10000 containers.
    let long = "é".repeat(100);
    let r = create(&app, &s.token, json!({"alias": long, "max_containers": 0})).await;
    r.expect(201);
    assert_eq!(r.data()["alias"], long.as_str());
    assert_eq!(r.data()["max_containers"], 0);
    create(&app, &s.token, json!({"alias": "Big", "max_containers": 10000})).await.expect(201);
    assert_eq!(count(&app, "select count(*) from project").await, 5);
    // Without credentials: 401.
    app.post(PROJECTS, json!({"alias": "Anon"})).await.expect(401);
}

#[tokio::test]
async fn create_rejects_bad_input_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let s = user(&app, "sloppy").await;
    let cases = [
        (json!({"alias": ""}), 422, "alias"),
        (json!({"alias": "   "}), 422, "alias"),
        (json!({"alias": "x".repeat(101)}), 422, "alias"),
        (json!({"alias": "line\nbreak"}), 422, "alias"),
        (json!({"alias": "C", "color": "#12"}), 422, "color"),
        (json!({"alias": "C", "color": "#1234"}), 422, "color"),
        (json!({"alias": "C", "color": "ggg"}), 422, "color"),
        (json!({"alias": "C", "color": ""}), 422, "color"),
        (json!({"alias": "C", "max_containers": -1}), 422, "max_containers"),
        (json!({"alias": "C", "max_containers": 10001}), 422, "max_containers"),
        (json!({"alias": "C", "realm_ids": ["nothex"]}), 422, "realm_ids"),
        (json!({"alias": "C", "realm_ids": ["ABCDEF0123456789ABCDEF01"]}), 422, "realm_ids"),
        (json!({"alias": "C", "surprise": 1}), 422, "surprise"),
        (json!({}), 400, "alias"),
        (json!({"alias": 5}), 400, "alias"),
        (json!({"alias": "C", "max_containers": 3_000_000_000_i64}), 400, "max_containers"),
        (json!({"alias": "C", "max_containers": "5"}), 400, "max_containers"),
        (json!({"alias": "C", "realm_ids": "x"}), 400, "realm_ids"),
    ];
    for (body, status, field) in cases {
        let r = create(&app, &s.token, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_field(&r, status, field);
    }
    // The unknown field is refused as such (deny_unknown_fields).
    let r = create(&app, &s.token, json!({"alias": "C", "surprise": 1})).await;
    assert_code(&r, 422, "validation_failed");
    assert!(r.body["message"].as_str().unwrap().contains("surprise"), "{}", r.text);
    // Not JSON at all.
    let r =
        app.request_with(Method::POST, PROJECTS, Some(&s.token), &[("content-type", "application/json")], None).await;
    r.expect(400);
    assert_eq!(count(&app, "select count(*) from project").await, 0, "nothing was stored");
    assert_eq!(count(&app, "select count(*) from event").await, 0, "no event either");
}

#[tokio::test]
async fn an_alias_is_unique_per_owner_only() {
    let app = TestApp::spawn().await;
    let a = user(&app, "alice").await;
    let b = user(&app, "bob").await;
    let first = project(&app, &a.token, "Web").await;
    let r = create(&app, &a.token, json!({"alias": "Web"})).await;
    assert_code(&r, 409, "project_alias_taken");
    // Trimming happens before the check.
    assert_code(&create(&app, &a.token, json!({"alias": " Web "})).await, 409, "project_alias_taken");
    // Another user may use the same alias.
    let r = create(&app, &b.token, json!({"alias": "Web"})).await;
    r.expect(201);
    assert_eq!(r.data()["user_id"], b.user_id.as_str());
    // Renaming onto a taken alias is a conflict too; renaming to the own alias is fine.
    let second = project(&app, &a.token, "Api").await;
    let r = put(&app, &at(&second), &a.token, json!({"alias": "Web"})).await;
    assert_code(&r, 409, "project_alias_taken");
    put(&app, &at(&first), &a.token, json!({"alias": "Web"})).await.expect(200);
    let stored: Vec<String> = sqlx::query_scalar("select alias from project where user_id = $1 order by alias")
        .bind(&a.user_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, ["Api", "Web"]);
}

#[tokio::test]
async fn list_paginates_sorts_and_shows_own_and_shared_projects_only() {
    let app = TestApp::spawn().await;
    let a = user(&app, "lister").await;
    let b = user(&app, "sharer").await;
    let mut ids = Vec::new();
    for alias in ["delta", "alpha", "echo", "charlie", "bravo"] {
        ids.push(project(&app, &a.token, alias).await);
    }
    // Another user's project is not listed until it is shared.
    let theirs = project(&app, &b.token, "foxtrot").await;

    let r = app.get(PROJECTS, Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["bravo", "charlie", "echo", "alpha", "delta"], "newest first by default");
    assert_eq!(r.data()["pagination"], json!({"total": 5, "page": 1, "limit": 20, "totalPages": 1}));

    let r = app.get(&format!("{PROJECTS}?limit=2&page=2"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["echo", "alpha"]);
    assert_eq!(r.data()["pagination"], json!({"total": 5, "page": 2, "limit": 2, "totalPages": 3}));
    let r = app.get(&format!("{PROJECTS}?limit=2&page=3"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["delta"]);
    let r = app.get(&format!("{PROJECTS}?limit=2&page=4"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), Vec::<String>::new());
    assert_eq!(r.data()["pagination"], json!({"total": 5, "page": 4, "limit": 2, "totalPages": 3}), "past the end");

    let r = app.get(&format!("{PROJECTS}?sort_by=alias&sort_order=asc"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["alpha", "bravo", "charlie", "delta", "echo"]);
    let r = app.get(&format!("{PROJECTS}?sort_by=alias"), Some(&a.token)).await;
    assert_eq!(aliases(&r), ["echo", "delta", "charlie", "bravo", "alpha"], "desc by default");
    let r = app.get(&format!("{PROJECTS}?sort_by=created_at&sort_order=asc"), Some(&a.token)).await;
    assert_eq!(aliases(&r), ["delta", "alpha", "echo", "charlie", "bravo"]);
    let r = app.get(&format!("{PROJECTS}?sort_by=id&sort_order=asc"), Some(&a.token)).await;
    r.expect(200);
    let listed: Vec<&str> =
        r.data()["projects"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(listed, sorted);
    // Touch the oldest: it leads by updated_at.
    put(&app, &at(&ids[0]), &a.token, json!({"alias": "delta2"})).await.expect(200);
    let r = app.get(&format!("{PROJECTS}?sort_by=updated_at&sort_order=desc&limit=1"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["delta2"]);
    assert_eq!(r.data()["pagination"]["totalPages"], 5);

    // Shared with a: listed for a, with b's user_id.
    grant(&app, &b.token, &theirs, &a.user_id, "read").await;
    let r = app.get(&format!("{PROJECTS}?sort_by=alias&sort_order=asc&limit=100"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["alpha", "bravo", "charlie", "delta2", "echo", "foxtrot"]);
    assert_eq!(r.data()["projects"][5]["user_id"], b.user_id.as_str());
    // b sees only its own.
    let r = app.get(PROJECTS, Some(&b.token)).await;
    assert_eq!(aliases(&r), ["foxtrot"]);
}

#[tokio::test]
async fn list_rejects_bad_paging_and_sorting() {
    let app = TestApp::spawn().await;
    let s = user(&app, "pager").await;
    project(&app, &s.token, "only").await;
    for (query, status, field) in [
        ("page=0", 422, "page"),
        ("page=-1", 422, "page"),
        ("page=100001", 422, "page"),
        ("limit=0", 422, "limit"),
        ("limit=101", 422, "limit"),
    ] {
        let r = app.get(&format!("{PROJECTS}?{query}"), Some(&s.token)).await;
        assert_field(&r, status, field);
    }
    for query in ["page=abc", "limit=ten", "sort_by=name", "sort_by=", "sort_order=up", "sort_order=ASC"] {
        let r = app.get(&format!("{PROJECTS}?{query}"), Some(&s.token)).await;
        assert_eq!(r.status, 400, "{query}: {}", r.text);
        r.expect(400);
    }
    let r = app.get(&format!("{PROJECTS}?realm_id=nothex"), Some(&s.token)).await;
    assert_code(&r, 400, "invalid_realm_id");
    // The edges that are allowed.
    let r = app.get(&format!("{PROJECTS}?limit=100&page=100000"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["pagination"]["limit"], 100);
    let r = app.get(&format!("{PROJECTS}?limit=1&page=1"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(aliases(&r), ["only"]);
    app.get(PROJECTS, None).await.expect(401);
}

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
async fn update_changes_given_fields_keeps_the_others_and_writes_events() {
    let app = TestApp::spawn().await;
    let s = user(&app, "editor").await;
    let r = create(&app, &s.token, json!({"alias": "Before", "color": "#123456", "max_containers": 5})).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let created_at = r.data()["created_at"].clone();
    let path = at(&id);

    let r = put(&app, &path, &s.token, json!({"alias": " After ", "color": "0f0"})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "After");
    assert_eq!(r.data()["color"], "#0F0");
    assert_eq!(r.data()["max_containers"], 5, "omitted: kept");
    assert_eq!(r.data()["created_at"], created_at);
    let got = app.get(&path, Some(&s.token)).await;
    got.expect(200);
    assert_eq!(got.data(), r.data());
    let later: bool = sqlx::query_scalar("select updated_at > created_at from project where project_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(later, "updated_at moved");

    // Alias only: colour and limit kept. Then the limit to unlimited (null), then a number.
    let r = put(&app, &path, &s.token, json!({"alias": "Third"})).await;
    r.expect(200);
    assert_eq!((r.data()["color"].clone(), r.data()["max_containers"].clone()), (json!("#0F0"), json!(5)));
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "max_containers": null})).await;
    r.expect(200);
    assert!(r.data()["max_containers"].is_null());
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "max_containers": 10000, "color": "#ff00aa"})).await;
    r.expect(200);
    assert_eq!(r.data()["max_containers"], 10000);
    assert_eq!(r.data()["color"], "#FF00AA");
    // A session may set realms.
    let realm = hoody_api::db::new_id();
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "realm_ids": [realm, realm]})).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([realm]), "deduplicated");
    let r = put(&app, &path, &s.token, json!({"alias": "Third"})).await;
    assert_eq!(r.data()["realm_ids"], json!([realm]), "omitted: kept");
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "realm_ids": []})).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([]));

    // Bad input changes nothing.
    let before = app.get(&path, Some(&s.token)).await.body.clone();
    for (body, status, field) in [
        (json!({}), 400, "alias"),
        (json!({"color": "#fff"}), 400, "alias"),
        (json!({"alias": ""}), 422, "alias"),
        (json!({"alias": "y".repeat(101)}), 422, "alias"),
        (json!({"alias": "Ok", "color": "#abcd"}), 422, "color"),
        (json!({"alias": "Ok", "color": "red"}), 422, "color"),
        (json!({"alias": "Ok", "max_containers": -1}), 422, "max_containers"),
        (json!({"alias": "Ok", "max_containers": 10001}), 422, "max_containers"),
        (json!({"alias": "Ok", "max_containers": 1.5}), 400, "max_containers"),
        (json!({"alias": "Ok", "realm_ids": ["xyz"]}), 422, "realm_ids"),
        (json!({"alias": "Ok", "is_default": true}), 422, "is_default"),
    ] {
        let r = put(&app, &path, &s.token, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_field(&r, status, field);
    }
    let after = app.get(&path, Some(&s.token)).await;
    assert_eq!(after.body["data"], before["data"]);
    assert_code(
        &put(&app, &at(&hoody_api::db::new_id()), &s.token, json!({"alias": "x"})).await,
        404,
        "project_not_found",
    );

    let ev = events(&app, &id).await;
    assert_eq!(ev[0], "project.created");
    assert_eq!(ev.iter().filter(|e| *e == "project.updated").count(), 7, "{ev:?}");
    let data: Value = sqlx::query_scalar(
        "select data from event where project_id = $1 and event_type = 'project.updated' order by created_at limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(data["alias"], "After");
}

#[tokio::test]
async fn delete_removes_the_project_and_its_permission_rows() {
    let app = TestApp::spawn().await;
    let a = user(&app, "remover").await;
    let b = user(&app, "guest1").await;
    let c = user(&app, "guest2").await;
    let p = project(&app, &a.token, "Doomed").await;
    let keep = project(&app, &a.token, "Kept").await;
    grant(&app, &a.token, &p, &b.user_id, "read").await;
    grant(&app, &a.token, &p, &c.user_id, "edit").await;
    grant(&app, &a.token, &keep, &b.user_id, "read").await;

    let r = app.request(Method::DELETE, &format!("{}?include_deleted_items=maybe", at(&p)), Some(&a.token), None).await;
    r.expect(400);
    assert_eq!(count(&app, "select count(*) from project").await, 2, "a bad query deletes nothing");

    let r = delete(&app, &at(&p), &a.token).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"], json!({"containers": 0, "permissions": 2, "aliases": 0}));
    assert!(r.data().get("deleted_items").is_none(), "{}", r.text);
    assert_code(&app.get(&at(&p), Some(&a.token)).await, 404, "project_not_found");
    assert_code(&app.get(&at(&p), Some(&b.token)).await, 404, "project_not_found");
    assert_code(&delete(&app, &at(&p), &a.token).await, 404, "project_not_found");
    let left: i64 = sqlx::query_scalar("select count(*) from project_permission where project_id = $1")
        .bind(&p)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(count(&app, "select count(*) from project_permission").await, 1, "the other project's row stays");
    let ev = events(&app, &p).await;
    assert_eq!(ev.first().map(String::as_str), Some("project.created"));
    assert_eq!(ev.last().map(String::as_str), Some("project.deleted"), "{ev:?}");
    let r = app.get(PROJECTS, Some(&a.token)).await;
    assert_eq!(aliases(&r), ["Kept"]);

    let r = delete(&app, &format!("{}?include_deleted_items=true", at(&keep)), &a.token).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"], json!({"containers": 0, "permissions": 1, "aliases": 0}));
    assert_eq!(r.data()["deleted_items"], json!({"containers": []}));
    assert_eq!(count(&app, "select count(*) from project").await, 0);
    // The alias is free again.
    project(&app, &a.token, "Doomed").await;
}

#[tokio::test]
async fn the_owner_grants_lists_changes_and_revokes_permissions() {
    let app = TestApp::spawn().await;
    let a = user(&app, "boss").await;
    let b = user(&app, "helper").await;
    let c = user(&app, "viewer").await;
    let p = project(&app, &a.token, "Team").await;
    let perms = format!("{}/permissions", at(&p));

    let r = app.get(&perms, Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["permissions"], json!([]));
    assert_eq!(r.data()["pagination"], json!({"total": 0, "page": 1, "limit": 20, "totalPages": 0}));

    let r = app.post_auth(&perms, &a.token, Some(json!({"user_id": b.user_id, "permission_level": "edit"}))).await;
    r.expect(201);
    let d = r.data().clone();
    let pb = d["id"].as_str().unwrap().to_owned();
    assert_eq!(d["project_id"], p.as_str());
    assert_eq!(d["user_id"], b.user_id.as_str());
    assert_eq!(d["permission_level"], "edit");
    assert_eq!(d["user"]["id"], b.user_id.as_str());
    assert_eq!(d["user"]["username"], "helper");
    let pc = grant(&app, &a.token, &p, &c.user_id, "read").await;
    let level: String = sqlx::query_scalar("select level from project_permission where permission_id = $1")
        .bind(&pb)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(level, "edit");

    // Listed, oldest grant last by default; sortable and paged.
    let r = app.get(&perms, Some(&a.token)).await;
    r.expect(200);
    let ids: Vec<&str> =
        r.data()["permissions"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [pc.as_str(), pb.as_str()]);
    assert_eq!(r.data()["permissions"][1], d);
    assert_eq!(r.data()["pagination"]["total"], 2);
    let r = app.get(&format!("{perms}?sort_by=permission_level&sort_order=asc&limit=1"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["permissions"][0]["permission_level"], "edit");
    assert_eq!(r.data()["pagination"], json!({"total": 2, "page": 1, "limit": 1, "totalPages": 2}));
    let r = app.get(&format!("{perms}?sort_by=created_at&sort_order=asc&page=2&limit=1"), Some(&a.token)).await;
    assert_eq!(r.data()["permissions"][0]["id"], pc.as_str());
    app.get(&format!("{perms}?sort_by=level"), Some(&a.token)).await.expect(400);
    assert_field(&app.get(&format!("{perms}?limit=101"), Some(&a.token)).await, 422, "limit");
    assert_field(&app.get(&format!("{perms}?page=0"), Some(&a.token)).await, 422, "page");

    // The owner sees them on the project with include_permissions=true.
    let r = app.get(&format!("{}?include_permissions=true", at(&p)), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["permissions"].as_array().unwrap().len(), 2);
    assert_eq!(r.data()["permissions"][0]["id"], pb.as_str(), "oldest first");
    let r = app.get(&format!("{}?include_permissions=false", at(&p)), Some(&a.token)).await;
    assert!(r.data().get("permissions").is_none());
    app.get(&format!("{}?include_permissions=yes", at(&p)), Some(&a.token)).await.expect(400);

    // Change a level.
    let r = put(&app, &format!("{perms}/{pb}"), &a.token, json!({"permission_level": "delete"})).await;
    r.expect(200);
    assert_eq!(r.data()["permission_level"], "delete");
    assert_eq!(r.data()["id"], pb.as_str());
    assert_ne!(r.data()["updated_at"], d["updated_at"]);
    let r = app.get(&perms, Some(&a.token)).await;
    let levels: Vec<&str> =
        r.data()["permissions"].as_array().unwrap().iter().map(|x| x["permission_level"].as_str().unwrap()).collect();
    assert_eq!(levels, ["read", "delete"]);

    // Revoke.
    let r = delete(&app, &format!("{perms}/{pc}"), &a.token).await;
    r.expect(200);
    assert!(r.data().is_null());
    let r = app.get(&perms, Some(&a.token)).await;
    assert_eq!(r.data()["pagination"]["total"], 1);
    assert_eq!(r.data()["permissions"][0]["id"], pb.as_str());
    assert_code(&delete(&app, &format!("{perms}/{pc}"), &a.token).await, 404, "permission_not_found");
    assert_code(
        &put(&app, &format!("{perms}/{pc}"), &a.token, json!({"permission_level": "read"})).await,
        404,
        "permission_not_found",
    );

    assert_eq!(
        events(&app, &p).await,
        [
            "project.created",
            "project.permission.granted",
            "project.permission.granted",
            "project.permission.updated",
            "project.permission.revoked"
        ]
    );
    let data: Value = sqlx::query_scalar(
        "select data from event where project_id = $1 and event_type = 'project.permission.updated'",
    )
    .bind(&p)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(data, json!({"permission_id": pb, "user_id": b.user_id, "permission_level": "delete"}));
}

#[tokio::test]
async fn granting_rejects_bad_input() {
    let app = TestApp::spawn().await;
    let a = user(&app, "granter").await;
    let b = user(&app, "grantee").await;
    let p = project(&app, &a.token, "Shared").await;
    let other = project(&app, &a.token, "Other").await;
    let perms = format!("{}/permissions", at(&p));
    let post = |body: Value| {
        let (app, perms, token) = (&app, perms.clone(), a.token.clone());
        async move { app.post_auth(&perms, &token, Some(body)).await }
    };

    assert_field(&post(json!({"user_id": b.user_id, "permission_level": "admin"})).await, 400, "permission_level");
    assert_field(&post(json!({"user_id": b.user_id, "permission_level": "READ"})).await, 400, "permission_level");
    assert_field(&post(json!({"user_id": b.user_id, "permission_level": "owner"})).await, 400, "permission_level");
    assert_field(&post(json!({"user_id": b.user_id})).await, 400, "permission_level");
    assert_field(&post(json!({"permission_level": "read"})).await, 400, "user_id");
    assert_field(&post(json!({"user_id": 42, "permission_level": "read"})).await, 400, "user_id");
    assert_field(&post(json!({"user_id": "bob", "permission_level": "read"})).await, 400, "user_id");
    assert_field(&post(json!({"user_id": b.user_id.to_uppercase(), "permission_level": "read"})).await, 400, "user_id");
    assert_field(&post(json!({"user_id": b.user_id, "permission_level": "read", "x": 1})).await, 422, "x");
    let r = post(json!({"user_id": hoody_api::db::new_id(), "permission_level": "read"})).await;
    assert_code(&r, 404, "user_not_found");
    let r = post(json!({"user_id": a.user_id, "permission_level": "read"})).await;
    assert_field(&r, 422, "user_id");
    assert_eq!(count(&app, "select count(*) from project_permission").await, 0, "nothing stored yet");

    let id = grant(&app, &a.token, &p, &b.user_id, "read").await;
    let r = post(json!({"user_id": b.user_id, "permission_level": "edit"})).await;
    assert_code(&r, 409, "permission_exists");
    // The same user on another project is a separate row.
    grant(&app, &a.token, &other, &b.user_id, "edit").await;

    // Updating: a bad level, an unknown field, a permission of another project.
    let one = format!("{perms}/{id}");
    assert_field(&put(&app, &one, &a.token, json!({"permission_level": "owner"})).await, 400, "permission_level");
    assert_field(&put(&app, &one, &a.token, json!({})).await, 400, "permission_level");
    assert_field(
        &put(&app, &one, &a.token, json!({"permission_level": "edit", "user_id": a.user_id})).await,
        422,
        "user_id",
    );
    let r =
        put(&app, &format!("{}/permissions/{id}", at(&other)), &a.token, json!({"permission_level": "delete"})).await;
    assert_code(&r, 404, "permission_not_found");
    assert_code(
        &delete(&app, &format!("{}/permissions/{id}", at(&other)), &a.token).await,
        404,
        "permission_not_found",
    );
    assert_code(&delete(&app, &format!("{perms}/not-an-id"), &a.token).await, 404, "permission_not_found");
    let levels: Vec<String> =
        sqlx::query_scalar("select level from project_permission where user_id = $1 order by level desc")
            .bind(&b.user_id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(levels, ["read", "edit"], "nothing changed");
    assert_eq!(
        events(&app, &p).await.iter().filter(|e| e.starts_with("project.permission")).count(),
        1,
        "only the one successful grant"
    );
}

#[tokio::test]
async fn a_grantees_level_gates_what_it_may_do() {
    let app = TestApp::spawn().await;
    let a = user(&app, "lead").await;
    let b = user(&app, "member").await;
    let c = user(&app, "third").await;
    let p = project(&app, &a.token, "Gated").await;
    let base = at(&p);
    let perm = grant(&app, &a.token, &p, &b.user_id, "read").await;
    let perms = format!("{base}/permissions");
    let own_row = format!("{perms}/{perm}");

    // read: see the project, its containers and stats; the list shows it.
    let r = app.get(&base, Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Gated");
    assert_eq!(r.data()["user_id"], a.user_id.as_str());
    let r = app.get(&format!("{base}?include_permissions=true"), Some(&b.token)).await;
    r.expect(200);
    assert!(r.data().get("permissions").is_none(), "only the owner sees the rows: {}", r.text);
    let r = app.get(&format!("{base}/containers"), Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["containers"], json!([]));
    let r = app.get(&format!("{base}/stats"), Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["summary"]["container_count"], 0);
    assert_eq!(r.data()["summary"]["project_name"], "Gated");
    assert_eq!(aliases(&app.get(PROJECTS, Some(&b.token)).await), ["Gated"]);

    // …but not change or delete it, nor create containers in it.
    let r = put(&app, &base, &b.token, json!({"alias": "Hijacked"})).await;
    assert_code(&r, 403, "project_access_denied");
    assert!(r.body["message"].as_str().unwrap().contains("edit"), "{}", r.text);
    let r = delete(&app, &base, &b.token).await;
    assert_code(&r, 403, "project_access_denied");
    assert!(r.body["message"].as_str().unwrap().contains("owner"), "{}", r.text);
    assert_code(
        &app.post_auth(&format!("{base}/containers"), &b.token, Some(json!({}))).await,
        403,
        "project_access_denied",
    );

    // No grantee level manages the permission rows: not even its own.
    let check_no_members = |level: &'static str| {
        let (app, b, c) = (&app, &b, &c);
        let (perms, own_row) = (perms.clone(), own_row.clone());
        async move {
            for (method, path, body) in [
                (Method::GET, perms.clone(), None),
                (Method::POST, perms.clone(), Some(json!({"user_id": c.user_id, "permission_level": "read"}))),
                (Method::PUT, own_row.clone(), Some(json!({"permission_level": "delete"}))),
                (Method::DELETE, own_row.clone(), None),
            ] {
                let r = app.request(method.clone(), &path, Some(&b.token), body).await;
                assert_eq!(r.status, 403, "{level}: {method} {path}: {}", r.text);
                assert_code(&r, 403, "project_access_denied");
            }
        }
    };
    check_no_members("read").await;

    // edit: may change it, still not delete it.
    put(&app, &own_row, &a.token, json!({"permission_level": "edit"})).await.expect(200);
    let r = put(&app, &base, &b.token, json!({"alias": "Edited by b", "color": "#abcdef"})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Edited by b");
    assert_eq!(r.data()["user_id"], a.user_id.as_str(), "the owner stays");
    let r = app.get(&base, Some(&a.token)).await;
    assert_eq!((r.data()["alias"].clone(), r.data()["color"].clone()), (json!("Edited by b"), json!("#ABCDEF")));
    assert_code(&delete(&app, &base, &b.token).await, 403, "project_access_denied");
    // The quota and the realms stay the owner's.
    let r = put(&app, &base, &b.token, json!({"alias": "Edited by b", "max_containers": 1})).await;
    assert_code(&r, 403, "project_access_denied");
    let r =
        put(&app, &base, &b.token, json!({"alias": "Edited by b", "realm_ids": ["aaaaaaaaaaaaaaaaaaaaaaaa"]})).await;
    assert_code(&r, 403, "project_access_denied");
    check_no_members("edit").await;

    // delete: may delete its containers, but the project itself stays the owner's to delete.
    put(&app, &own_row, &a.token, json!({"permission_level": "delete"})).await.expect(200);
    check_no_members("delete").await;
    assert_code(&delete(&app, &base, &b.token).await, 403, "project_access_denied");
    let r = delete(&app, &base, &a.token).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"]["permissions"], 1);
    assert_code(&app.get(&base, Some(&a.token)).await, 404, "project_not_found");
    assert_eq!(count(&app, "select count(*) from project").await, 0);
    assert_eq!(count(&app, "select count(*) from project_permission").await, 0);
    let ev = events(&app, &p).await;
    assert!(ev.contains(&"project.updated".to_owned()) && ev.ends_with(&["project.deleted".to_owned()]), "{ev:?}");
}

#[tokio::test]
async fn a_revoked_or_lowered_grant_holds_from_the_next_request() {
    let app = TestApp::spawn().await;
    let a = user(&app, "keeper").await;
    let b = user(&app, "visitor").await;
    let p = project(&app, &a.token, "Door").await;
    let base = at(&p);
    let perm = grant(&app, &a.token, &p, &b.user_id, "edit").await;
    let row = format!("{base}/permissions/{perm}");
    put(&app, &base, &b.token, json!({"alias": "Door 2"})).await.expect(200);

    // Lowered to read: the very next PUT is refused.
    put(&app, &row, &a.token, json!({"permission_level": "read"})).await.expect(200);
    assert_code(&put(&app, &base, &b.token, json!({"alias": "Door 3"})).await, 403, "project_access_denied");
    app.get(&base, Some(&b.token)).await.expect(200);
    // Raised again: allowed again.
    put(&app, &row, &a.token, json!({"permission_level": "edit"})).await.expect(200);
    put(&app, &base, &b.token, json!({"alias": "Door 3"})).await.expect(200);

    // Revoked: gone, exactly like a project b never saw.
    delete(&app, &row, &a.token).await.expect(200);
    let never = app.get(&at(&hoody_api::db::new_id()), Some(&b.token)).await;
    for path in [base.clone(), format!("{base}/stats"), format!("{base}/containers")] {
        let r = app.get(&path, Some(&b.token)).await;
        assert_code(&r, 404, "project_not_found");
        assert_eq!(r.body["message"], never.body["message"]);
    }
    assert_code(&put(&app, &base, &b.token, json!({"alias": "Door 4"})).await, 404, "project_not_found");
    let r = app.get(PROJECTS, Some(&b.token)).await;
    r.expect(200);
    assert_eq!(r.data()["pagination"]["total"], 0);
    let r = app.get(&base, Some(&a.token)).await;
    assert_eq!(r.data()["alias"], "Door 3");
    // Granting anew lets b back in.
    grant(&app, &a.token, &p, &b.user_id, "read").await;
    app.get(&base, Some(&b.token)).await.expect(200);
    assert_eq!(
        events(&app, &p).await.iter().filter(|e| e.starts_with("project.permission")).cloned().collect::<Vec<_>>(),
        [
            "project.permission.granted",
            "project.permission.updated",
            "project.permission.updated",
            "project.permission.revoked",
            "project.permission.granted"
        ]
    );
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

/// On the real LXD: a running container shows in the project's stats (also to a `read`
/// grantee), and deleting the project removes the instance from LXD and counts it.
#[tokio::test]
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
