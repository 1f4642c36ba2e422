//! The env routes' refusals (bad keys, bodies, platform keys), idempotent deletes, and changes
//! stored while there is no instance to take them. The live path is in `lifecycle`.

use reqwest::Method;
use serde_json::json;

use super::{seed, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_refused_for_a_stored_value_names_the_variable() {
    let app = spawn().await;
    let s = app.verified_user("env-start@example.com").await;
    let p = app.project(&s.token, "EnvStart").await;
    let id = app.running(&s.token, &p, json!({"name": "env-start"})).await;
    let base = format!("/api/v1/containers/{id}");
    app.call(Method::POST, &format!("{base}/stop"), &s.token, None).await.expect(200);
    // A value stored before the rules were checked at the edge (the API refuses it now: 422).
    sqlx::query(
        "update container set environment_vars = jsonb_build_object('BROKEN', E'a\\nb') where container_id = $1",
    )
    .bind(&id)
    .execute(&app.db)
    .await
    .unwrap();
    let r = app.call(Method::POST, &format!("{base}/start"), &s.token, None).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "environment_vars.BROKEN", "{}", r.text);
    assert_eq!(crate::fixtures::lxc_status(&format!("c-{id}")), "STOPPED");
    // Put right through the API, it starts.
    app.call(Method::DELETE, &format!("{base}/env/BROKEN"), &s.token, None).await.expect(200);
    app.call(Method::POST, &format!("{base}/start"), &s.token, None).await.expect(200);
    assert_eq!(crate::fixtures::lxc_status(&format!("c-{id}")), "RUNNING");
}
