//! `hoody-api servers drain <name>`: no new containers on that server (placed, named or copied),
//! while what runs there keeps running and can be stopped and started; it reports what is
//! still there; `servers list` shows it; `servers undrain` takes it back.

use serde_json::{json, Value};

use super::{anywhere, machine, Two};
use crate::fixtures::lxc_status;

fn cli(two: &Two, args: &[&str]) -> (bool, String, String) {
    crate::harness::run_cli("servers", &two.database_url(), &two.data_dir, args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drained_server_takes_nothing_new_and_reports_what_runs_there() {
    let two = Two::spawn().await;
    let u = two.verified_user("drain@example.com").await;
    let p = two.project(&u.token, "drain").await;
    // The local server is the bigger one: placement would go there.
    two.pin(&two.local, Some(machine(64, 256, 1000))).await;
    two.pin(&two.remote, Some(machine(2, 4, 50))).await;
    let running = two.running(&u.token, &p, json!({"name": "stays-up"})).await;
    let stopped = two.running(&u.token, &p, json!({"name": "stays-down"})).await;
    let r = two.call(reqwest::Method::POST, &format!("/api/v1/containers/{stopped}/stop"), &u.token, None).await;
    r.expect(200);

    let (ok, out, err) = cli(&two, &["drain", "local"]);
    assert!(ok, "{err}");
    assert!(out.contains(&format!("local ({}) is draining since 20", two.local)), "{out}");
    assert!(out.contains("2 containers are still on it:"), "{out}");
    let running_at = out.find("running (1):").expect(&out);
    let stopped_at = out.find("stopped (1):").expect(&out);
    let line_of = |id: &str| out.find(&format!("  {id}  ")).expect(&out);
    assert!(running_at < line_of(&running) && line_of(&running) < stopped_at, "{out}");
    assert!(stopped_at < line_of(&stopped), "{out}");
    let since: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("select draining_since from server where server_id = $1")
            .bind(&two.local)
            .fetch_one(&two.db)
            .await
            .unwrap();
    assert!(since.is_some());
    // Again: the same report, the first time kept; JSON for scripts.
    let (ok, out, _) = cli(&two, &["drain", "local", "--json"]);
    assert!(ok);
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["server"]["name"], "local");
    assert_eq!(d["server"]["draining_since"], serde_json::to_value(since).unwrap());
    let ids: Vec<&str> =
        d["containers"].as_array().unwrap().iter().map(|c| c["container_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 2);
    assert!(ids.contains(&running.as_str()) && ids.contains(&stopped.as_str()));
    // The list shows it.
    let (ok, out, _) = cli(&two, &["list"]);
    assert!(ok && out.contains("DRAINING"), "{out}");
    let line = out.lines().find(|l| l.contains(&two.local)).unwrap();
    assert!(line.split_whitespace().nth(5) == Some("true"), "{line}");
    let (_, out, _) = cli(&two, &["list", "--json"]);
    let rows: Value = serde_json::from_str(&out).unwrap();
    let remote_row = rows.as_array().unwrap().iter().find(|r| r["name"] == "remote").unwrap();
    assert!(remote_row["draining_since"].is_null());

    // Nothing new goes there: placed, named, or copied from a container there.
    assert_eq!(two.placed(&u.token, &p, anywhere("elsewhere")).await, two.remote);
    let before = two.containers().await;
    let r = two.create(&u.token, &p, json!({"name": "named", "server_id": two.local})).await;
    r.expect(409);
    assert_eq!(r.code(), "server_draining");
    let r = two
        .post_auth(
            &format!("/api/v1/containers/{running}/copy"),
            &u.token,
            Some(json!({"name": "copied", "target_project_id": p})),
        )
        .await;
    r.expect(409);
    assert_eq!(r.code(), "server_draining");
    assert_eq!(two.containers().await, before);
    // What is there keeps working.
    assert_eq!(lxc_status(&format!("c-{running}")), "RUNNING");
    let r = two.call(reqwest::Method::POST, &format!("/api/v1/containers/{stopped}/start"), &u.token, None).await;
    r.expect(200);
    assert_eq!(lxc_status(&format!("c-{stopped}")), "RUNNING");

    // Undrained: it takes containers again (and, the bigger one, placements).
    let (ok, out, err) = cli(&two, &["undrain", "local"]);
    assert!(ok && out.contains("takes new containers again"), "{out}{err}");
    assert_eq!(two.placed(&u.token, &p, anywhere("back")).await, two.local);
    let (ok, _, err) = cli(&two, &["drain", "ghost"]);
    assert!(!ok && err.contains("no server named"), "{err}");
    let (ok, out, _) = cli(&two, &["drain", "remote"]);
    assert!(ok && out.contains("1 container is still on it:"), "{out}");
    // Nothing there: said so.
    assert!(cli(&two, &["add", "spare", "--region", "local"]).0);
    let (ok, out, _) = cli(&two, &["drain", "spare"]);
    assert!(ok && out.contains("no containers are left on it"), "{out}");
}
