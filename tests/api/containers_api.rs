//! The containers and env endpoints beyond the happy path of containers_lifecycle.rs: create
//! refusals (nothing recorded), generated names, uniqueness and quota; prespawned containers
//! and their claim; the lists (paging, sorting, filters, realms); update; the network settings
//! as LXD holds them; the signed access claim; who may reach a container (owner, grantees by
//! level, tokens by leaf, everyone else 404); env refusals.
//!
//! Real instances are made only where the host must act; rows that only the API reads are
//! inserted directly (with the reconciler held off so it leaves them alone).

use std::time::Duration;

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use hoody_api::db::containers::{insert, NewContainer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    fixtures::{exists, lxc, lxc_status, LxdApp},
    harness::{Resp, Session, TestApp, PASSWORD},
    permissions::tree,
};

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@host";
const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@host";
const KEY_C: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICcccccccccccccccccccccccccccccccccccccccccccc c@host";

/// The app on the local LXD with the reconciler held off (inserted rows have no instance).
async fn spawn() -> LxdApp {
    LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await
}

/// A second, verified user (inserted directly: no signup mail, no rate limit).
async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

/// A container row without an instance, for routes that only read or refuse.
async fn seed(
    app: &LxdApp,
    project: &str,
    name: &str,
    status: &'static str,
    f: impl FnOnce(&mut NewContainer),
) -> String {
    let mut n = NewContainer::new(project, &app.server_id, name.to_owned(), "hoody-busybox".to_owned());
    n.status = status;
    f(&mut n);
    insert(&app.db, &n).await.unwrap();
    n.container_id
}

async fn count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap()
}

