//! The container lists (all of mine, a project's): paging, sorting, filters, bad queries, the
//! token leaf for proxy permissions, realms; another user sees none of it.

use serde_json::json;

use super::{ids, names, new_project, seed, spawn, user};
use crate::permissions::tree;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_page_sort_filter_and_respect_realms() {
    let app = spawn().await;
    let s = app.verified_user("lists@example.com").await;
    let p = app.project(&s.token, "Lists").await;
    let realm = hoody_api::db::new_id();
    let pr = new_project(&app, &s.token, json!({"alias": "Realmed", "realm_ids": [realm]})).await;
    let alpha = seed(&app, &p, "alpha", "running", |_| {}).await;
    seed(&app, &p, "charlie", "stopped", |_| {}).await;
    seed(&app, &p, "bravo", "failed", |_| {}).await;
    seed(&app, &p, "delta", "deleting", |_| {}).await;
    seed(&app, &p, "gone", "deleted", |_| {}).await;
    seed(&app, &p, "spare", "running", |n| n.prespawn = true).await;
    let echo = seed(&app, &pr, "echo", "running", |n| n.realm_ids = vec![realm.clone()]).await;
    let t = Some(s.token.as_str());
    let list = format!("/api/v1/projects/{p}/containers");

    let r = app.get(&format!("{list}?limit=1&page=2&sort_by=name&sort_order=asc"), t).await;
    r.expect(200);
    assert_eq!(names(&r), ["bravo"]);
    assert_eq!(r.data()["pagination"], json!({"total": 3, "page": 2, "limit": 1, "totalPages": 3}));
    let r = app.get(&format!("{list}?limit=2&sort_by=name&sort_order=desc"), t).await;
    r.expect(200);
    assert_eq!(names(&r), ["charlie", "bravo"]);
    assert_eq!(r.data()["pagination"]["totalPages"], 2);
    let r = app.get(&format!("{list}?page=5"), t).await;
    r.expect(200);
    assert!(names(&r).is_empty());
    assert_eq!(r.data()["pagination"]["page"], 5);
    assert_eq!(r.data()["pagination"]["total"], 3, "past the last page the total stays (fixed in 8c047b0)");
    assert_eq!(r.data()["pagination"]["totalPages"], 1);

    // All of mine, and the filters.
    let r = app.get("/api/v1/containers/?sort_by=name&sort_order=asc", t).await;
    r.expect(200);
    assert_eq!(names(&r), ["alpha", "bravo", "charlie", "echo"]);
    assert_eq!(r.data()["pagination"]["total"], 4);
    let r = app.get(&format!("{list}?include_deleting=true&sort_by=name&sort_order=asc"), t).await;
    r.expect(200);
    assert_eq!(names(&r), ["alpha", "bravo", "charlie", "delta"]);
    let r =
        app.get(&format!("{list}?include_deleting=true&include_prespawn=true&sort_by=name&sort_order=asc"), t).await;
    r.expect(200);
    assert_eq!(names(&r), ["alpha", "bravo", "charlie", "delta", "spare"], "deleted rows never show");
    let r = app.get(&format!("{list}?include_proxy_domains=true&include_proxy_permissions=true"), t).await;
    r.expect(200);
    // Kit URLs only (no aliases here; `tests/api/aliases/domains.rs` has both).
    for c in r.data()["containers"].as_array().unwrap() {
        let urls = c["proxy_domains"].as_array().unwrap();
        assert!(urls
            .iter()
            .all(|d| d.get("alias").is_none() && d["id"].as_str().unwrap().contains(c["id"].as_str().unwrap())));
        assert_eq!(c["proxy_domains_count"], 0);
    }

    // Bad queries.
    for (q, status) in [
        ("limit=101", 422),
        ("limit=0", 422),
        ("page=0", 422),
        ("sort_by=bogus", 400),
        ("sort_order=sideways", 400),
        ("runtime=notjson", 400),
        ("runtime=[1]", 400),
        ("include_prespawn=yes", 400),
    ] {
        for base in ["/api/v1/containers/", list.as_str()] {
            let r = app.get(&format!("{base}?{q}"), t).await;
            r.expect(status);
            if q.starts_with("runtime") {
                assert_eq!(r.code(), "invalid_runtime");
            }
        }
    }

    // include_proxy_permissions needs resources.proxy_aliases from a token.
    let (reader, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    app.get("/api/v1/containers/", Some(&reader)).await.expect(200);
    for path in [
        "/api/v1/containers/?include_proxy_permissions=true".to_owned(),
        format!("{list}?include_proxy_permissions=true"),
        format!("/api/v1/containers/{alpha}?include_proxy_permissions=true"),
    ] {
        let r = app.get(&path, Some(&reader)).await;
        r.expect(403);
        assert_eq!(r.code(), "insufficient_permissions");
        assert!(r.body["message"].as_str().unwrap().contains("resources.proxy_aliases"));
    }

    // A realm-restricted token sees the realm's containers only, and only realm-scoped.
    let (rt, _) =
        app.new_token(&s.token, json!({"permissions": tree(&["containers.read"]), "realm_ids": [realm]})).await;
    let q = format!("realm_id={realm}");
    let r = app.get(&format!("/api/v1/containers/?{q}"), Some(&rt)).await;
    r.expect(200);
    assert_eq!(ids(&r), [echo.as_str()]);
    assert_eq!(r.data()["pagination"]["total"], 1);
    let r = app.get("/api/v1/containers/", Some(&rt)).await;
    r.expect(403);
    assert_eq!(r.code(), "realm_scope_required");
    let r = app.get(&format!("/api/v1/projects/{pr}/containers?{q}"), Some(&rt)).await;
    r.expect(200);
    assert_eq!(ids(&r), [echo.as_str()]);
    let outside = app.get(&format!("{list}?{q}"), Some(&rt)).await;
    outside.expect(404);
    assert_eq!(outside.code(), "project_not_found");
    let r = app.get(&format!("/api/v1/containers/{alpha}?{q}"), Some(&rt)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    app.get(&format!("/api/v1/containers/{echo}?{q}"), Some(&rt)).await.expect(200);
    // A session scoped to the realm sees the same.
    let r = app.get(&format!("/api/v1/containers/?{q}"), t).await;
    r.expect(200);
    assert_eq!(ids(&r), [echo.as_str()]);

    // Another user sees none of it; their 404 for the project equals a random id's.
    let other = user(&app, "lists-other").await;
    let r = app.get("/api/v1/containers/?include_prespawn=true&include_deleting=true", Some(&other.token)).await;
    r.expect(200);
    assert!(ids(&r).is_empty());
    assert_eq!(r.data()["pagination"]["total"], 0);
    let theirs = app.get(&list, Some(&other.token)).await;
    theirs.expect(404);
    let random = app.get(&format!("/api/v1/projects/{}/containers", hoody_api::db::new_id()), Some(&other.token)).await;
    random.expect(404);
    assert_eq!(theirs.code(), "project_not_found");
    assert_eq!(theirs.code(), random.code());
    assert_eq!(theirs.body["message"], random.body["message"]);
}
