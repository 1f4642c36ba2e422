//! Pools: create, list, get, update, delete; the default pool; bad input (named, nothing
//! stored); who may do what; a duplicate name, also when two creates race.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::{create, events, join, owned, pool, token, user, POOLS};
use crate::harness::TestApp;

#[tokio::test]
async fn create_list_get_update_delete_and_the_default_pool() {
    let app = TestApp::spawn().await;
    let o = user(&app, "powner").await;

    // The list makes the default pool on first use; a second list makes no other.
    let r = app.get(POOLS, Some(&o.token)).await;
    r.expect(200);
    let list = r.data().as_array().unwrap().clone();
    assert_eq!(list.len(), 1, "{list:?}");
    let default = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["is_default"], true);
    assert_eq!(list[0]["name"], "Default");
    assert_eq!(list[0]["user_role"], "owner");
    assert_eq!(list[0]["owner_id"], o.user_id.as_str());
    assert_eq!(list[0]["description"], json!(null));
    assert_eq!(list[0]["settings"], json!({}));
    assert_eq!((list[0]["member_count"].as_i64(), list[0]["server_count"].as_i64()), (Some(1), Some(0)));
    app.get(POOLS, Some(&o.token)).await.expect(200);
    assert_eq!(owned(&app, &o.user_id).await, 1);
    assert_eq!(events(&app, &o.user_id, "pool.created", &default).await, 1);

    // Create: 201 with the contract's fields.
    let r =
        create(&app, &o.token, json!({"name": "  Team  ", "description": "ours", "settings": {"region": "eu"}})).await;
    r.expect(201);
    let d = r.data().clone();
    let id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 24);
    assert_eq!(d["name"], "Team", "trimmed");
    assert_eq!(d["description"], "ours");
    assert_eq!(d["settings"], json!({"region": "eu"}));
    assert_eq!(d["owner_id"], o.user_id.as_str());
    assert_eq!(d["is_default"], false);
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(events(&app, &o.user_id, "pool.created", &id).await, 1);

    // Get: the pool, its members (the owner) and servers (none).
    let r = app.get(&format!("{POOLS}/{id}"), Some(&o.token)).await;
    r.expect(200);
    let g = r.data().clone();
    assert_eq!(g["id"], id.as_str());
    assert_eq!(g["owner_id"], o.user_id.as_str());
    assert_eq!(g["servers"], json!([]));
    let m = &g["members"][0];
    assert_eq!((m["role"].as_str(), m["is_authorized"].as_bool()), (Some("owner"), Some(true)));
    assert_eq!(m["user"]["id"], o.user_id.as_str());
    assert_eq!(m["user"]["username"], "powner");
    assert!(m["user"].get("alias").is_none(), "absent, not null: {m}");
    assert!(m["joined_at"].is_string());

    // Update: only what is given changes; "" clears the description.
    let path = format!("{POOLS}/{id}");
    let put = |body| app.request(Method::PUT, &path, Some(&o.token), Some(body));
    let r = put(json!({"settings": {"a": 1}})).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    let g = app.get(&format!("{POOLS}/{id}"), Some(&o.token)).await;
    assert_eq!((g.data()["settings"].clone(), g.data()["description"].clone()), (json!({"a": 1}), json!("ours")));
    put(json!({"description": ""})).await.expect(200);
    put(json!({})).await.expect(200);
    let g = app.get(&format!("{POOLS}/{id}"), Some(&o.token)).await;
    assert_eq!((g.data()["settings"].clone(), g.data()["description"].clone()), (json!({"a": 1}), json!(null)));
    assert_eq!(events(&app, &o.user_id, "pool.updated", &id).await, 2, "an empty body changed nothing");

    // An Idempotency-Key: the repeat gets the first pool, no second one.
    let keyed = |name: &'static str| {
        app.request_with(
            Method::POST,
            POOLS,
            Some(&o.token),
            &[("idempotency-key", "pool-k1")],
            Some(json!({"name": name})),
        )
    };
    let first = keyed("keyed").await;
    first.expect(201);
    let again = keyed("keyed").await;
    again.expect(201);
    assert_eq!(again.data()["id"], first.data()["id"]);
    let keyed_id = first.data()["id"].as_str().unwrap().to_owned();
    app.request(Method::DELETE, &format!("{POOLS}/{keyed_id}"), Some(&o.token), None).await.expect(200);

    // The list: the default first, then by age.
    let r = app.get(POOLS, Some(&o.token)).await;
    let names: Vec<&str> = r.data().as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Default", "Team"]);

    // Delete: the default never (409, kept); another one, gone with its member rows.
    let r = app.request(Method::DELETE, &format!("{POOLS}/{default}"), Some(&o.token), None).await;
    r.expect(409);
    assert_eq!(r.code(), "default_pool");
    let r = app.request(Method::DELETE, &format!("{POOLS}/{id}"), Some(&o.token), None).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"success": true}));
    app.get(&format!("{POOLS}/{id}"), Some(&o.token)).await.expect(404);
    app.request(Method::DELETE, &format!("{POOLS}/{id}"), Some(&o.token), None).await.expect(404);
    assert_eq!(owned(&app, &o.user_id).await, 1);
    let left: i64 = sqlx::query_scalar("select count(*) from pool_member where pool_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    assert_eq!(events(&app, &o.user_id, "pool.deleted", &id).await, 1);
    // A creator's first pool makes their default pool too.
    let n = user(&app, "newbie").await;
    pool(&app, &n.token, "first").await;
    assert_eq!(owned(&app, &n.user_id).await, 2);
}