async fn new_project(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post_auth("/api/v1/projects/", token, Some(body)).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

fn names(r: &Resp) -> Vec<String> {
    r.data()["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

fn ids(r: &Resp) -> Vec<String> {
    r.data()["containers"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

/// `<adjective>-<noun>-<6 hex>`, as the server generates.
fn is_generated(name: &str) -> bool {
    let parts: Vec<&str> = name.split('-').collect();
    parts.len() == 3
        && parts[..2].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[2].len() == 6
        && parts[2].bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn field_paths(r: &Resp) -> Vec<String> {
    r.body["details"]["fields"]
        .as_array()
        .map(|f| f.iter().filter_map(|x| x["path"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn create_refuses_bad_input_and_records_nothing() {
    let app = spawn().await;
    let s = app.verified_user("create-bad@example.com").await;
    let p = app.project(&s.token, "Bad").await;
    let path = format!("/api/v1/projects/{p}/containers");
    let long = "x".repeat(16_001);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        // A malformed id is a schema error (400), never a lookup.
        (json!({"server_id": "not-hex"}), 400, "invalid_body", "server_id"),
        (json!({"name": "ab"}), 422, "validation_failed", "name"),
        (json!({"name": "bad name!"}), 422, "validation_failed", "name"),
        (json!({"name": "a".repeat(101)}), 422, "validation_failed", "name"),
        (json!({"comment": long}), 422, "validation_failed", "comment"),
        (json!({"ssh_public_key": "not a key"}), 422, "validation_failed", "ssh_public_key"),
        (json!({"environment_vars": {"1BAD": "x"}}), 422, "validation_failed", "environment_vars.1BAD"),
        (json!({"environment_vars": {"GOOD": {"nested": 1}}}), 422, "validation_failed", "environment_vars.GOOD"),
        (json!({"environment_vars": ["A=1"]}), 422, "validation_failed", "environment_vars"),
        (json!({"container_image": "../x"}), 422, "validation_failed", "container_image"),
        (json!({"color": "#GGG"}), 422, "validation_failed", "color"),
        // Unknown fields are 422 (src/extract/json.rs: "unknown fields → 422").
        (json!({"bogus": 1}), 422, "validation_failed", "bogus"),
        (json!({"name": 5}), 400, "invalid_body", "name"),
        (json!({"server_id": hoody_api::db::new_id()}), 404, "server_not_found", ""),
        (json!({"cache_image": true}), 403, "cache_image_forbidden", ""),
    ];
    for (extra, status, code, field) in cases {
        let r = app.create(&s.token, &p, extra.clone()).await;
        r.expect(status);
        assert_eq!(r.code(), code, "{extra}: {}", r.text);
        if !field.is_empty() {
            assert!(field_paths(&r).contains(&field.to_owned()), "{extra}: {}", r.text);
        }
    }
    // A body that lacks server_id entirely.
    let r = app.post_auth(&path, &s.token, Some(json!({"name": "no-server"}))).await;
    r.expect(400);
    assert_eq!(field_paths(&r), ["server_id"]);
    // A token without containers.features.ai may not ask for it.
    let (tok, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.create"])})).await;
    let r = app.create(&tok, &p, json!({"ai": true})).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.features.ai"));
    // Unknown project: 404 before anything else.
    let r = app.create(&s.token, &hoody_api::db::new_id(), json!({})).await;
    r.expect(404);
    assert_eq!(r.code(), "project_not_found");
    assert_eq!(count(&app).await, 0, "no refused create left a row");

    // "rand" and an omitted name both give a generated one; Q holds at most one container.
    let q = new_project(&app, &s.token, json!({"alias": "Quota", "max_containers": 1})).await;
    let r = app.create(&s.token, &q, json!({"name": "rand", "ssh_public_key": KEY_A})).await;
    r.expect(201);
    let a_name = r.data()["name"].as_str().unwrap().to_owned();
    assert!(is_generated(&a_name), "{a_name}");
    assert_eq!(r.data()["ssh_public_key"], KEY_A);
    let r = app.create(&s.token, &p, json!({})).await;
    r.expect(201);
    let b_name = r.data()["name"].as_str().unwrap().to_owned();
    assert!(is_generated(&b_name), "{b_name}");
    assert_ne!(a_name, b_name);
    assert_eq!(count(&app).await, 2);

    // The quota, the name within a project, the SSH key across all containers.
    let r = app.create(&s.token, &q, json!({"name": "one-more"})).await;
    r.expect(422);
    assert_eq!(field_paths(&r), ["max_containers"]);
    let r = app.create(&s.token, &p, json!({"name": b_name})).await;
    r.expect(409);
    assert_eq!(r.code(), "container_name_taken");
    let r = app.create(&s.token, &p, json!({"name": "key-reuse", "ssh_public_key": KEY_A})).await;
    r.expect(409);
    assert_eq!(r.code(), "ssh_public_key_in_use");
    assert_eq!(count(&app).await, 2, "refusals after the two creates left no row");
}

#[tokio::test]
async fn prespawned_containers_hide_and_are_claimed_by_the_next_create() {
    let app = spawn().await;
    let s = app.verified_user("prespawn@example.com").await;
    let m = new_project(&app, &s.token, json!({"alias": "Capped", "max_containers": 1})).await;
    let n = app.project(&s.token, "Target").await;

    let r = app.create(&s.token, &m, json!({"prespawn": true, "name": "spare"})).await;
    r.expect(201);
    assert_eq!(r.data()["prespawn"], true);
    assert_eq!(r.data()["status"], "running");
    let x = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(lxc_status(&format!("c-{x}")), "RUNNING");

    // Hidden from the lists unless asked for.
    let r = app.get("/api/v1/containers/", Some(&s.token)).await;
    r.expect(200);
    assert!(ids(&r).is_empty(), "{}", r.text);
    assert_eq!(r.data()["pagination"]["total"], 0);
    let r = app.get(&format!("/api/v1/projects/{m}/containers"), Some(&s.token)).await;
    r.expect(200);
    assert!(ids(&r).is_empty());
    let r = app.get("/api/v1/containers/?include_prespawn=true", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(ids(&r), [x.as_str()]);

    // Not counted against max_containers; bypass_prespawn makes a fresh one although X is there
    // to claim (same server, same image).
    let r = app.create(&s.token, &m, json!({"name": "fresh"})).await;
    r.expect(201);
    let y = r.data()["id"].as_str().unwrap().to_owned();
    assert_ne!(y, x);
    assert_eq!(r.data()["prespawn"], false);
    // Now the project is full; the refusal does not touch the prespawned one.
    let r = app.create(&s.token, &m, json!({"name": "over", "bypass_prespawn": false})).await;
    r.expect(422);
    assert_eq!(field_paths(&r), ["max_containers"]);
    let still: bool = sqlx::query_scalar("select prespawn from container where container_id = $1")
        .bind(&x)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(still);

    // The server's prespawn cap.
    sqlx::query("update server set prespawn_count = 1 where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    let before = count(&app).await;
    let r = app.create(&s.token, &n, json!({"prespawn": true})).await;
    r.expect(422);
    assert_eq!(field_paths(&r), ["prespawn"]);
    assert_eq!(count(&app).await, before);

    // A create without bypass claims X: same id, the new request's name/env/project applied.
    let r = app
        .create(
            &s.token,
            &n,
            json!({"bypass_prespawn": false, "name": "claimed", "color": "#123456",
                "environment_vars": {"CLAIMED": "yes"}}),
        )
        .await;
    r.expect(201);
    let d = r.data();
    assert_eq!(d["id"], x.as_str(), "the prespawned container was claimed: {}", r.text);
    assert_eq!(d["prespawn"], false);
    assert_eq!(d["status"], "running");
    assert_eq!(d["name"], "claimed");
    assert_eq!(d["color"], "#123456");
    assert_eq!(d["project_id"], n.as_str());
    assert_eq!(d["environment_vars"], json!({"CLAIMED": "yes"}));
    let lxd_name = format!("c-{x}");
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.CLAIMED"]), "yes");
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    assert_eq!(count(&app).await, before, "no new row for a claim");

    let r = app.get(&format!("/api/v1/containers/{x}/status-logs?sort_order=asc"), Some(&s.token)).await;
    r.expect(200);
    let logs = r.data()["logs"].as_array().unwrap();
    let path: Vec<&str> = logs.iter().map(|l| l["to_status"].as_str().unwrap()).collect();
    assert_eq!(path, ["creating", "running", "claiming", "running"]);
    assert_eq!(logs[2]["from_status"], "running");
    assert_eq!(logs[3]["from_status"], "claiming");

    // Now listed like any other.
    let r = app.get("/api/v1/containers/?sort_by=name&sort_order=asc", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(names(&r), ["claimed", "fresh"]);
}

#[tokio::test]
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
    assert!(r.data()["containers"].as_array().unwrap().iter().all(|c| c["proxy_domains"] == json!([])));

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

#[tokio::test]
async fn update_changes_fields_and_applies_env_and_autostart_to_lxd() {
    let app = spawn().await;
    let s = app.verified_user("update@example.com").await;
    let p = app.project(&s.token, "Upd").await;
    let realm = hoody_api::db::new_id();
    let other_realm = hoody_api::db::new_id();
    let id = app
        .running(
            &s.token,
            &p,
            json!({"name": "upd-1", "comment": "first", "ssh_public_key": KEY_A,
                "environment_vars": {"OLD": "1"}, "realm_ids": [realm]}),
        )
        .await;
    let lxd_name = format!("c-{id}");
    let base = format!("/api/v1/containers/{id}");
    assert_eq!(lxc(&["config", "get", &lxd_name, "boot.autostart"]), "true");

    let r = app
        .call(
            Method::PUT,
            &base,
            &s.token,
            Some(json!({"name": "upd-2", "color": "abc", "comment": "second", "ssh_public_key": KEY_B})),
        )
        .await;
    r.expect(200);
    let d = r.data();
    assert_eq!((d["name"].as_str(), d["color"].as_str()), (Some("upd-2"), Some("#ABC")));
    assert_eq!((d["comment"].as_str(), d["ssh_public_key"].as_str()), (Some("second"), Some(KEY_B)));
    assert_eq!(d["environment_vars"], json!({"OLD": "1"}), "left out: kept");

    // null clears; left-out fields stay.
    let r = app.call(Method::PUT, &base, &s.token, Some(json!({"ssh_public_key": null, "comment": null}))).await;
    r.expect(200);
    assert!(r.data()["ssh_public_key"].is_null() && r.data()["comment"].is_null());
    assert_eq!(r.data()["name"], "upd-2");
    let r = app.get(&base, Some(&s.token)).await;
    assert!(r.data()["ssh_public_key"].is_null(), "cleared in the database too");
    // Rows holding a name and a key, for the conflicts below: the key is unique whatever its
    // comment or spacing.
    seed(&app, &p, "taken-name", "stopped", |n| n.ssh_public_key = Some(KEY_C.into())).await;

    // autostart, applied to LXD, with an event.
    let r = app.call(Method::PUT, &base, &s.token, Some(json!({"autostart": false}))).await;
    r.expect(200);
    assert_eq!(r.data()["autostart"], false);
    assert_eq!(lxc(&["config", "get", &lxd_name, "boot.autostart"]), "false");
    let kinds: Vec<String> = sqlx::query_scalar("select event_type from event where container_id = $1")
        .bind(&id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert!(kinds.contains(&"container.autostart_disabled".to_owned()), "{kinds:?}");

    // environment_vars replaces the whole environment on the instance.
    let r = app.call(Method::PUT, &base, &s.token, Some(json!({"environment_vars": {"NEW": "2", "N": 3}}))).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"N": "3", "NEW": "2"}));
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.NEW"]), "2");
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.OLD"]), "");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "sh", "-c", "echo $NEW"]), "2");

    // Refusals change nothing.
    for (body, status, code) in [
        (json!({"name": "x"}), 422, "validation_failed"),
        (json!({"color": "zzz"}), 422, "validation_failed"),
        (json!({"comment": "c".repeat(16_001)}), 422, "validation_failed"),
        (json!({"ssh_public_key": "nope"}), 422, "validation_failed"),
        (json!({"environment_vars": {"1BAD": "x"}}), 422, "validation_failed"),
        (json!({"bogus": true}), 422, "validation_failed"),
        (json!({"autostart": "yes"}), 400, "invalid_body"),
        (json!({"name": "taken-name"}), 409, "container_name_taken"),
        (json!({"ssh_public_key": KEY_C}), 409, "ssh_public_key_in_use"),
        (json!({"ssh_public_key": KEY_C.replace(" c@host", " other@comment")}), 409, "ssh_public_key_in_use"),
        (json!({"ssh_public_key": KEY_C.replace(" c@host", "")}), 409, "ssh_public_key_in_use"),
        (json!({"ssh_public_key": KEY_C.replace(' ', "   ")}), 409, "ssh_public_key_in_use"),
        (json!({"realm_ids": ["NOTHEX"]}), 422, "validation_failed"),
    ] {
        let r = app.call(Method::PUT, &base, &s.token, Some(body.clone())).await;
        r.expect(status);
        assert_eq!(r.code(), code, "{body}: {}", r.text);
    }
    let r = app.get(&base, Some(&s.token)).await;
    assert_eq!(r.data()["name"], "upd-2");
    assert_eq!(r.data()["color"], "#ABC");
    assert!(r.data()["ssh_public_key"].is_null());
    assert_eq!(r.data()["environment_vars"], json!({"N": "3", "NEW": "2"}));
    assert_eq!(r.data()["realm_ids"], json!([realm]));

    // realm_ids: a realm-restricted token may not change them; the same set is no change.
    let (rt, _) = app
        .new_token(
            &s.token,
            json!({"permissions": tree(&["containers.read", "containers.update"]), "realm_ids": [realm]}),
        )
        .await;
    let scoped = format!("{base}?realm_id={realm}");
    let r = app.call(Method::PUT, &scoped, &rt, Some(json!({"realm_ids": [realm, other_realm]}))).await;
    r.expect(403);
    assert_eq!(r.code(), "realm_change_forbidden");
    let r = app.call(Method::PUT, &scoped, &rt, Some(json!({"realm_ids": [], "comment": "by token"}))).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([realm]), "the request's realm stays");
    assert_eq!(r.data()["comment"], "by token");
    let r = app.call(Method::PUT, &base, &s.token, Some(json!({"realm_ids": [realm, other_realm]}))).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([realm, other_realm]));
    let r = app.call(Method::PUT, &base, &s.token, Some(json!({"realm_ids": [other_realm]}))).await;
    r.expect(200);
    // Out of the token's realm now: hidden from it.
    let r = app.get(&scoped, Some(&rt)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
}

#[tokio::test]
async fn network_settings_are_checked_stored_without_credentials_and_applied_to_lxd() {
    let app = spawn().await;
    let s = app.verified_user("network@example.com").await;
    let p = app.project(&s.token, "Net").await;
    let id = app.running(&s.token, &p, json!({"name": "net-1"})).await;
    let lxd_name = format!("c-{id}");
    let net = format!("/api/v1/containers/{id}/network");
    let get = |k: &str| lxc(&["config", "get", &lxd_name, &format!("user.hoody.network.{k}")]);

    // Nothing configured yet.
    let r = app.get(&net, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["configured"], false);
    for (m, path) in
        [(Method::POST, format!("{net}/start")), (Method::POST, format!("{net}/stop")), (Method::DELETE, net.clone())]
    {
        let r = app.call(m, &path, &s.token, None).await;
        r.expect(404);
        assert_eq!(r.code(), "network_not_configured");
    }

    let good = "socks5://proxy.example.com:1080";
    let five = json!(["1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1", "8.8.4.4"]);
    let cases: Vec<(Value, u16)> = vec![
        (json!({"proxy": good}), 400),
        (json!({"type": "vpn", "proxy": good}), 400),
        (json!({"type": "socks5"}), 422),
        (json!({"type": "http"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://10.0.0.1:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://192.168.1.10:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://172.16.0.5:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://127.0.0.1:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://169.254.169.254:80"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://[::1]:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://[fe80::1]:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://localhost:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://metadata.internal:80"}), 422),
        (json!({"type": "socks5", "proxy": "not a url"}), 422),
        (json!({"type": "http", "proxy": good}), 422),
        (json!({"type": "https", "proxy": "http://proxy.example.com:8080"}), 422),
        (json!({"type": "socks5", "proxy": good, "dns_servers": five}), 422),
        (json!({"type": "socks5", "proxy": good, "dns_servers": ["1.1.1.1", "dns.example.com"]}), 422),
        (json!({"type": "block", "proxy": good}), 422),
        (json!({"type": "socks5", "proxy": good, "country": "x".repeat(101)}), 422),
        (json!({"type": "socks5", "proxy": good, "bogus": 1}), 422),
    ];
    for (body, status) in cases {
        let r = app.call(Method::PUT, &net, &s.token, Some(body.clone())).await;
        r.expect(status);
        assert!(r.code() == "validation_failed" || r.code() == "invalid_body", "{body}: {}", r.text);
    }
    // Shorthands a resolver (inet_aton) reads as loopback/private addresses are refused too.
    for proxy in [
        "socks5://127.1:1080",
        "socks5://0177.0.0.1:1080",
        "socks5://0x7f.0.0.1:1080",
        "socks5://10.1:1080",
        "socks5://localhost.:1080",
        "socks5://[::127.0.0.1]:1080",
    ] {
        let r = app.call(Method::PUT, &net, &s.token, Some(json!({"type": "socks5", "proxy": proxy}))).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "proxy", "{proxy}");
    }
    let stored: (Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, (None, None), "nothing stored by a refusal");
    assert_eq!((get("type"), get("proxy"), get("enabled")), (String::new(), String::new(), String::new()));

    // A socks5 proxy with credentials: shown without them, written to LXD whole, not active yet.
    let full = "socks5://alice:s3cret@proxy.example.com:1080";
    let r = app
        .call(
            Method::PUT,
            &net,
            &s.token,
            Some(json!({"type": "socks5", "proxy": full, "country": "NL", "dns_servers": [" 9.9.9.9 "]})),
        )
        .await;
    r.expect(200);
    assert!(!r.text.contains("s3cret") && !r.text.contains("alice"), "{}", r.text);
    let d = r.data();
    assert_eq!(d["type"], "socks5");
    assert_eq!(d["proxy"], good);
    assert_eq!(d["credentials_configured"], true);
    assert_eq!(d["configured"], true);
    assert_eq!(d["status"], "configured");
    assert_eq!(d["country"], "NL");
    assert_eq!(d["dns_servers"], json!(["9.9.9.9"]));
    // The instance's config carries the proxy without its credentials; the whole URL is in a
    // root-only file inside the instance.
    assert_eq!(get("proxy"), good);
    assert_eq!(get("credentials_file"), "/etc/hoody/network/proxy-url");
    assert!(!lxc(&["config", "show", &format!("c-{id}")]).contains("s3cret"), "no password in the instance config");
    assert_eq!(lxc(&["exec", &format!("c-{id}"), "--", "cat", "/etc/hoody/network/proxy-url"]), full);
    assert_eq!(
        lxc(&["exec", &format!("c-{id}"), "--", "stat", "-c", "%a %u", "/etc/hoody/network/proxy-url"]),
        "600 0"
    );
    assert_eq!(get("type"), "socks5");
    assert_eq!(get("dns"), "9.9.9.9");
    assert_eq!(get("enabled"), "false");
    let (network, sealed): (Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!network.unwrap().to_string().contains("s3cret"), "the JSON column holds no credentials");
    let sealed = sealed.expect("the full URL is kept sealed");
    assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "sealed, not plain");

    let r = app.get(&net, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["proxy"], good);
    assert_eq!(r.data()["credentials_configured"], true);
    assert!(!r.text.contains("s3cret"));

    // Start and stop switch `enabled` on the instance.
    let r = app.call(Method::POST, &format!("{net}/start"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert_eq!(r.data()["is_running"], true);
    assert_eq!(r.data()["container_id"], id.as_str());
    assert_eq!(get("enabled"), "true");
    assert_eq!(get("proxy"), good, "the proxy stays while switching");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "cat", "/etc/hoody/network/proxy-url"]), full, "and its file");
    assert_eq!(app.get(&net, Some(&s.token)).await.data()["status"], "running");
    let r = app.call(Method::POST, &format!("{net}/stop"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(r.data()["is_running"], false);
    assert_eq!(get("enabled"), "false");
    let r = app.get(&net, Some(&s.token)).await;
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(r.data()["credentials_configured"], true, "switching keeps the stored settings");
    let kinds: Vec<String> =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(kinds.ends_with(&["container.network.started".to_owned(), "container.network.stopped".to_owned()]));

    // Delete removes every key; a second delete has nothing to remove.
    app.call(Method::DELETE, &net, &s.token, None).await.expect(200);
    for k in ["type", "proxy", "dns", "enabled", "credentials_file"] {
        assert_eq!(get(k), "", "user.hoody.network.{k} removed");
    }
    let file = std::process::Command::new("lxc")
        .args(["exec", &lxd_name, "--", "test", "-e", "/etc/hoody/network/proxy-url"])
        .status()
        .unwrap();
    assert!(!file.success(), "the credentials file is gone");
    let r = app.get(&net, Some(&s.token)).await;
    assert_eq!(r.data()["configured"], false);
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("select network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(sealed.is_none());
    let r = app.call(Method::DELETE, &net, &s.token, None).await;
    r.expect(404);
    assert_eq!(r.code(), "network_not_configured");

    // block needs no proxy.
    let r = app.call(Method::PUT, &net, &s.token, Some(json!({"type": "block"}))).await;
    r.expect(200);
    assert_eq!(r.data()["type"], "block");
    assert!(r.data().get("proxy").is_none());
    assert_eq!(r.data()["credentials_configured"], false);
    assert_eq!(r.data()["dns_servers"], json!(["1.1.1.1", "8.8.8.8"]));
    assert_eq!((get("type"), get("proxy"), get("enabled")), ("block".to_owned(), String::new(), "false".to_owned()));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
}

async fn published_key(app: &TestApp) -> (VerifyingKey, String) {
    let r = app.get("/api/v1/meta/public-key", None).await;
    r.expect(200);
    let d = r.data();
    let bytes: [u8; 32] = hex::decode(d["keys"][0]["public_key_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    (VerifyingKey::from_bytes(&bytes).unwrap(), d["active_kid"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn authorize_returns_a_container_claim_that_verifies_offline() {
    let app = spawn().await;
    let (key, kid) = published_key(&app).await;
    let s = app.verified_user("authorize@example.com").await;
    let p = app.project(&s.token, "Claims").await;
    let id = seed(&app, &p, "claimable", "running", |_| {}).await;
    let path = format!("/api/v1/containers/{id}/authorize");

    let r = app.call(Method::POST, &path, &s.token, None).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["expires_in"], 300);
    assert_eq!(d["container_id"], id.as_str());
    assert_eq!(d["project_id"], p.as_str());
    let claim = &d["container_claim"];
    assert_eq!(claim["kid"], kid.as_str());
    let payload_b64 = claim["payload_b64"].as_str().unwrap();
    let sig_hex = claim["signature_hex"].as_str().unwrap();
    assert_eq!(sig_hex.len(), 128);
    let sig = Signature::from_slice(&hex::decode(sig_hex).unwrap()).unwrap();
    key.verify(format!("hoody.container_claim.v1\n{payload_b64}").as_bytes(), &sig).expect("the claim verifies");
    assert!(key.verify(payload_b64.as_bytes(), &sig).is_err(), "the label is part of what is signed");
    assert!(
        key.verify(format!("hoody.identity_claim.v1\n{payload_b64}").as_bytes(), &sig).is_err(),
        "a container claim is no identity claim"
    );
    let payload: Value = serde_json::from_slice(&STANDARD.decode(payload_b64).unwrap()).unwrap();
    assert_eq!(payload["container_id"], id.as_str());
    assert_eq!(payload["sub"], s.user_id.as_str());
    assert_eq!(payload["project_id"], p.as_str());
    assert_eq!(payload["server_id"], app.server_id.as_str());
    assert_eq!(payload["subserver_name"], format!("c-{id}"));
    assert_eq!(payload["access"], "owner");
    assert!(payload["token_id"].is_null());
    let (iat, exp) = (payload["iat"].as_i64().unwrap(), payload["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 300);
    assert!((chrono::Utc::now().timestamp() - iat).abs() < 60);

    // A tampered payload (another container) does not verify with the same signature.
    let mut forged = payload.clone();
    forged["container_id"] = json!(hoody_api::db::new_id());
    let forged_b64 = STANDARD.encode(serde_json::to_vec(&forged).unwrap());
    assert!(key.verify(format!("hoody.container_claim.v1\n{forged_b64}").as_bytes(), &sig).is_err());
    let mut flipped = hex::decode(sig_hex).unwrap();
    flipped[0] ^= 1;
    let flipped = Signature::from_slice(&flipped).unwrap();
    assert!(key.verify(format!("hoody.container_claim.v1\n{payload_b64}").as_bytes(), &flipped).is_err());

    // Through a token: it needs containers.actions.exec, and the claim names the token.
    let (without, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    let r = app.call(Method::POST, &path, &without, None).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.actions.exec"));
    let (with, token_id) = app.new_token(&s.token, json!({"permissions": tree(&["containers.actions.exec"])})).await;
    let r = app.call(Method::POST, &path, &with, None).await;
    r.expect(200);
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(r.data()["container_claim"]["payload_b64"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["token_id"], token_id.as_str());

    // A grantee needs edit; with it the claim says so.
    let g = user(&app, "claim-grantee").await;
    let grant = app
        .post_auth(
            &format!("/api/v1/projects/{p}/permissions"),
            &s.token,
            Some(json!({"user_id": g.user_id, "permission_level": "read"})),
        )
        .await;
    grant.expect(201);
    let r = app.call(Method::POST, &path, &g.token, None).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    let pid = grant.data()["id"].as_str().unwrap();
    app.call(
        Method::PUT,
        &format!("/api/v1/projects/{p}/permissions/{pid}"),
        &s.token,
        Some(json!({"permission_level": "edit"})),
    )
    .await
    .expect(200);
    let r = app.call(Method::POST, &path, &g.token, None).await;
    r.expect(200);
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(r.data()["container_claim"]["payload_b64"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["sub"], g.user_id.as_str());
    assert_eq!(payload["access"], "edit");
}

/// Every container route with a body that would pass its checks.
fn routes(base: &str, project: &str) -> Vec<(Method, String, Option<Value>)> {
    let b = |s: &str| format!("{base}{s}");
    vec![
        (Method::GET, b(""), None),
        (Method::PUT, b(""), Some(json!({"comment": "x"}))),
        (Method::DELETE, b(""), None),
        (Method::GET, b("/status-logs"), None),
        (Method::GET, b("/stats"), None),
        (Method::GET, b("/snapshots"), None),
        (Method::POST, b("/snapshots"), Some(json!({}))),
        (Method::PUT, b("/snapshots/snap-1"), None),
        (Method::DELETE, b("/snapshots/snap-1"), None),
        (Method::PUT, b("/snapshots/snap-1/alias"), Some(json!({"alias": "a"}))),
        (Method::GET, b("/network"), None),
        (Method::PUT, b("/network"), Some(json!({"type": "block"}))),
        (Method::DELETE, b("/network"), None),
        (Method::POST, b("/network/start"), None),
        (Method::POST, b("/network/stop"), None),
        (Method::GET, b("/env"), None),
        (Method::PUT, b("/env"), Some(json!({"A": "1"}))),
        (Method::PUT, b("/env/A"), Some(json!({"value": "1"}))),
        (Method::DELETE, b("/env/A"), None),
        (Method::POST, b("/authorize"), None),
        (Method::POST, b("/copy"), Some(json!({"target_project_id": project}))),
        (Method::POST, b("/sync"), None),
        (Method::POST, b("/stop"), None),
        (Method::POST, b("/start"), None),
        (Method::POST, b("/force-stop"), None),
        (Method::POST, b("/restart"), None),
        (Method::POST, b("/pause"), None),
        (Method::POST, b("/resume"), None),
    ]
}

#[tokio::test]
async fn only_the_owner_and_grantees_reach_a_container_each_by_level() {
    let app = spawn().await;
    let s = app.verified_user("owner@example.com").await;
    let p = app.project(&s.token, "Shared").await;
    let id =
        app.running(&s.token, &p, json!({"name": "shared-1", "comment": "orig", "environment_vars": {"A": "0"}})).await;
    let lxd_name = format!("c-{id}");
    let base = format!("/api/v1/containers/{id}");

    // Another user: every route answers as for a container that does not exist.
    let e = user(&app, "stranger").await;
    let random = format!("/api/v1/containers/{}", hoody_api::db::new_id());
    let mut checked = 0;
    for ((m, path, body), (_, rpath, rbody)) in routes(&base, &p).into_iter().zip(routes(&random, &p)) {
        let theirs = app.call(m.clone(), &path, &e.token, body).await;
        theirs.expect(404);
        let missing = app.call(m.clone(), &rpath, &e.token, rbody).await;
        missing.expect(404);
        assert_eq!(theirs.code(), "container_not_found", "{m} {path}: {}", theirs.text);
        assert_eq!(theirs.code(), missing.code(), "{m} {path}");
        assert_eq!(theirs.body["message"], missing.body["message"], "{m} {path}");
        checked += 1;
    }
    assert_eq!(checked, 28);
    let r = app.get("/api/v1/containers/not-an-id", Some(&e.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    // None of it touched the container.
    let r = app.get(&base, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert_eq!(r.data()["comment"], "orig");
    assert_eq!(r.data()["environment_vars"], json!({"A": "0"}));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");

    // A token with containers.read only.
    let (reader, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    app.get(&base, Some(&reader)).await.expect(200);
    let r = app.call(Method::POST, &format!("{base}/stop"), &reader, None).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.actions.stop"), "{}", r.text);
    let r = app.call(Method::PUT, &base, &reader, Some(json!({"comment": "no"}))).await;
    r.expect(403);
    assert!(r.body["message"].as_str().unwrap().contains("containers.update"));
    let r = app.call(Method::DELETE, &base, &reader, None).await;
    r.expect(403);
    assert!(r.body["message"].as_str().unwrap().contains("containers.delete"));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");

    // A grantee with read: sees, cannot change.
    let g = user(&app, "grantee").await;
    let perms = format!("/api/v1/projects/{p}/permissions");
    let grant = app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "read"}))).await;
    grant.expect(201);
    let pid = grant.data()["id"].as_str().unwrap().to_owned();
    let r = app.get(&base, Some(&g.token)).await;
    r.expect(200);
    assert_eq!(r.data()["name"], "shared-1");
    let r = app.get("/api/v1/containers/", Some(&g.token)).await;
    assert_eq!(ids(&r), [id.as_str()]);
    let r = app.get(&format!("/api/v1/projects/{p}/containers"), Some(&g.token)).await;
    r.expect(200);
    assert_eq!(ids(&r), [id.as_str()]);
    for path in ["/env", "/network", "/status-logs", "/snapshots"] {
        app.get(&format!("{base}{path}"), Some(&g.token)).await.expect(200);
    }
    for (m, path, body) in [
        (Method::POST, format!("{base}/stop"), None),
        (Method::POST, format!("{base}/restart"), None),
        (Method::PUT, base.clone(), Some(json!({"comment": "grantee"}))),
        (Method::PUT, format!("{base}/env/B"), Some(json!({"value": "1"}))),
        (Method::PUT, format!("{base}/network"), Some(json!({"type": "block"}))),
        (Method::POST, format!("{base}/snapshots"), Some(json!({}))),
        (Method::POST, format!("{base}/authorize"), None),
        (Method::DELETE, base.clone(), None),
    ] {
        let r = app.call(m.clone(), &path, &g.token, body).await;
        r.expect(403);
        assert_eq!(r.code(), "project_access_denied", "{m} {path}");
    }
    let before = count(&app).await;
    let r = app.create(&g.token, &p, json!({"name": "by-reader"})).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert_eq!(count(&app).await, before);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    assert_eq!(app.get(&base, Some(&s.token)).await.data()["comment"], "orig");

    // edit: stop/start and update, not delete.
    let level = |l: &'static str| json!({"permission_level": l});
    app.call(Method::PUT, &format!("{perms}/{pid}"), &s.token, Some(level("edit"))).await.expect(200);
    let r = app.call(Method::POST, &format!("{base}/stop"), &g.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(lxc_status(&lxd_name), "STOPPED");
    app.call(Method::POST, &format!("{base}/start"), &g.token, None).await.expect(200);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    let r = app.call(Method::PUT, &base, &g.token, Some(json!({"comment": "by grantee"}))).await;
    r.expect(200);
    assert_eq!(r.data()["comment"], "by grantee");
    let r = app.call(Method::DELETE, &base, &g.token, None).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert!(exists(&lxd_name));
    let r = app.get(&format!("{base}/status-logs?sort_order=desc&limit=1"), Some(&s.token)).await;
    assert_eq!(r.data()["logs"][0]["triggered_by"], format!("user:{}", g.user_id));

    // Revoked: gone from the grantee's view, as if it did not exist.
    app.call(Method::DELETE, &format!("{perms}/{pid}"), &s.token, None).await.expect(200);
    let r = app.get(&base, Some(&g.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
    let r = app.get(&format!("/api/v1/projects/{p}/containers"), Some(&g.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "project_not_found");
    let r = app.get("/api/v1/containers/", Some(&g.token)).await;
    assert!(ids(&r).is_empty());

    // delete: may delete.
    let grant =
        app.post_auth(&perms, &s.token, Some(json!({"user_id": g.user_id, "permission_level": "delete"}))).await;
    grant.expect(201);
    app.call(Method::DELETE, &base, &g.token, None).await.expect(200);
    assert!(!exists(&lxd_name));
    let r = app.get(&base, Some(&s.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");
}

#[tokio::test]
async fn env_refuses_bad_keys_and_bodies_and_unknown_variables() {
    let app = spawn().await;
    let s = app.verified_user("env@example.com").await;
    let p = app.project(&s.token, "Env").await;
    let id = seed(&app, &p, "env-1", "stopped", |n| n.environment_vars = json!({"KEEP": "v"})).await;
    let env = format!("/api/v1/containers/{id}/env");

    for (m, path, body, status, code) in [
        (Method::PUT, format!("{env}/1A"), Some(json!({"value": "x"})), 422, "validation_failed"),
        (Method::PUT, format!("{env}/A-B"), Some(json!({"value": "x"})), 422, "validation_failed"),
        (Method::PUT, format!("{env}/{}", "K".repeat(129)), Some(json!({"value": "x"})), 422, "validation_failed"),
        (Method::PUT, format!("{env}/GOOD"), Some(json!({})), 400, "invalid_body"),
        (Method::PUT, format!("{env}/GOOD"), Some(json!({"value": 5})), 400, "invalid_body"),
        (Method::PUT, format!("{env}/GOOD"), Some(json!({"value": "x", "extra": 1})), 422, "validation_failed"),
        (
            Method::PUT,
            format!("{env}/GOOD"),
            Some(json!({"value": "x".repeat(32 * 1024 + 1)})),
            422,
            "validation_failed",
        ),
        (Method::PUT, env.clone(), Some(json!({"1BAD": "x"})), 422, "validation_failed"),
        (Method::PUT, env.clone(), Some(json!({"GOOD": ["x"]})), 422, "validation_failed"),
        (Method::PUT, env.clone(), Some(json!(["A=1"])), 422, "validation_failed"),
        (Method::DELETE, format!("{env}/1A"), None, 422, "validation_failed"),
        // Line breaks and control characters LXD refuses (the container would not start).
        (Method::PUT, format!("{env}/GOOD"), Some(json!({"value": "a\nb"})), 422, "validation_failed"),
        (Method::PUT, format!("{env}/GOOD"), Some(json!({"value": "a\rb"})), 422, "validation_failed"),
        (Method::PUT, env.clone(), Some(json!({"GOOD": "x\u{0007}y"})), 422, "validation_failed"),
        // HOODY_* keys are the platform's.
        (Method::PUT, format!("{env}/HOODY_TOKEN"), Some(json!({"value": "x"})), 422, "validation_failed"),
        (Method::PUT, env.clone(), Some(json!({"HOODY_X": "1"})), 422, "validation_failed"),
        (Method::DELETE, format!("{env}/HOODY_X"), None, 422, "validation_failed"),
    ] {
        let r = app.call(m.clone(), &path, &s.token, body).await;
        r.expect(status);
        assert_eq!(r.code(), code, "{m} {path}: {}", r.text);
    }
    let r = app.get(&env, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"KEEP": "v"}), "refusals changed nothing");
    // Deleting a key that is not there is 200 (idempotent) and changes nothing.
    let r = app.call(Method::DELETE, &format!("{env}/NOPE"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"KEEP": "v"}));

    // Without an instance to take it, a change is stored and marked not synced (applied at the
    // next start).
    let r = app.call(Method::PUT, &format!("{env}/LATER"), &s.token, Some(json!({"value": "1"}))).await;
    r.expect(200);
    assert_eq!(r.data()["synced"], false);
    assert_eq!(r.data()["environment_vars"], json!({"KEEP": "v", "LATER": "1"}));
    let r = app.call(Method::DELETE, &format!("{env}/KEEP"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"LATER": "1"}));
    let r = app.call(Method::DELETE, &format!("{env}/KEEP"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"LATER": "1"}), "deleting it again is 200 and changes nothing");
}

#[tokio::test]
async fn copies_need_edit_on_the_source_and_do_not_carry_its_proxy_unless_asked() {
    let app = spawn().await;
    let s = app.verified_user("copy-owner@example.com").await;
    let p = new_project(&app, &s.token, json!({"alias": "Src"})).await;
    let src = app.running(&s.token, &p, json!({"name": "with-proxy"})).await;
    let base = format!("/api/v1/containers/{src}");
    let proxy = "socks5://alice:s3cret@proxy.example.com:1080";
    app.call(Method::PUT, &format!("{base}/network"), &s.token, Some(json!({"type": "socks5", "proxy": proxy})))
        .await
        .expect(200);

    // A read grantee cannot copy the owner's container into its own project.
    let b = user(&app, "copy-reader").await;
    let grant = app
        .post_auth(
            &format!("/api/v1/projects/{p}/permissions"),
            &s.token,
            Some(json!({"user_id": b.user_id, "permission_level": "read"})),
        )
        .await;
    grant.expect(201);
    let own = new_project(&app, &b.token, json!({"alias": "Mine"})).await;
    let r = app.call(Method::POST, &format!("{base}/copy"), &b.token, Some(json!({"target_project_id": own}))).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert_eq!(count(&app).await, 1, "nothing copied");

    // A plain copy: the proxy URL (with its credentials) does not come along.
    let r = app
        .call(Method::POST, &format!("{base}/copy"), &s.token, Some(json!({"target_project_id": p, "name": "plain"})))
        .await;
    r.expect(201);
    let plain = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&plain);
    assert_eq!(lxc(&["config", "get", &format!("c-{plain}"), "user.hoody.network.proxy"]), "");
    let r = app.get(&format!("/api/v1/containers/{plain}/network"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["configured"], false);

    // copy_network_rules: the settings come along, the proxy re-sealed for the copy.
    let r = app
        .call(
            Method::POST,
            &format!("{base}/copy"),
            &s.token,
            Some(json!({"target_project_id": p, "name": "netted", "copy_network_rules": true})),
        )
        .await;
    r.expect(201);
    let netted = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&netted);
    assert_eq!(r.data()["copy_network_rules"], true);
    assert_eq!(
        lxc(&["config", "get", &format!("c-{netted}"), "user.hoody.network.proxy"]),
        "socks5://proxy.example.com:1080"
    );
    assert_eq!(lxc(&["exec", &format!("c-{netted}"), "--", "cat", "/etc/hoody/network/proxy-url"]), proxy);
    let r = app.get(&format!("/api/v1/containers/{netted}/network"), Some(&s.token)).await;
    assert_eq!(r.data()["configured"], true);
    assert_eq!(r.data()["container_id"], netted.as_str());
    assert_eq!(r.data()["credentials_configured"], true);
    assert!(!r.text.contains("s3cret"));
}
