//! Copies and restores never carry a share device no row tracks: a copy of a target or of a
//! source has none, a device added behind our back is removed by the sweeper, and a snapshot
//! restore puts back the devices the container should have now.

use reqwest::Method;
use serde_json::json;

use super::{create, device, no_share_devices, pair, sh, source_device, spawn, until};
use crate::fixtures::lxc;

#[tokio::test]
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
    let fake = format!("hoody-share-{}", hoody_api::db::new_id());
    lxc(&[
        "config",
        "device",
        "add",
        &format!("c-{c}"),
        &fake,
        "disk",
        "pool=default",
        &format!("source=share-{id}"),
        "path=/mnt/sneak",
    ]);
    assert!(!no_share_devices(c), "the untracked device was added");
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