#[tokio::test]
async fn bad_input_is_named_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let o = user(&app, "bad").await;
    let long = "x".repeat(101);
    let longer = "d".repeat(1001);
    let big = "v".repeat(17 * 1024);
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": long}), "name"),
        (json!({"name": "a\u{7}b"}), "name"),
        (json!({"name": "ok", "description": longer}), "description"),
        (json!({"name": "ok", "settings": []}), "settings"),
        (json!({"name": "ok", "settings": "x"}), "settings"),
        (json!({"name": "ok", "settings": {"v": big}}), "settings"),
        (json!({"name": 5}), "name"),
        (json!({"description": "no name"}), "name"),
    ] {
        let r = create(&app, &o.token, body.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}: {}", r.text);
    }
    let r = create(&app, &o.token, json!({"name": "ok", "color": "red"})).await;
    assert!(r.status == 422 || r.status == 400, "unknown field: {}", r.text);
    assert_eq!(owned(&app, &o.user_id).await, 0, "nothing stored (not even the default pool)");

    let id = pool(&app, &o.token, "kept").await;
    let path = format!("{POOLS}/{id}");
    let put = |body| app.request(Method::PUT, &path, Some(&o.token), Some(body));
    for (body, field) in [
        (json!({"description": "d".repeat(1001)}), "description"),
        (json!({"settings": [1]}), "settings"),
        (json!({"settings": null, "description": 3}), "description"),
    ] {
        let r = put(body.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}: {}", r.text);
    }
    let r = put(json!({"name": "renamed"})).await;
    assert!(r.status == 422 || r.status == 400, "{}", r.text);
    let (name, settings): (String, serde_json::Value) =
        sqlx::query_as("select name, settings from pool where pool_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((name.as_str(), settings), ("kept", json!({})));
    // Malformed and unknown ids: 404.
    app.get(&format!("{POOLS}/nope"), Some(&o.token)).await.expect(404);
    app.get(&format!("{POOLS}/0123456789abcdef01234567"), Some(&o.token)).await.expect(404);
    app.get(POOLS, None).await.expect(401);
}

