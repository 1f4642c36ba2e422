//! Copies and restores never carry a share device no row tracks: a copy of a target or of a
//! source has none, a device added behind our back is removed by the sweeper, and a snapshot
//! restore puts back the devices the container should have now.

use reqwest::Method;
use serde_json::json;

use super::{create, device, no_share_devices, pair, sh, source_device, spawn, until};
use crate::fixtures::lxc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_and_restores_carry_no_untracked_share_device() {
    let app = spawn(300).await;
    let s = app.verified_user("copier@example.com").await;
    let (p, a, b) = pair(&app, &s).await;
    // A snapshot of the target before it had the share.
    let r = app.call(Method::POST, &format!("/api/v1/containers/{b}/snapshots"), &s.token, Some(json!({}))).await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readwrite"}),
    )
    .await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert!(sh(&a, "echo one > /data/shared/one.txt").0);
    assert!(device(&b, &id).is_some() && source_device(&a, &id).is_some());

    // Copies of the target and of the source: no share device on either, now or after sweeps.
    let mut copies = Vec::new();
    for (from, name) in [(&b, "copy-of-target"), (&a, "copy-of-source")] {
        let r = app
            .call(
                Method::POST,
                &format!("/api/v1/containers/{from}/copy"),
                &s.token,
                Some(json!({"target_project_id": p, "name": name})),
            )
            .await;
        r.expect(201);
        let c = r.data()["id"].as_str().unwrap().to_owned();
        app.track(&c);
        assert!(no_share_devices(&c), "{name}: {}", lxc(&["config", "device", "show", &format!("c-{c}")]));
        copies.push(c);
    }
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    for c in &copies {
        assert!(no_share_devices(c));
    }
    assert!(device(&b, &id).is_some() && source_device(&a, &id).is_some(), "the originals keep theirs");

    // A share device no row tracks (put there behind our back): the sweeper removes it.
    let c = &copies[0];
    // (LXD's own answer says it was added: the sweeper, every 300 ms, may remove it before a
    // look at the devices would see it. An add that LXD refused, e.g. while the sweeper changed
    // the instance, is made again.)
    let fake = format!("hoody-share-{}", hoody_api::db::new_id());
    let (instance, source) = (format!("c-{c}"), format!("source=share-{id}"));
    let add = ["config", "device", "add", &instance, &fake, "disk", "pool=default", &source, "path=/mnt/sneak"];
    let mut refusals = Vec::new();
    while refusals.len() < 5 {
        let out = std::process::Command::new("lxc").args(add).output().expect("lxc");
        if out.status.success() {
            break;
        }
        refusals.push(String::from_utf8_lossy(&out.stderr).into_owned());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    assert!(refusals.len() < 5, "LXD kept refusing the untracked device: {refusals:?}");
    until("the sweeper removed the untracked device", || no_share_devices(c)).await;

    // The target restored to its snapshot from before the share: the share's device is back at
    // once, with the files.
    app.call(Method::PUT, &format!("/api/v1/containers/{b}/snapshots/{snap}"), &s.token, None).await.expect(200);
    let dev = device(&b, &id).expect("the restore kept the share mounted");
    assert_eq!(dev["source"], format!("share-{id}"));
    assert_eq!(sh(&b, &format!("cat /mnt/shares/{id}/one.txt")), (true, "one".into()));

    app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await.expect(200);
    assert!(!super::volume_exists(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_brings_back_no_writable_mount_of_a_read_only_share_nor_a_deleted_share() {
    // A short operation deadline: the volume a restore needed is kept that long.
    let app = crate::fixtures::LxdApp::spawn_with(|c| {
        c.reconcile_interval = std::time::Duration::from_secs(3600);
        c.share_sweep_interval = std::time::Duration::from_millis(300);
        c.host_op_deadline = std::time::Duration::from_secs(5);
    })
    .await;
    let s = app.verified_user("restorer@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    assert!(sh(&a, "mkdir -p /data/gone").0);
    let make = |path: &str| json!({"source_path": path, "target_container_id": b, "mode": "readwrite"});
    let r = create(&app, &s.token, &a, make("/data/shared")).await;
    r.expect(201);
    let kept = r.data()["id"].as_str().unwrap().to_owned();
    let r = create(&app, &s.token, &a, make("/data/gone")).await;
    r.expect(201);
    let gone = r.data()["id"].as_str().unwrap().to_owned();
    assert!(sh(&b, &format!("echo rw > /mnt/shares/{kept}/w.txt")).0, "writable at first");
    // The target's snapshot holds both devices, writable.
    let r = app.call(Method::POST, &format!("/api/v1/containers/{b}/snapshots"), &s.token, Some(json!({}))).await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    let snap_devices = lxc(&["query", &format!("/1.0/instances/c-{b}/snapshots/{snap}")]);
    assert!(snap_devices.contains(&format!("hoody-share-{gone}")), "{snap_devices}");

    // Read-only since; the other share deleted with its volume.
    let path = format!("/api/v1/containers/{a}/storage/shares/{kept}");
    app.call(Method::PATCH, &path, &s.token, Some(json!({"mode": "readonly"}))).await.expect(200);
    app.call(Method::DELETE, &format!("/api/v1/storage/shares/{gone}"), &s.token, None).await.expect(200);
    assert!(!super::volume_exists(&gone));

    // The restore starts (the deleted share's volume is there for it) and leaves the share as it
    // is now: read-only, the deleted one not mounted.
    app.call(Method::PUT, &format!("/api/v1/containers/{b}/snapshots/{snap}"), &s.token, None).await.expect(200);
    let state = lxc(&["list", &format!("c-{b}"), "--format", "csv", "-c", "s"]);
    assert_eq!(state.trim(), "RUNNING");
    assert_eq!(device(&b, &kept).expect("mounted")["readonly"], "true");
    assert!(device(&b, &gone).is_none());
    let (ok, out) = sh(&b, &format!("echo again > /mnt/shares/{kept}/w.txt"));
    assert!(!ok && out.contains("Read-only"), "{out}");
    assert_eq!(sh(&b, &format!("cat /mnt/shares/{kept}/w.txt")), (true, "rw".into()));
    // The volume made again for the restore is deleted by the sweeper.
    until("the sweeper deleted the volume the restore needed", || !super::volume_exists(&gone)).await;
}
