//! `/projects/{id}/permissions`: the owner grants, lists, changes and revokes; bad grants are
//! refused; a grantee's level gates what it may do, from its next request on.

use reqwest::Method;
use serde_json::{json, Value};

use super::{aliases, assert_code, assert_field, at, count, delete, events, grant, project, put, user, PROJECTS};
use crate::harness::TestApp;

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
