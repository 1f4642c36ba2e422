//! `POST /proxy/aliases`: chosen and generated names, defaults and normalisation, every bad field
//! refused with nothing stored, platform-wide uniqueness (also under concurrency), the account cap.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use super::{count, events, field, fx, fx_with, rows, user, BASE, SERVER};
use crate::harness::TestApp;

async fn expires(app: &TestApp, id: &str) -> Option<DateTime<Utc>> {
    sqlx::query_scalar("select expires_at from proxy_alias where alias_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn creates_with_a_chosen_or_generated_name_and_its_defaults() {
    let fx = fx().await;
    let r = fx.create_on(&fx.owner.token, &fx.container, json!({"alias": "my-app"})).await;
    r.expect(201);
    let d = r.data();
    let id = d["id"].as_str().unwrap().to_owned();
    assert!(hoody_api::db::is_id(&id));
    assert_eq!(d["alias"], "my-app");
    assert_eq!(d["program"], "exec");
    assert_eq!(d["index"], 1);
    assert_eq!(d["target_path"], Value::Null);
    assert_eq!(d["allow_path_override"], true);
    assert_eq!(d["expires_at"], Value::Null);
    assert_eq!(d["enabled"], true);
    assert_eq!(d["user_id"], fx.owner.user_id.as_str());
    assert_eq!(d["project_id"], fx.project.as_str());
    assert_eq!(d["container_id"], fx.container.as_str());
    assert_eq!(d["server_id"], fx.server_id.as_str());
    assert_eq!(d["server_name"], SERVER);
    assert_eq!(d["subserver_name"], format!("c-{}", fx.container));
    assert_eq!(d["url"], format!("https://my-app.{SERVER}.containers.test.example/"));
    assert!(d.get("project").is_none() && d.get("container").is_none());
    assert_eq!(rows(&fx).await, [("my-app".into(), "exec".into(), 1, None, true, true)]);
    assert_eq!(events(&fx, &id).await, ["proxy.alias.created"]);
    let (user_id, project, container): (String, String, String) =
        sqlx::query_as("select user_id, project_id, container_id from event where resource_id = $1")
            .bind(&id)
            .fetch_one(&fx.db)
            .await
            .unwrap();
    assert_eq!((user_id, project, container), (fx.owner.user_id.clone(), fx.project.clone(), fx.container.clone()));

    // null, false or nothing: 48 generated hex characters, each time another.
    let mut generated = Vec::new();
    for alias in [Some(json!(null)), Some(json!(false)), None] {
        let extra = alias.map_or(json!({}), |a| json!({ "alias": a }));
        let r = fx.create_on(&fx.owner.token, &fx.container, extra).await;
        r.expect(201);
        let name = r.data()["alias"].as_str().unwrap().to_owned();
        assert!(name.len() == 48 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{name}");
        generated.push(name);
    }
    let distinct: std::collections::HashSet<_> = generated.iter().collect();
    assert_eq!(distinct.len(), 3);
    assert_eq!(count(&fx).await, 4);
}

#[tokio::test]
async fn settings_are_normalised_and_stored() {
    let fx = fx().await;
    let later = Utc::now() + chrono::Duration::days(3);
    let secs = later.timestamp();
    let body = json!({"alias": "svc", "program": "http", "port": 8080, "target_path": "app/v1",
        "allow_path_override": false, "enabled": false, "expires_at": later.to_rfc3339()});
    let r = fx.create_on(&fx.owner.token, &fx.container, body).await;
    r.expect(201);
    let d = r.data();
    assert_eq!((d["program"].as_str(), d["index"].as_i64()), (Some("http"), Some(8080)));
    assert_eq!(d["target_path"], "/app/v1");
    assert_eq!(d["allow_path_override"], false);
    assert_eq!(d["enabled"], false);
    let stored = expires(&fx, d["id"].as_str().unwrap()).await.unwrap();
    assert_eq!(stored.timestamp_millis() / 1000, secs);
    assert_eq!(d["expires_at"], hoody_api::db::ts(stored));
    assert_eq!(rows(&fx).await, [("svc".into(), "http".into(), 8080, Some("/app/v1".into()), false, false)]);

    // Unix seconds and milliseconds name the same moment.
    for (name, v) in [("in-secs", json!(secs)), ("in-ms", json!(secs * 1000)), ("in-text", json!(secs.to_string()))] {
        let r = fx.create_on(&fx.owner.token, &fx.container, json!({"alias": name, "expires_at": v, "index": 2})).await;
        r.expect(201);
        assert_eq!(r.data()["index"], 2);
        let at = expires(&fx, r.data()["id"].as_str().unwrap()).await.unwrap();
        assert_eq!(at.timestamp(), secs, "{name}");
    }
}

#[tokio::test]
async fn every_bad_field_is_refused_with_nothing_stored() {
    let fx = fx().await;
    let kit_shaped = format!("{}-{}-exec-1", fx.project, fx.container);
    let cases: Vec<(Value, u16, &str)> = vec![
        (json!({"alias": "ab"}), 422, "alias"),
        (json!({"alias": "-abc"}), 422, "alias"),
        (json!({"alias": "abc-"}), 422, "alias"),
        (json!({"alias": "My-App"}), 422, "alias"),
        (json!({"alias": "my_app"}), 422, "alias"),
        (json!({"alias": "my.app"}), 422, "alias"),
        (json!({"alias": "a".repeat(62)}), 422, "alias"),
        (json!({"alias": "api"}), 422, "alias"),
        (json!({"alias": kit_shaped}), 422, "alias"),
        (json!({"alias": true}), 422, "alias"),
        (json!({"alias": 12345}), 422, "alias"),
        (json!({"program": "nope"}), 422, "program"),
        (json!({"program": ""}), 422, "program"),
        (json!({"program": 5}), 400, "program"),
        (json!({"index": 0}), 422, "index"),
        (json!({"index": 65_536}), 422, "index"),
        (json!({"index": "two"}), 400, "index"),
        (json!({"index": 1.5}), 400, "index"),
        (json!({"port": 0}), 422, "port"),
        (json!({"port": 80, "index": 81}), 422, "port"),
        (json!({"target_path": "/a b"}), 422, "target_path"),
        (json!({"target_path": "/../etc"}), 422, "target_path"),
        (json!({"target_path": "/x?y=1"}), 422, "target_path"),
        (json!({"target_path": "/.%2e/x"}), 422, "target_path"),
        (json!({"target_path": "/%2e./x"}), 422, "target_path"),
        (json!({"target_path": "/..;/x"}), 422, "target_path"),
        (json!({"target_path": "/a%2f..%2fb"}), 422, "target_path"),
        (json!({"target_path": "/a%5cb"}), 422, "target_path"),
        (json!({"target_path": "%00"}), 422, "target_path"),
        (json!({"target_path": "//evil.com"}), 422, "target_path"),
        (json!({"target_path": "/a//b"}), 422, "target_path"),
        (json!({"target_path": 7}), 400, "target_path"),
        (json!({"allow_path_override": "yes"}), 400, "allow_path_override"),
        (json!({"expires_at": "soon"}), 422, "expires_at"),
        (json!({"expires_at": 1_000_000_000}), 422, "expires_at"),
        (json!({"expires_at": "2001-01-01T00:00:00Z"}), 422, "expires_at"),
        (json!({"expires_at": true}), 422, "expires_at"),
        (json!({"expires_at": -5}), 422, "expires_at"),
        (json!({"enabled": "yes"}), 400, "enabled"),
        (json!({"container_id": "not-an-id"}), 400, "container_id"),
        (json!({"colour": "red"}), 422, "colour"),
    ];
    for (extra, status, path) in &cases {
        let r = fx.create_on(&fx.owner.token, &fx.container, extra.clone()).await;
        r.expect(*status);
        assert_eq!(field(&r), *path, "{extra}: {}", r.text);
    }
    // Missing required fields.
    for (body, path) in
        [(json!({"program": "exec"}), "container_id"), (json!({"container_id": fx.container}), "program")]
    {
        let r = fx.post_auth(BASE, &fx.owner.token, Some(body)).await;
        r.expect(400);
        assert_eq!(field(&r), path, "{}", r.text);
    }
    assert_eq!(count(&fx).await, 0);
    let n: i64 = sqlx::query_scalar("select count(*) from event where resource_type = 'proxy_alias'")
        .fetch_one(&fx.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn a_name_is_unique_across_the_platform() {
    let fx = fx().await;
    fx.alias(json!({"alias": "taken-name"})).await;
    let r = fx.create_on(&fx.owner.token, &fx.container, json!({"alias": "taken-name", "program": "files"})).await;
    r.expect(409);
    assert_eq!(r.code(), "proxy_alias_taken");
    // Another user, on their own container: the same.
    let other = user(&fx, "other").await;
    let p = super::project(&fx, &other.token, "Theirs", json!([])).await;
    let theirs = fx.seed(&p, "theirs", "running", |_| {}).await;
    let r = fx.create_on(&other.token, &theirs, json!({"alias": "taken-name"})).await;
    r.expect(409);
    assert_eq!(count(&fx).await, 1);
}

#[tokio::test]
async fn two_creates_of_one_name_at_once_give_one_alias() {
    let fx = fx().await;
    let other = user(&fx, "racer").await;
    let p = super::project(&fx, &other.token, "Racer", json!([])).await;
    let theirs = fx.seed(&p, "racer-1", "running", |_| {}).await;
    for round in 0..5 {
        let name = format!("race-{round}");
        let (a, b) = tokio::join!(
            fx.create_on(&fx.owner.token, &fx.container, json!({"alias": name})),
            fx.create_on(&other.token, &theirs, json!({"alias": name})),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{} / {}", a.text, b.text);
        let n: i64 = sqlx::query_scalar("select count(*) from proxy_alias where alias = $1")
            .bind(&name)
            .fetch_one(&fx.db)
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}

#[tokio::test]
async fn the_account_cap_holds_also_under_concurrent_creates() {
    let fx = fx_with(|c| {
        c.quotas.free.aliases = 3;
        c.quotas.standard.aliases = 3;
    })
    .await;
    let tries: Vec<_> = (0..8).map(|_| fx.create_on(&fx.owner.token, &fx.container, json!({}))).collect();
    let answers = futures::future::join_all(tries).await;
    let created = answers.iter().filter(|r| r.status == 201).count();
    assert_eq!(created, 3);
    for r in answers.iter().filter(|r| r.status != 201) {
        r.expect(422);
        assert_eq!(field(r), "limits.aliases", "{}", r.text);
    }
    assert_eq!(count(&fx).await, 3);
    // A grantee's alias on the owner's container counts against the owner.
    let helper = user(&fx, "helper").await;
    let grant = json!({"user_id": helper.user_id, "permission_level": "edit"});
    fx.post_auth(&format!("/api/v1/projects/{}/permissions", fx.project), &fx.owner.token, Some(grant))
        .await
        .expect(201);
    let r = fx.create_on(&helper.token, &fx.container, json!({})).await;
    r.expect(422);
    assert_eq!(field(&r), "limits.aliases");
    // Freeing one makes room again.
    let id: String = sqlx::query_scalar("select alias_id from proxy_alias limit 1").fetch_one(&fx.db).await.unwrap();
    fx.call(reqwest::Method::DELETE, &super::at(&id), &fx.owner.token, None).await.expect(200);
    fx.create_on(&helper.token, &fx.container, json!({})).await.expect(201);
    assert_eq!(count(&fx).await, 3);
}

#[tokio::test]
async fn no_alias_while_the_container_is_claimed_or_deleted() {
    let fx = fx().await;
    let claiming = fx.seed(&fx.project, "claiming-1", "claiming", |_| {}).await;
    let r = fx.create_on(&fx.owner.token, &claiming, json!({})).await;
    r.expect(409);
    assert_eq!(r.code(), "container_claiming");
    let deleting = fx.seed(&fx.project, "deleting-1", "deleting", |_| {}).await;
    let r = fx.create_on(&fx.owner.token, &deleting, json!({})).await;
    r.expect(409);
    assert_eq!(r.code(), "container_deleting");
    let deleted = fx.seed(&fx.project, "deleted-1", "deleted", |_| {}).await;
    let r = fx.create_on(&fx.owner.token, &deleted, json!({})).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    assert_eq!(count(&fx).await, 0);
}

#[tokio::test]
async fn a_prespawned_container_takes_no_alias() {
    let fx = fx().await;
    let pre = fx.seed(&fx.project, "waiting", "running", |n| n.prespawn = true).await;
    let r = fx.create_on(&fx.owner.token, &pre, json!({"alias": "too-early"})).await;
    r.expect(409);
    assert_eq!(r.code(), "container_prespawned", "{}", r.text);
    assert_eq!(count(&fx).await, 0);
    let n: i64 = sqlx::query_scalar("select count(*) from event where resource_type = 'proxy_alias'")
        .fetch_one(&fx.db)
        .await
        .unwrap();
    assert_eq!(n, 0);
}
