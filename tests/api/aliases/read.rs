//! `GET /proxy/aliases` (the `{aliases, count}` shape and its filters) and
//! `GET /proxy/aliases/{id}`; an expired alias reads as disabled.

use serde_json::{json, Value};

use super::{at, fx, names, project, BASE};

/// Make alias `id` expire an hour ago (a create or update refuses past times).
async fn expire(fx: &super::Fx, id: &str) {
    sqlx::query("update proxy_alias set expires_at = now() - interval '1 hour' where alias_id = $1")
        .bind(id)
        .execute(&fx.db)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_list_filters_by_project_container_realm_state_and_expiry() {
    let fx = fx().await;
    let t = &fx.owner.token;
    let realm = hoody_api::db::new_id();
    let p2 = project(&fx, t, "Second", json!([realm])).await;
    let c2 = fx.seed(&p2, "api-1", "running", |n| n.realm_ids = vec![realm.clone()]).await;
    let c3 = fx.seed(&fx.project, "web-2", "running", |_| {}).await;
    fx.alias(json!({"alias": "one"})).await;
    let off = fx.alias(json!({"alias": "two", "enabled": false})).await;
    let old = fx.alias(json!({"alias": "three"})).await;
    expire(&fx, &old).await;
    fx.create_on(t, &c2, json!({"alias": "four"})).await.expect(201);
    fx.create_on(t, &c3, json!({"alias": "five"})).await.expect(201);

    let r = fx.get(BASE, Some(t)).await;
    r.expect(200);
    assert_eq!(names(&r), ["five", "four", "three", "two", "one"], "newest first");
    assert_eq!(r.data()["count"], 5);
    assert_eq!(r.data().as_object().unwrap().len(), 2, "exactly {{aliases, count}}: {}", r.text);
    let by_name = |r: &crate::harness::Resp, n: &str| -> Value {
        r.data()["aliases"].as_array().unwrap().iter().find(|a| a["alias"] == n).unwrap().clone()
    };
    assert_eq!(by_name(&r, "three")["enabled"], false, "expired reads as disabled");
    assert!(by_name(&r, "three")["expires_at"].is_string());
    assert_eq!(by_name(&r, "two")["enabled"], false);
    assert_eq!(by_name(&r, "one")["enabled"], true);

    for (q, want) in [
        (format!("project_id={}", fx.project), vec!["five", "three", "two", "one"]),
        (format!("project_id={p2}"), vec!["four"]),
        (format!("container_id={}", fx.container), vec!["three", "two", "one"]),
        (format!("container_id={c3}&project_id={}", fx.project), vec!["five"]),
        (format!("container_id={c3}&project_id={p2}"), vec![]),
        (format!("realm_id={realm}"), vec!["four"]),
        ("enabled=true".into(), vec!["five", "four", "one"]),
        ("enabled=false".into(), vec!["three", "two"]),
        ("expired=true".into(), vec!["three"]),
        ("expired=false".into(), vec!["five", "four", "two", "one"]),
        ("enabled=false&expired=false".into(), vec!["two"]),
        (format!("project_id={}", hoody_api::db::new_id()), vec![]),
    ] {
        let r = fx.get(&format!("{BASE}?{q}"), Some(t)).await;
        r.expect(200);
        assert_eq!(names(&r), want, "{q}");
        assert_eq!(r.data()["count"], want.len(), "{q}");
    }
    // Re-enabling does not revive an expired alias; disabling shows at once.
    fx.call(reqwest::Method::PATCH, &format!("{}/state", at(&off)), t, Some(json!({"enabled": true})))
        .await
        .expect(200);
    let r = fx.get(&format!("{BASE}?enabled=true"), Some(t)).await;
    assert_eq!(names(&r), ["five", "four", "two", "one"]);

    // Bad filters name the parameter; nothing is listed.
    for (q, param) in [
        ("project_id=nope", "project_id"),
        ("container_id=ABCDEF0123456789ABCDEF01", "container_id"),
        ("enabled=yes", "enabled"),
        ("expired=1", "expired"),
    ] {
        let r = fx.get(&format!("{BASE}?{q}"), Some(t)).await;
        r.expect(400);
        assert_eq!(super::field(&r), param, "{q}: {}", r.text);
    }
    let r = fx.get(&format!("{BASE}?realm_id=nope"), Some(t)).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_realm_id");
}

#[tokio::test]
async fn one_alias_reads_with_its_project_and_container() {
    let fx = fx().await;
    let id = fx.alias(json!({"alias": "readable", "target_path": "/x"})).await;
    let r = fx.get(&at(&id), Some(&fx.owner.token)).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["id"], id.as_str());
    assert_eq!(d["alias"], "readable");
    assert_eq!(d["target_path"], "/x");
    assert_eq!(d["project"], json!({"id": fx.project, "alias": "Aliases"}));
    assert_eq!(d["container"], json!({"id": fx.container, "name": "web-1"}));
    assert_eq!(d["url"], format!("https://readable.{}.containers.test.example/", super::SERVER));
    for key in ["created_at", "updated_at"] {
        assert!(d[key].as_str().unwrap().ends_with('Z'), "{key}: {d}");
    }
    expire(&fx, &id).await;
    let r = fx.get(&at(&id), Some(&fx.owner.token)).await;
    assert_eq!(r.data()["enabled"], false);
    let stored: bool = sqlx::query_scalar("select enabled from proxy_alias where alias_id = $1")
        .bind(&id)
        .fetch_one(&fx.db)
        .await
        .unwrap();
    assert!(stored, "expiry does not rewrite the row");
    // A missing or malformed id: the same 404.
    for path in [at(&hoody_api::db::new_id()), at("not-an-id")] {
        let r = fx.get(&path, Some(&fx.owner.token)).await;
        r.expect(404);
        assert_eq!(r.code(), "proxy_alias_not_found");
    }
}
