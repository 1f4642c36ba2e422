//! `/metrics` after real work: every series the dashboard (deploy/grafana) and the alerts
//! (deploy/prometheus) read is exported, and the series move with the work that feeds them: host
//! calls and the breaker (a failing host under a reconciler pass, a container made on the real
//! LXD), the reconciler, the database probe, the mail outbox, the event stream.

use std::{sync::Arc, time::Duration};

use hoody_api::{
    host::{
        fault::{Fault, Faulty},
        lxd::Lxd,
        Host, HostLimits,
    },
    secret::Secret,
};
use serde_json::json;

use crate::{
    events::stream::Watcher,
    fixtures::LxdApp,
    harness::{TestApp, PASSWORD},
};

async fn scrape(app: &TestApp) -> String {
    let r = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.text().await.unwrap()
}

/// The value of one series (`name{labels}` exactly as written), if the page has it.
fn value(page: &str, series: &str) -> Option<f64> {
    page.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Scrape until `ok` holds for the page (10 s at most); the last page.
async fn scrape_until<F>(app: &TestApp, what: &str, ok: F) -> String
where
    F: Fn(&str) -> bool,
{
    let mut page = String::new();
    for _ in 0..100 {
        page = scrape(app).await;
        if ok(&page) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/metrics never showed {what}:\n{page}");
}

/// The `hoody_*` names in a text (a dashboard's queries, a rules file).
fn names(text: &str) -> Vec<String> {
    let mut out: Vec<String> = text
        .match_indices("hoody_")
        .filter(|(i, _)| *i == 0 || !(text.as_bytes()[i - 1].is_ascii_alphanumeric() || text.as_bytes()[i - 1] == b'_'))
        .map(|(i, _)| {
            text[i..].chars().take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_').collect()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[test]
fn names_are_read_from_queries() {
    assert_eq!(
        names(r#"rate(hoody_http_requests_total{x="1"}[5m]) / hoody_db_up and not_hoody_x"#),
        ["hoody_db_up", "hoody_http_requests_total"]
    );
}

#[tokio::test]
async fn every_series_the_dashboard_and_alerts_read_moves_with_real_work() {
    // A relay that refuses connections: the verification mail stays in the outbox.
    let app = TestApp::spawn_with(|c| c.smtp_url = Some(Secret::new("smtp://127.0.0.1:1".into()))).await;
    let before = scrape(&app).await;

    // Every family the deploy files read is on the page, samples or not.
    let root = env!("CARGO_MANIFEST_DIR");
    let mut read = Vec::new();
    for file in ["deploy/grafana/hoody-api.json", "deploy/prometheus/rules.yml"] {
        read.extend(names(&std::fs::read_to_string(format!("{root}/{file}")).unwrap()));
    }
    read.sort();
    read.dedup();
    assert!(read.len() > 20, "{read:?}");
    for name in &read {
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| before.contains(&format!("# TYPE {f} histogram\n"))))
            .unwrap_or(name.as_str());
        assert!(before.contains(&format!("# TYPE {family} ")), "{name} is read by deploy/ but not exported:\n{before}");
    }

    // The database probe: up, and a /readyz is one more sampled wait.
    let page = scrape_until(&app, "hoody_db_up 1", |p| value(p, "hoody_db_up") == Some(1.0)).await;
    let waits = value(&page, "hoody_db_pool_acquire_seconds_count").unwrap();
    assert!(waits >= 1.0, "{page}");
    app.get("/readyz", None).await.expect(200);
    let page = scrape(&app).await;
    assert!(value(&page, "hoody_db_pool_acquire_seconds_count").unwrap() > waits, "{page}");

    // The mail outbox: a signup's mail the relay refuses stays pending, and ages.
    app.post("/api/v1/auth/signup", json!({"email": "outbox@example.com", "password": PASSWORD})).await.expect(200);
    let page = scrape_until(&app, "a pending mail at least a second old", |p| {
        value(p, "hoody_mail_outbox_pending").is_some_and(|n| n >= 1.0)
            && value(p, "hoody_mail_outbox_oldest_pending_age_seconds").is_some_and(|s| s >= 1.0)
            && value(p, "hoody_mail_total{outcome=\"failed_attempt\"}").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(
        value(&page, "hoody_http_requests_total{method=\"POST\",route=\"/api/v1/auth/signup\",status=\"200\"}"),
        Some(1.0)
    );
    assert_eq!(value(&page, "hoody_mail_total{outcome=\"delivered\"}"), Some(0.0));

    // The event stream: a socket, a project made, its event delivered with a measured lag.
    app.seed_user("metrics@example.com", "metrics", PASSWORD).await;
    let s = app.login("metrics@example.com", PASSWORD).await;
    let mut w = Watcher::connect(&app.base, &s.token, None).await;
    let r = app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "watched"}))).await;
    r.expect(201);
    let project = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(w.event().await["event"], "project.created");
    let page = scrape_until(&app, "an event delivered", |p| {
        value(p, "hoody_event_delivery_lag_seconds_count").is_some_and(|n| n >= 1.0)
    })
    .await;
    assert_eq!(value(&page, "hoody_event_stream_sockets"), Some(1.0));
    assert!(value(&page, "hoody_events_delivered_total").unwrap() >= 1.0);
    assert!(value(&page, "hoody_event_delivery_lag_seconds_bucket{le=\"+Inf\"}").unwrap() >= 1.0);
    w.close().await;

    // A host that fails every call, with six running containers on it: a reconciler pass makes
    // five failed calls (the listing, then one read per container), which open the breaker; the
    // calls after are refused at once and their containers are marked failed (the host
    // unreachable).
    let flaky = hoody_api::db::new_id();
    sqlx::query("insert into server (server_id, name, region, is_free) values ($1, 'flaky', 'local', false)")
        .bind(&flaky)
        .execute(&app.db)
        .await
        .unwrap();
    for i in 0..6 {
        sqlx::query(
            "insert into container (container_id, project_id, server_id, lxd_name, name, color, container_image, status) \
             values ($1, $2, $3, 'c-' || $1, $4, '#000000', 'hoody-busybox', 'running')",
        )
        .bind(hoody_api::db::new_id())
        .bind(&project)
        .bind(&flaky)
        .bind(format!("flaky-{i}"))
        .execute(&app.db)
        .await
        .unwrap();
    }
    let f = Arc::new(Faulty::new(Arc::new(Lxd::new("/nonexistent/lxd.socket", Duration::from_secs(5)))));
    f.set(Fault::Fail);
    app.state.hosts.pin(&flaky, Arc::new(Host::new("flaky", f, HostLimits::default())));
    let changed = hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert!(changed >= 1, "the container after the breaker opened is failed");
    let page = scrape(&app).await;
    let host = |outcome: &str| value(&page, &format!("hoody_host_calls_total{{host=\"flaky\",outcome=\"{outcome}\"}}"));
    assert!(host("failed").unwrap() >= 5.0, "{page}");
    assert!(host("breaker_open").unwrap() >= 1.0, "{page}");
    assert_eq!(host("ok"), Some(0.0));
    assert_eq!(value(&page, "hoody_host_breaker_state{host=\"flaky\"}"), Some(1.0), "open");
    assert_eq!(value(&page, "hoody_host_breaker_opened_total{host=\"flaky\"}"), Some(1.0));
    assert!(value(&page, "hoody_host_call_duration_seconds_count{host=\"flaky\"}").unwrap() >= 5.0);
    assert_eq!(value(&page, "hoody_host_calls_in_flight{host=\"flaky\"}"), Some(0.0));
    assert!(value(&page, "hoody_reconciler_passes_total{outcome=\"ok\"}").unwrap() >= 1.0);
    assert!(value(&page, "hoody_reconciler_changes_total").unwrap() >= changed as f64);
    assert!(value(&page, "hoody_reconciler_pass_duration_seconds_count").unwrap() >= 1.0);
    let last = value(&page, "hoody_reconciler_last_success_timestamp_seconds").unwrap();
    assert!((last - chrono::Utc::now().timestamp() as f64).abs() < 60.0, "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_made_on_the_real_lxd_counts_its_host_calls() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("metrics-lxd@example.com").await;
    let project = app.project(&s.token, "Counted").await;
    let ok = "hoody_host_calls_total{host=\"local\",outcome=\"ok\"}";
    let before = value(&scrape(&app).await, ok).unwrap_or(0.0);
    app.running(&s.token, &project, json!({})).await;
    let page = scrape(&app).await;
    let calls = value(&page, ok).unwrap();
    assert!(calls > before + 1.0, "a create and a start at least: {before} → {calls}\n{page}");
    assert!(value(&page, "hoody_host_call_duration_seconds_count{host=\"local\"}").unwrap() >= calls);
    assert_eq!(value(&page, "hoody_host_breaker_state{host=\"local\"}"), Some(0.0));
    assert_eq!(value(&page, "hoody_host_breaker_opened_total{host=\"local\"}"), Some(0.0));
}
