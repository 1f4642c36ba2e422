//! High-risk commands: the first request runs nothing and answers a confirmation token, which
//! runs the command once: bound to its user, server, command and parameters, single-use even
//! when sent by several requests at once.

use futures::future::join_all;
use serde_json::{json, Value};

use super::{local, make_admin, spawn, user};

/// A service no machine has: restarting it changes nothing anywhere.
const SERVICE: &str = "hoody-test-no-such-unit.service";

fn restart(service: &str) -> Value {
    json!({"command_slug": "restart-service", "parameters": {"service": service}})
}

fn with_token(mut body: Value, token: &str) -> Value {
    body["confirmation_token"] = json!(token);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_high_risk_command_runs_once_with_its_confirmation() {
    let app = spawn().await;
    let t = app.renter.token.clone();

    let r = app.execute(&t, restart(SERVICE)).await;
    r.expect(200);
    let d = r.data().clone();
    assert_eq!(d["status"], "awaiting_confirmation", "{}", r.text);
    assert_eq!(d["output"], Value::Null);
    assert_eq!(d["exit_code"], Value::Null);
    let token = d["confirmation_token"].as_str().unwrap().to_owned();
    assert!(token.len() >= 43, "{token}");
    assert!(d["confirmation_expires_at"].is_string());
    let log_id = d["command_log_id"].as_str().unwrap().to_owned();
    // Nothing ran: the helper a run needs does not even exist.
    assert!(!app.helper_exists());
    assert_eq!(app.executions("restart-service").await, 0);
    // The token is kept only as a hash, for 5 minutes.
    let (stored, minutes): (i64, f64) = sqlx::query_as(
        "select count(*) filter (where token_hash = sha256(convert_to($1, 'UTF8'))), \
         max(extract(epoch from expires_at - created_at) / 60)::float8 from server_command_confirmation",
    )
    .bind(&token)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(stored, 1);
    assert!((minutes - 5.0).abs() < 0.1, "{minutes}");
    let dump: String =
        sqlx::query_scalar("select coalesce(string_agg(to_jsonb(c)::text, ''), '') from server_command_confirmation c")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!dump.contains(&token));

    // For other parameters, by someone else, or unknown: refused, nothing run, the token kept.
    for (who, body, status, code) in [
        (t.as_str(), with_token(restart("nginx"), &token), 412, "invalid_confirmation_token"),
        (t.as_str(), with_token(restart(SERVICE), &"0".repeat(64)), 412, "invalid_confirmation_token"),
        (t.as_str(), with_token(json!({"command_slug": "uptime"}), &token), 422, "validation_failed"),
    ] {
        let r = app.execute(who, body.clone()).await;
        r.expect(status);
        assert_eq!(r.code(), code, "{body}: {}", r.text);
    }
    let admin = user(&app, "admin").await;
    make_admin(&app, &admin).await;
    let r = app.execute(&admin.token, with_token(restart(SERVICE), &token)).await;
    r.expect(412);
    assert_eq!(r.code(), "invalid_confirmation_token");
    assert!(!app.helper_exists());
    assert_eq!(app.log_row(&log_id).await["status"], "awaiting_confirmation");

    // Sent back: it runs, with the exit code this machine's own systemctl gives for the unit.
    let r = app.execute(&t, with_token(restart(SERVICE), &token)).await;
    r.expect(200);
    let d = r.data().clone();
    assert_eq!(d["command_log_id"], json!(log_id), "the confirmed run is the one asked for");
    let (here, _) = local("systemctl", &["restart", "--", SERVICE], &[("SYSTEMD_IGNORE_CHROOT", "1")]);
    assert_eq!(d["exit_code"], json!(here), "{}", r.text);
    assert_eq!(d["status"], if here == 0 { "completed" } else { "failed" });
    let row = app.log_row(&log_id).await;
    assert_eq!(
        row["argv"],
        json!(["chroot", "/host", "env", "SYSTEMD_IGNORE_CHROOT=1", "systemctl", "restart", "--", SERVICE])
    );
    assert_eq!(app.executions("restart-service").await, 1);

    // Once only.
    let r = app.execute(&t, with_token(restart(SERVICE), &token)).await;
    r.expect(412);
    assert_eq!(r.code(), "invalid_confirmation_token");
    assert_eq!(app.executions("restart-service").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_token_sent_by_concurrent_requests_runs_once() {
    let app = spawn().await;
    let t = app.renter.token.clone();
    let r = app.execute(&t, restart(SERVICE)).await;
    r.expect(200);
    let token = r.data()["confirmation_token"].as_str().unwrap().to_owned();
    let body = with_token(restart(SERVICE), &token);
    let answers = join_all((0..8).map(|_| app.execute(&t, body.clone()))).await;
    let ran: Vec<_> = answers.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ran.len(), 1, "{:?}", answers.iter().map(|r| &r.text).collect::<Vec<_>>());
    assert!(ran[0].data()["exit_code"].is_i64(), "{}", ran[0].text);
    for r in answers.iter().filter(|r| r.status != 200) {
        r.expect(412);
        assert_eq!(r.code(), "invalid_confirmation_token");
    }
    assert_eq!(app.executions("restart-service").await, 1);
    let runs: i64 = sqlx::query_scalar("select count(*) from server_command_log where start_time is not null")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(runs, 1);
    assert_eq!(app.log_rows().await, 1);
}
