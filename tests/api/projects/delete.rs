//! `DELETE /projects/{id}`: the project and its permission rows go, other projects' rows stay.

use reqwest::Method;
use serde_json::json;

use super::{aliases, assert_code, at, count, delete, events, grant, project, user, PROJECTS};
use crate::harness::TestApp;

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
