//! The `storageShares` tag on the real LXD: `mounts` (a share's life, checked with real files
//! inside the containers, the devices and custom volumes LXD reports), `project` (project-wide
//! shares, future containers, a deleted source), `safety` (symbolic links at create and planted
//! at the mount path later, a non-empty or already shared path, every bad field, another host),
//! `copies` (copies and restores carry no untracked share device), `access` (tokens, other users,
//! grantees, lists and filters, the cap), `expiry` (the sweeper).

mod access;
mod copies;
mod expiry;
mod faults;
mod mounts;
mod project;
mod safety;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    fixtures::{lxc, LxdApp},
    harness::{Resp, Session, TestApp, PASSWORD},
};

/// The app on the local LXD, the container reconciler held off, the share sweeper every
/// `sweep_ms`.
async fn spawn(sweep_ms: u64) -> LxdApp {
    LxdApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
        c.share_sweep_interval = Duration::from_millis(sweep_ms);
    })
    .await
}

/// A second, verified user (inserted directly).
async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

/// Run `script` in container `id` (busybox sh): whether it exited 0, and stdout + stderr.
fn sh(id: &str, script: &str) -> (bool, String) {
    let out = Command::new("lxc").args(["exec", &format!("c-{id}"), "--", "sh", "-c", script]).output().expect("lxc");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text.trim().to_owned())
}

/// The devices LXD reports for container `id`.
fn devices(id: &str) -> Value {
    let v: Value = serde_json::from_str(&lxc(&["query", &format!("/1.0/instances/c-{id}")])).expect("lxc query");
    v["devices"].clone()
}

/// The share's device as LXD reports it on target container `id` (`None`: not there).
fn device(id: &str, share_id: &str) -> Option<Value> {
    devices(id).get(format!("hoody-share-{share_id}")).cloned()
}

/// The share's device on its source container `id` (`None`: not there).
fn source_device(id: &str, share_id: &str) -> Option<Value> {
    devices(id).get(format!("hoody-sharesrc-{share_id}")).cloned()
}

/// Whether no share device (target or source) is on container `id`, as `lxc config device show`
/// prints them.
fn no_share_devices(id: &str) -> bool {
    !lxc(&["config", "device", "show", &format!("c-{id}")]).contains("hoody-share")
}

/// Whether the share's custom volume is in pool `default` (`lxc storage volume list`).
fn volume_exists(share_id: &str) -> bool {
    let list = lxc(&["storage", "volume", "list", "default", "--format", "csv", "-c", "tn"]);
    list.lines().any(|l| l == format!("custom,share-{share_id}"))
}

async fn rows(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from storage_share").fetch_one(&app.db).await.unwrap()
}

async fn events(app: &TestApp, share_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select event_type from event where resource_type = 'storage_share' and resource_id = $1 order by created_at",
    )
    .bind(share_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// Wait (up to 30 s) until `ok` holds.
async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Create a share (its volume, when made, deleted when the test ends).
async fn create(app: &LxdApp, token: &str, source: &str, body: Value) -> Resp {
    let r = app.call(Method::POST, &format!("/api/v1/containers/{source}/storage/shares"), token, Some(body)).await;
    if r.status.as_u16() == 201 {
        app.track_volume(&format!("share-{}", r.data()["id"].as_str().unwrap()));
    }
    r
}

/// Two running containers of one owner in one project, empty directories `/data/shared` and
/// `/srv/all` in the first.
async fn pair(app: &LxdApp, s: &Session) -> (String, String, String) {
    let p = app.project(&s.token, "Shares").await;
    let a = app.running(&s.token, &p, json!({"name": "src"})).await;
    let b = app.running(&s.token, &p, json!({"name": "dst"})).await;
    let (ok, out) = sh(&a, "mkdir -p /data/shared /srv/all");
    assert!(ok, "{out}");
    (p, a, b)
}
