//! Commands run on the real LXD, in the server's helper, checked against what this machine
//! reports itself (LXD runs here: the helper's `/host` is this machine's root).

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use super::{instance, local, spawn, spawn_with};
use crate::{fixtures::lxc, permissions::tree};

/// The `1024-blocks` column of `df -k -P` output for its one file system.
fn df_total(out: &str) -> u64 {
    let line = out.lines().nth(1).unwrap_or_else(|| panic!("no df line in {out:?}"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_report_what_the_machine_reports() {
    let app = spawn().await;
    let t = app.renter.token.clone();
    let before = Instant::now();

    // By slug, the default parameters: the size of this machine's root file system.
    let r = app.execute(&t, json!({"command_slug": "disk-usage"})).await;
    r.expect(200);
    let d = r.data().clone();
    assert_eq!(d["status"], "completed", "{}", r.text);
    assert_eq!(d["exit_code"], 0);
    assert_eq!(d["command_id"], app.command_id("disk-usage").await);
    let (code, here) = local("df", &["-k", "-P", "/"], &[]);
    assert_eq!(code, 0);
    assert_eq!(df_total(d["output"].as_str().unwrap()), df_total(&here), "{d}");
    for key in ["start_time", "end_time"] {
        let at = d[key].as_str().unwrap();
        assert!(at.ends_with('Z') && at.len() == 24, "{key}: {at}");
    }
    assert!(d["execution_time"].as_i64().unwrap() >= 0);
    assert!(d["execution_time"].as_i64().unwrap() < before.elapsed().as_millis() as i64 + 1000);
    // The log keeps the argv exactly as run, the parameters with their defaults.
    let row = app.log_row(d["command_log_id"].as_str().unwrap()).await;
    assert_eq!(row["argv"], json!(["df", "-k", "-P", "/host"]));
    assert_eq!(row["parameters"], json!({"path": "/host"}));
    assert_eq!(row["status"], "completed");
    assert_eq!(row["user_id"], json!(app.renter.user_id));
    assert_eq!(row["server_id"], json!(app.server_id));
    assert_eq!(app.executions("disk-usage").await, 1);

    // By id: the seconds since boot, as this machine counts them.
    let id = app.command_id("uptime").await;
    let r = app.execute(&t, json!({"command_id": id, "wait": true, "timeout": 5})).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "completed", "{}", r.text);
    let theirs: f64 = r.data()["output"].as_str().unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let ours: f64 =
        std::fs::read_to_string("/proc/uptime").unwrap().split_whitespace().next().unwrap().parse().unwrap();
    assert!((ours - theirs).abs() < 60.0, "uptime {theirs} here {ours}");
    assert_eq!(app.log_row(r.data()["command_log_id"].as_str().unwrap()).await["timeout_seconds"], 5);

    // Memory: this machine's own total.
    let r = app.execute(&t, json!({"command_slug": "memory", "parameters": {}})).await;
    r.expect(200);
    let out = r.data()["output"].as_str().unwrap().to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    assert_eq!(out.lines().next(), meminfo.lines().next(), "{out}");
    assert!(meminfo.lines().next().unwrap().starts_with("MemTotal:"));

    // The helper as LXD reports it: privileged, this machine's root read-only at /host.
    let helper = instance(&app.helper());
    assert_eq!(helper["status"], "Running", "{helper}");
    assert_eq!(helper["config"]["security.privileged"], "true");
    for (device, source, path) in [
        ("hoody-host", "/", "/host"),
        ("hoody-host-run", "/run", "/host/run"),
        ("hoody-host-proc", "/proc", "/host/proc"),
    ] {
        let want = json!({"type": "disk", "source": source, "path": path, "readonly": "true"});
        assert_eq!(helper["devices"][device], want, "{helper}");
    }
    // Nothing a command printed is left in LXD's exec logs.
    let logs = lxc(&["query", &format!("/1.0/instances/{}/logs", app.helper())]);
    assert!(!logs.contains("exec_"), "{logs}");
    // The host's root cannot be written from the helper.
    let out = std::process::Command::new("lxc")
        .args(["exec", &app.helper(), "--", "touch", "/host/hoody-helper-probe"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!std::path::Path::new("/hoody-helper-probe").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_waiting_the_answer_is_running_and_the_log_finishes() {
    let app = spawn().await;
    let t = app.renter.token.clone();
    // Three at once on a server whose helper does not exist yet: one helper, three runs.
    let runs = join_all((0..3).map(|_| app.execute(&t, json!({"command_slug": "uptime"})))).await;
    for r in &runs {
        r.expect(200);
        assert_eq!(r.data()["status"], "completed", "{}", r.text);
    }
    assert_eq!(app.executions("uptime").await, 3);

    let r = app
        .execute(&t, json!({"command_slug": "disk-usage", "parameters": {"path": "/host/var"}, "wait": false}))
        .await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["status"], "running", "{}", r.text);
    assert_eq!(d["output"], Value::Null);
    assert_eq!(d["exit_code"], Value::Null);
    assert_eq!(d["end_time"], Value::Null);
    let row = app.settled(d["command_log_id"].as_str().unwrap()).await;
    assert_eq!(row["status"], "completed", "{row}");
    assert_eq!(row["exit_code"], 0);
    let (_, here) = local("df", &["-k", "-P", "/var"], &[]);
    assert_eq!(df_total(row["stdout"].as_str().unwrap()), df_total(&here));
    assert!(row["end_time"].is_string() && row["execution_time_ms"].is_i64(), "{row}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_past_its_timeout_is_killed() {
    let app = spawn().await;
    app.add_sleep().await;
    let t = app.renter.token.clone();
    let started = Instant::now();
    let r = app.execute(&t, json!({"command_slug": "sleep", "parameters": {"seconds": 45}, "timeout": 2})).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "timed_out", "{}", r.text);
    assert!(started.elapsed() < Duration::from_secs(30), "waited {:?}", started.elapsed());
    assert!(r.data()["execution_time"].as_i64().unwrap() >= 1500, "{}", r.text);
    // Killed on the host, not only given up on: no `sleep 45` is left in the helper.
    let ps = lxc(&["exec", &app.helper(), "--", "ps"]);
    assert!(!ps.contains("sleep 45"), "{ps}");
    // Within its time it completes.
    let r = app.execute(&t, json!({"command_slug": "sleep", "parameters": {"seconds": 1}, "timeout": 5})).await;
    assert_eq!(r.data()["status"], "completed", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooldown_answers_429_and_runs_nothing() {
    let app = spawn().await;
    sqlx::query("update server_command set cooldown_seconds = 60 where slug = 'uptime'")
        .execute(&app.db)
        .await
        .unwrap();
    let t = app.renter.token.clone();
    app.execute(&t, json!({"command_slug": "uptime"})).await.expect(200);
    let r = app.execute(&t, json!({"command_slug": "uptime"})).await;
    r.expect(429);
    let wait: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(app.log_rows().await, 1);
    assert_eq!(app.executions("uptime").await, 1);
    // Another command is not held back.
    app.execute(&t, json!({"command_slug": "memory"})).await.expect(200);

    // An auth token needs the exec leaf; with it alone, it runs.
    let (only, _) = app.new_token(&t, json!({"permissions": tree(&["containers.actions.exec"])})).await;
    let r = app.execute(&only, json!({"command_slug": "disk-usage"})).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "completed", "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_longer_than_the_request_may_last_is_answered_running_and_goes_on() {
    let app = spawn_with(|c| c.request_timeout = Duration::from_secs(8)).await;
    app.add_sleep().await;
    let t = app.renter.token.clone();
    let started = Instant::now();
    let r = app.execute(&t, json!({"command_slug": "sleep", "parameters": {"seconds": 9}, "timeout": 20})).await;
    // Before the request's own deadline (no 504): the run as it stands.
    r.expect(200);
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert_eq!(r.data()["status"], "running", "{}", r.text);
    let row = app.settled(r.data()["command_log_id"].as_str().unwrap()).await;
    assert_eq!(row["status"], "completed", "{row}");
    assert_eq!(row["exit_code"], 0);
    assert!(row["execution_time_ms"].as_i64().unwrap() >= 9000, "{row}");
}
