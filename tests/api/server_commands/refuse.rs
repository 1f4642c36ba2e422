//! Every bad input and every caller who may not run commands: a 4xx naming the field, nothing in
//! the log, and nothing run (the server's helper, made on the first run, never appears).

use serde_json::{json, Value};

use super::{fields, make_admin, rent, spawn, user};
use crate::permissions::tree;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_is_stored_or_run() {
    let app = spawn().await;
    let t = app.renter.token.clone();
    let uptime = app.command_id("uptime").await;
    let cases: Vec<(Value, &[&str])> = vec![
        (json!({}), &["command_id", "command_slug"]),
        (json!({"parameters": {"path": "/host"}}), &["command_id", "command_slug"]),
        (json!({"command_id": "", "command_slug": " "}), &["command_id", "command_slug"]),
        (json!({"command_id": uptime, "command_slug": "uptime"}), &["command_slug"]),
        (json!({"command_slug": "rm-rf"}), &["command_slug"]),
        (json!({"command_id": hoody_api::db::new_id()}), &["command_id"]),
        (json!({"command_id": "uptime"}), &["command_id"]),
        // Parameters: unknown, against the pattern, shell syntax, an option, the wrong type.
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host", "dir": "/"}}), &["parameters.dir"]),
        (json!({"command_slug": "uptime", "parameters": {"x": 1}}), &["parameters.x"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/etc"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host/proc/1/root"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host/../etc"}}), &["parameters.path"]),
        (
            json!({"command_slug": "disk-usage", "parameters": {"path": "/host/var/lib/lxd/containers"}}),
            &["parameters.path"],
        ),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host; rm -rf /"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host$(reboot)"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host/a b"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "-h"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": 7}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": {"path": "/host\n/"}}), &["parameters.path"]),
        (json!({"command_slug": "disk-usage", "parameters": ["/host"]}), &["parameters"]),
        (json!({"command_slug": "restart-service", "parameters": {}}), &["parameters.service"]),
        (json!({"command_slug": "restart-service", "parameters": {"service": "--force"}}), &["parameters.service"]),
        (json!({"command_slug": "restart-service", "parameters": {"service": "a;reboot"}}), &["parameters.service"]),
        // The timeout: 1 to the command's max (60 for disk-usage), whole seconds.
        (json!({"command_slug": "disk-usage", "timeout": 61}), &["timeout"]),
        (json!({"command_slug": "disk-usage", "timeout": 7200}), &["timeout"]),
        (json!({"command_slug": "disk-usage", "timeout": 7201}), &["timeout"]),
        (json!({"command_slug": "disk-usage", "timeout": 0}), &["timeout"]),
        (json!({"command_slug": "disk-usage", "timeout": 1.5}), &["timeout"]),
        (json!({"command_slug": "disk-usage", "timeout": "10"}), &["timeout"]),
        (
            json!({"command_slug": "disk-usage", "parameters": {"path": "/etc"}, "timeout": 0}),
            &["parameters.path", "timeout"],
        ),
        // A confirmation for a command that needs none; a field the body does not have.
        (json!({"command_slug": "uptime", "confirmation_token": "x"}), &["confirmation_token"]),
        (json!({"command_slug": "uptime", "shell": "uptime"}), &["shell"]),
    ];
    for (body, want) in &cases {
        let r = app.execute(&t, body.clone()).await;
        r.expect(422);
        assert_eq!(fields(&r), *want, "{body}: {}", r.text);
    }
    let r = app.execute(&t, json!({"command_slug": "disk-usage", "timeout": 61})).await;
    assert!(r.body["message"].as_str().unwrap().contains("max_timeout"), "{}", r.text);
    // The body's types: 400 naming the field.
    let r = app.execute(&t, json!({"command_slug": 5})).await;
    r.expect(400);
    let r = app.execute(&t, json!({"command_slug": "uptime", "wait": "yes"})).await;
    r.expect(400);

    assert_eq!(app.log_rows().await, 0);
    let confirmations: i64 =
        sqlx::query_scalar("select count(*) from server_command_confirmation").fetch_one(&app.db).await.unwrap();
    assert_eq!(confirmations, 0);
    let counted: i64 =
        sqlx::query_scalar("select sum(execution_count)::bigint from server_command").fetch_one(&app.db).await.unwrap();
    assert_eq!(counted, 0);
    assert!(!app.helper_exists(), "nothing may have run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_renters_and_administrators_sessions_run_commands() {
    let app = spawn().await;
    let body = json!({"command_slug": "uptime"});
    let path = app.execute_path();

    // Tokens: without the exec leaf 403 (the rental leaves do not do), before anything else.
    let (rental_only, _) = app
        .new_token(
            &app.renter.token,
            json!({"permissions": tree(&["financial.server_rental.view_marketplace", "financial.server_rental.rent_servers"])}),
        )
        .await;
    let r = app.execute(&rental_only, body.clone()).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.actions.exec"));
    let r = app.execute(&rental_only, json!({"command_slug": "nope", "parameters": 3})).await;
    r.expect(403);

    // No rental, an ended rental, no server, no credentials.
    let stranger = user(&app, "stranger").await;
    let r = app.execute(&stranger.token, body.clone()).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    let former = user(&app, "former").await;
    rent(&app, &former.user_id, &app.server_id, "-1 day").await;
    let r = app.execute(&former.token, body.clone()).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    let unknown = hoody_api::db::new_id();
    let r = app
        .post_auth(&format!("/api/v1/servers/{unknown}/execute-command"), &app.renter.token, Some(body.clone()))
        .await;
    r.expect(404);
    assert_eq!(r.code(), "server_not_found");
    let r = app.post_auth("/api/v1/servers/zzz/execute-command", &app.renter.token, Some(body.clone())).await;
    r.expect(404);
    app.post(&path, body.clone()).await.expect(401);
    // An administrator's token is refused like on every admin route.
    let admin = user(&app, "admin").await;
    make_admin(&app, &admin).await;
    let (admin_token, _) =
        app.new_token(&admin.token, json!({"permissions": tree(&["containers.actions.exec"])})).await;
    let r = app.execute(&admin_token, body.clone()).await;
    r.expect(403);
    assert_eq!(r.code(), "server_not_rented");
    assert_eq!(app.log_rows().await, 0);
    assert!(!app.helper_exists());

    // An administrator's session runs on any server.
    let r = app.execute(&admin.token, body.clone()).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "completed", "{}", r.text);
    let row = app.log_row(r.data()["command_log_id"].as_str().unwrap()).await;
    assert_eq!(row["user_id"], json!(admin.user_id));
}
