//! A container's life through the API on the real LXD, checked with what LXD reports:
//! create (running), env applied live, stop/start/pause/resume/restart, status logs and
//! events, snapshots, copy and sync, delete.

use reqwest::Method;
use serde_json::json;

use crate::fixtures::{exists, lxc, lxc_status, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_lives_its_whole_life_through_the_api() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("life@example.com").await;
    let project = app.project(&s.token, "Life").await;
    let r = app
        .create(&s.token, &project, json!({"name": "web-1", "environment_vars": {"GREETING": "hello"}, "color": "0f0"}))
        .await;
    r.expect(201);
    let d = r.data();
    assert_eq!(d["status"], "running");
    assert_eq!(d["color"], "#0F0");
    assert_eq!(d["name"], "web-1");
    let id = d["id"].as_str().unwrap().to_owned();
    let lxd_name = format!("c-{id}");
    assert_eq!(d["subserver_name"], lxd_name);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.GREETING"]), "hello");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "sh", "-c", "echo $GREETING"]), "hello");

    // env: set one live, visible to a new process in the container.
    let base = format!("/api/v1/containers/{id}");
    let r = app.call(Method::PUT, &format!("{base}/env/COLOUR"), &s.token, Some(json!({"value": "blue"}))).await;
    r.expect(200);
    assert_eq!(r.data()["synced"], true);
    assert_eq!(r.data()["environment_vars"]["COLOUR"], "blue");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "sh", "-c", "echo $COLOUR"]), "blue");
    app.call(Method::PUT, &format!("{base}/env"), &s.token, Some(json!({"A": "1", "B": "2"}))).await.expect(200);
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.B"]), "2");
    let r = app.call(Method::DELETE, &format!("{base}/env/A"), &s.token, None).await;
    r.expect(200);
    assert!(r.data()["environment_vars"].get("A").is_none());
    assert_eq!(lxc(&["config", "get", &lxd_name, "environment.A"]), "");
    let r = app.get(&format!("{base}/env"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["environment_vars"], json!({"B": "2", "COLOUR": "blue", "GREETING": "hello"}));

    // Lifecycle operations, each as LXD reports it.
    for (op, lxd, ours) in [
        ("pause", "FROZEN", "paused"),
        ("resume", "RUNNING", "running"),
        ("stop", "STOPPED", "stopped"),
        ("start", "RUNNING", "running"),
        ("restart", "RUNNING", "running"),
        ("force-stop", "STOPPED", "stopped"),
    ] {
        let r = app.call(Method::POST, &format!("{base}/{op}"), &s.token, None).await;
        r.expect(200);
        assert_eq!(r.data()["status"], ours, "{op}");
        assert_eq!(lxc_status(&lxd_name), lxd, "{op}");
    }
    // Stopped: stop again is a state conflict; an unknown operation is 400.
    app.call(Method::POST, &format!("{base}/stop"), &s.token, None).await.expect(409);
    let r = app.call(Method::POST, &format!("{base}/explode"), &s.token, None).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_operation");
    app.call(Method::POST, &format!("{base}/start"), &s.token, None).await.expect(200);

    // Status logs: creating → running first, then every change, with who did it.
    let r = app.get(&format!("{base}/status-logs?sort_order=asc&limit=100"), Some(&s.token)).await;
    r.expect(200);
    let logs = r.data()["logs"].as_array().unwrap();
    let path: Vec<&str> = logs.iter().map(|l| l["to_status"].as_str().unwrap()).collect();
    assert_eq!(
        path,
        ["creating", "running", "paused", "running", "stopped", "running", "running", "stopped", "running"]
    );
    assert!(logs[0]["from_status"].is_null());
    assert_eq!(logs[1]["from_status"], "creating");
    assert_eq!(logs[1]["triggered_by"], format!("user:{}", s.user_id));
    assert!(logs[1]["duration_ms"].as_i64().unwrap() >= 0);
    assert_eq!(r.data()["pagination"]["total"], 9);
    let r = app.get(&format!("{base}/status-logs?limit=5&page=3"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["logs"], json!([]));
    assert_eq!(r.data()["pagination"], json!({"total": 9, "page": 3, "limit": 5, "totalPages": 2}), "past the end");
    let events: Vec<String> =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert_eq!(events[..2], ["container.creating", "container.running"]);
    assert!(events.contains(&"container.stopped".to_owned()) && events.contains(&"container.paused".to_owned()));

    // Stats from LXD's state.
    let r = app.get(&format!("{base}/stats"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert_eq!(r.data()["status_code"], 103);
    assert!(r.data()["processes"].as_i64().unwrap() >= 1);
    let r = app.get(&format!("{base}?runtime=true&include_proxy_domains=true"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["runtime_info"]["host_state"]["status"], "running");
    let urls = r.data()["proxy_domains"].as_array().unwrap();
    assert!(
        !urls.is_empty() && urls.iter().all(|d| d["url"].as_str().unwrap().contains(&format!("-{id}-"))),
        "{urls:?}"
    );

    // Snapshots: create with expiry and alias, list, alias update, restore, delete.
    app.call(Method::POST, &format!("{base}/snapshots"), &s.token, Some(json!({"expiry": 0}))).await.expect(422);
    let r = app
        .call(Method::POST, &format!("{base}/snapshots"), &s.token, Some(json!({"alias": "before", "expiry": 2})))
        .await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    assert!(r.data()["snapshot"]["expires_at"].is_string());
    assert!(lxc(&["info", &lxd_name]).contains(&snap), "LXD lists the snapshot");
    let r = app.get(&format!("{base}/snapshots"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["snapshot_count"], 1);
    assert_eq!(r.data()["snapshots"][0]["alias"], "before");
    assert!(r.data()["snapshots"][0]["expires_at"].is_string());
    let r = app
        .call(Method::PUT, &format!("{base}/snapshots/{snap}/alias"), &s.token, Some(json!({"alias": "golden"})))
        .await;
    r.expect(200);
    assert_eq!(r.data()["snapshot"]["alias"], "golden");
    lxc(&["exec", &lxd_name, "--", "touch", "/after-snapshot"]);
    app.call(Method::PUT, &format!("{base}/snapshots/{snap}"), &s.token, None).await.expect(200);
    let listing = lxc(&["exec", &lxd_name, "--", "ls", "/"]);
    assert!(!listing.contains("after-snapshot"), "restore rolled the file back: {listing}");
    let r = app.get(&base, Some(&s.token)).await;
    assert_eq!(r.data()["last_used_snapshot"], snap);
    app.call(Method::PUT, &format!("{base}/snapshots/nope-1"), &s.token, None).await.expect(404);

    // Copy from the snapshot into another project, then sync from the source.
    let other = app.project(&s.token, "Copies").await;
    let r = app
        .call(
            Method::POST,
            &format!("{base}/copy"),
            &s.token,
            Some(json!({"target_project_id": other, "name": "web-copy", "source_snapshot": snap})),
        )
        .await;
    r.expect(201);
    let copy = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&copy);
    assert_eq!(r.data()["source_container_id"], id);
    assert_eq!(r.data()["status"], "running");
    let copy_name = format!("c-{copy}");
    assert_eq!(lxc_status(&copy_name), "RUNNING");
    assert_eq!(lxc(&["config", "get", &copy_name, "user.hoody.container_id"]), copy);
    lxc(&["exec", &lxd_name, "--", "touch", "/synced-file"]);
    let r = app.call(Method::POST, &format!("/api/v1/containers/{copy}/sync"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert!(lxc(&["exec", &copy_name, "--", "ls", "/"]).contains("synced-file"), "sync refreshed the copy");
    // The source is no copy: sync is refused.
    app.call(Method::POST, &format!("{base}/sync"), &s.token, None).await.expect(422);

    app.call(Method::DELETE, &format!("{base}/snapshots/{snap}"), &s.token, None).await.expect(200);
    assert!(!lxc(&["info", &lxd_name]).contains(&snap));

    // Delete: gone from LXD and from the API.
    app.call(Method::DELETE, &base, &s.token, None).await.expect(200);
    assert!(!exists(&lxd_name));
    app.get(&base, Some(&s.token)).await.expect(404);
    let events: Vec<String> =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(events.ends_with(&["container.deleting".to_owned(), "container.deleted".to_owned()]), "{events:?}");
    // Deleting the project takes the copy with it.
    let r =
        app.call(Method::DELETE, &format!("/api/v1/projects/{other}?include_deleted_items=true"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"]["containers"], 1);
    assert_eq!(r.data()["deleted_items"]["containers"][0]["id"], copy);
    assert!(!exists(&copy_name));
}
