//! `PUT /containers/{id}`: the fields it changes, env and autostart applied to LXD, refusals that
//! change nothing, realm changes through a realm-restricted token.

use reqwest::Method;
use serde_json::json;

use super::{seed, spawn, KEY_A, KEY_B, KEY_C};
use crate::{fixtures::lxc, permissions::tree};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
