//! `GET /projects/`: paging, sorting, own and shared projects only; bad paging and sorting.

use serde_json::json;

use super::{aliases, assert_code, assert_field, at, grant, project, put, user, PROJECTS};
use crate::harness::TestApp;

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
