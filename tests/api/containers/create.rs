//! Creating a container: refusals record nothing; generated names; the name, the SSH key and
//! the quota; prespawned containers (hidden, not counted) and their claim by the next create;
//! simultaneous creates against the quota, on a failing host and then a healthy one.

use hoody_api::host::fault::Fault;
use serde_json::{json, Value};

use super::{count, ids, names, new_project, spawn, KEY_A};
use crate::{
    fixtures::{lxc, lxc_status, pin_faulty, LxdApp},
    harness::Resp,
    permissions::tree,
};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    // A body without server_id is placed (tests/api/placement); in a region no server has, refused.
    let r = app.post_auth(&path, &s.token, Some(json!({"name": "no-server", "region": "mars"}))).await;
    r.expect(422);
    assert_eq!(field_paths(&r), ["region"]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_creates_cannot_overshoot_the_project_quota() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("quota-race@example.com").await;
    let r = app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "One", "max_containers": 1}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    // A host that fails every call: each create that gets in leaves a `failed` row, which holds
    // nothing and does not count, but never two at once in `creating`.
    let f = pin_faulty(&app);
    f.set(Fault::Fail);
    let creates = (0..6).map(|i| app.create(&s.token, &project, json!({"name": format!("racer-{i}")})));
    let answers = futures::future::join_all(creates).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    // (A create that got in fails 502; once five failed, the host's breaker opens and those
    // after fail 503 at once, still through the runner: a failed row each.)
    let got_in = |c: &u16| *c == 502 || *c == 503;
    let odd: Vec<&str> =
        answers.iter().filter(|r| ![502, 503, 422].contains(&r.status.as_u16())).map(|r| r.text.as_str()).collect();
    assert!(codes.iter().all(|c| got_in(c) || *c == 422), "{codes:?} {odd:?}");
    assert!(codes.contains(&502), "{codes:?}");
    let live: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1 and status <> 'failed'")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0, "failed creates leave only failed rows");
    let made: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(made, codes.iter().filter(|c| got_in(c)).count() as i64, "one row per create that got in");
    // The host is back: six at once against the quota of one give exactly one container.
    f.set(Fault::None);
    let creates = (0..6).map(|i| app.create(&s.token, &project, json!({"name": format!("second-{i}")})));
    let answers = futures::future::join_all(creates).await;
    let codes: Vec<u16> = answers.iter().map(|r| r.status.as_u16()).collect();
    // (On failure, the answers that were neither the one 201 nor a quota 422 say why.)
    let odd: Vec<&str> =
        answers.iter().filter(|r| ![201, 422].contains(&r.status.as_u16())).map(|r| r.text.as_str()).collect();
    assert_eq!(codes.iter().filter(|c| **c == 201).count(), 1, "{codes:?} {odd:?}");
    for r in answers.iter().filter(|r| r.status.as_u16() == 422) {
        assert_eq!(r.body["details"]["fields"][0]["path"], "max_containers");
    }
    let live: i64 = sqlx::query_scalar("select count(*) from container where project_id = $1 and status <> 'failed'")
        .bind(&project)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 1);
}
