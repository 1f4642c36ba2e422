//! The reconcile figure on the local LXD: containers made through the API, each given its proxy
//! file, a pass measured.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use futures::StreamExt;
use hoody_api::host::{lxd::Lxd, Host, HostLimits};
use reqwest::Method;
use serde_json::json;

use super::{breakdown, env_usize, idle_rate, measure, pg_stat_statements_on, quiet, report, standin::Counting};
use crate::fixtures::{lxc, socket, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by scripts/bench reconcile"]
async fn bench_reconcile_real_lxd() {
    let n = env_usize("BENCH_RECONCILE_REAL", 200);
    let passes = env_usize("BENCH_RECONCILE_PASSES", 3).max(1);
    let app = LxdApp::spawn_with(quiet).await;
    let sql_on = pg_stat_statements_on(&app.db).await;
    let s = app.verified_user("bench-reconcile@example.com").await;
    let project = app.project(&s.token, "Reconcile").await;

    // The containers, made as a user makes them, four at a time.
    let started = Instant::now();
    let made: Vec<(usize, u16, Option<String>)> = futures::stream::iter(0..n)
        .map(|i| {
            let (app, token, project) = (&app, &s.token, &project);
            async move {
                let r = app.create(token, project, json!({"name": format!("bench-{i}")})).await;
                (i, r.status.as_u16(), r.data()["id"].as_str().map(str::to_owned))
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut ids: Vec<String> = made.iter().filter_map(|(_, _, id)| id.clone()).collect();
    ids.sort();
    let refused: Vec<_> = made.iter().filter(|(_, status, _)| *status != 201).map(|(i, s, _)| (*i, *s)).collect();
    println!(
        "RECONCILE real LXD | made {} containers through the API in {:.1} s; refused: {refused:?}",
        ids.len(),
        started.elapsed().as_secs_f64()
    );

    // A project proxy document: every instance is given its file (the reconciler checks them).
    let r = app
        .request_with(
            Method::PUT,
            &format!("/api/v1/projects/{project}/proxy/permissions"),
            Some(&s.token),
            &[("if-match", "file:v0")],
            Some(json!({"project": project, "groups": {"office": {"type": "ip", "range": "10.0.0.0/8"}},
                        "permissions": {"office": {"http": [80]}}, "default": "deny"})),
        )
        .await;
    r.expect(200);
    // The pushes that write started run in the background, all at once: those the host's cap on
    // calls in flight turns away are left to the reconciler. Wait until no more land for 10 s.
    let n_files = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from proxy_file").fetch_one(&app.db).await.unwrap() as usize
    };
    let waited = Instant::now();
    let mut last = (0, Instant::now());
    loop {
        let files = n_files().await;
        if files >= ids.len() || waited.elapsed() > Duration::from_secs(600) {
            break;
        }
        if files != last.0 {
            last = (files, Instant::now());
        } else if last.1.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "RECONCILE real LXD | {} of {} proxy files written by the document write's own pushes ({:.1} s)",
        n_files().await,
        ids.len(),
        waited.elapsed().as_secs_f64()
    );
    let counting = Arc::new(Counting::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    let limits = HostLimits { call_timeout: Duration::from_secs(60), ..HostLimits::default() };
    app.state.hosts.pin(&app.server_id, Arc::new(Host::new("local", counting.clone(), limits)));
    // The rest by reconcile passes: their repair writes the file of each container whose
    // documents moved on since its last file.
    for pass in 1..=10 {
        if n_files().await >= ids.len() {
            break;
        }
        report("real LXD catching up the proxy files", pass, &measure(&app, std::slice::from_ref(&counting)).await);
    }
    let running = lxc(&["list", "c-", "-c", "s", "--format", "csv"]).lines().filter(|l| *l == "RUNNING").count();
    println!("RECONCILE real LXD | LXD reports {running} instances running (c-*, all users of this LXD)");

    // Drift: one in a hundred stopped behind our back.
    let drifted: Vec<&String> = ids.iter().skip(50).step_by(100).collect();
    for id in &drifted {
        lxc(&["stop", &format!("c-{id}"), "--force"]);
    }

    let label = format!(
        "real LXD 1 host x {} containers, {} proxy files (drifted {})",
        ids.len(),
        n_files().await,
        drifted.len()
    );
    if sql_on {
        if let Some(rate) = idle_rate(&app).await {
            println!("RECONCILE {label} | idle: {rate:.1} SQL statements/s from the background loops");
        }
    }
    for pass in 1..=passes {
        report(&label, pass, &measure(&app, std::slice::from_ref(&counting)).await);
    }
    let stopped: i64 =
        sqlx::query_scalar("select count(*) from container where status = 'stopped'").fetch_one(&app.db).await.unwrap();
    println!(
        "RECONCILE {label} | after the passes: {stopped} of {} drifted containers recorded stopped",
        drifted.len()
    );
    breakdown(&app, &label, &app.server_id).await;
    app.state.hosts.unpin(&app.server_id);

    // Clean up: every instance made here, four at a time (the fixture's drop would do it one by one).
    let started = Instant::now();
    futures::stream::iter(ids.iter())
        .for_each_concurrent(4, |id| async move {
            let _ = tokio::process::Command::new("lxc").args(["delete", &format!("c-{id}"), "--force"]).output().await;
        })
        .await;
    let left = ids.iter().filter(|id| crate::fixtures::exists(&format!("c-{id}"))).count();
    println!("RECONCILE real LXD | deleted the instances in {:.1} s; {left} left", started.elapsed().as_secs_f64());
}