#[tokio::test]
async fn a_duplicate_name_is_409_even_when_two_creates_race() {
    let app = TestApp::spawn().await;
    let o = user(&app, "dup").await;
    let other = user(&app, "dupother").await;
    pool(&app, &o.token, "same").await;
    let r = create(&app, &o.token, json!({"name": "same"})).await;
    r.expect(409);
    assert_eq!(r.code(), "pool_name_taken");
    // Another owner may use the name.
    pool(&app, &other.token, "same").await;

    for round in 0..3 {
        let name = format!("race-{round}");
        let all = join_all((0..2).map(|_| create(&app, &o.token, json!({"name": name})))).await;
        let mut got: Vec<u16> = all.iter().map(|r| r.status.as_u16()).collect();
        got.sort();
        assert_eq!(got, [201, 409], "{:?}", all.iter().map(|r| &r.text).collect::<Vec<_>>());
        let n: i64 = sqlx::query_scalar("select count(*) from pool where owner_id = $1 and name = $2")
            .bind(&o.user_id)
            .bind(&name)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
    // A fresh account's first two creates at once: one default pool.
    let f = user(&app, "fresh").await;
    let all = join_all(["a", "b"].map(|n| create(&app, &f.token, json!({"name": n})))).await;
    assert!(all.iter().all(|r| r.status == 201), "{:?}", all.iter().map(|r| &r.text).collect::<Vec<_>>());
    let defaults: i64 = sqlx::query_scalar("select count(*) from pool where owner_id = $1 and is_default")
        .bind(&f.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(defaults, 1);
}

#[tokio::test]
async fn who_may_read_change_and_delete_a_pool() {
    let app = TestApp::spawn().await;
    let o = user(&app, "mowner").await;
    let a = user(&app, "madmin").await;
    let u = user(&app, "muser").await;
    let s = user(&app, "mstranger").await;
    let id = pool(&app, &o.token, "shared").await;
    join(&app, &o.token, &id, &a, "madmin", "admin").await;
    join(&app, &o.token, &id, &u, "muser", "user").await;
    let path = format!("{POOLS}/{id}");

    // Everyone in it sees it; a stranger: 404, as if missing.
    for t in [&o.token, &a.token, &u.token] {
        app.get(&path, Some(t)).await.expect(200);
    }
    let r = app.get(&path, Some(&s.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "pool_not_found");
    // Lists: owned plus member of; the role each has.
    for (who, role) in [(&a, "admin"), (&u, "user")] {
        let r = app.get(POOLS, Some(&who.token)).await;
        let mine = r.data().as_array().unwrap().iter().find(|p| p["id"] == id.as_str()).unwrap().clone();
        assert_eq!(mine["user_role"], role);
        assert_eq!(mine["member_count"], 3);
    }
    let r = app.get(POOLS, Some(&s.token)).await;
    assert!(r.data().as_array().unwrap().iter().all(|p| p["id"] != id.as_str()));

    // Update and delete: the owner only (admin, user: 403; stranger: 404); nothing changed.
    for (t, status) in [(&a.token, 403), (&u.token, 403), (&s.token, 404)] {
        let r = app.request(Method::PUT, &path, Some(t), Some(json!({"description": "mine"}))).await;
        r.expect(status);
        let r = app.request(Method::DELETE, &path, Some(t), None).await;
        r.expect(status);
        if status == 403 {
            assert_eq!(r.code(), "pool_access_denied");
        }
    }
    let desc: Option<String> = sqlx::query_scalar("select description from pool where pool_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(desc, None);

    // Tokens: each route wants its leaf.
    let read_only = token(&app, &o, &["projects.read"]).await;
    app.get(&path, Some(&read_only)).await.expect(200);
    app.get(POOLS, Some(&read_only)).await.expect(200);
    for (method, p, body) in [
        (Method::POST, POOLS.to_owned(), Some(json!({"name": "by-token"}))),
        (Method::PUT, path.clone(), Some(json!({"description": "t"}))),
        (Method::DELETE, path.clone(), None),
    ] {
        let r = app.request(method.clone(), &p, Some(&read_only), body).await;
        r.expect(403);
        assert_eq!(r.code(), "insufficient_permissions", "{method} {p}");
    }
    let nothing = token(&app, &o, &[]).await;
    app.get(&path, Some(&nothing)).await.expect(403);
    let writer = token(&app, &o, &["projects.update"]).await;
    app.request(Method::PUT, &path, Some(&writer), Some(json!({"description": "t"}))).await.expect(200);

    // Deleted by its owner: gone for everyone; the members are told.
    let deleter = token(&app, &o, &["projects.delete"]).await;
    app.request(Method::DELETE, &path, Some(&deleter), None).await.expect(200);
    for who in [&a, &u] {
        app.get(&path, Some(&who.token)).await.expect(404);
        assert_eq!(events(&app, &who.user_id, "pool.deleted", &id).await, 1);
    }
}
