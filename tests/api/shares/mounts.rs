//! A share's life on real containers: created → a custom volume mounted on the source and the
//! target (a file written in the source shows in the target, the target writes back); readonly
//! refuses writes (EROFS); an alias change moves the mount; the receiver refuses and accepts
//! again; disabling and enabling; deleting unmounts both ends and deletes the volume. Each step is
//! checked with the devices and volumes LXD reports, the files inside the containers and the rows.

use reqwest::Method;
use serde_json::json;

use super::{create, device, events, no_share_devices, pair, rows, sh, source_device, spawn, volume_exists};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_mounts_follows_its_changes_and_goes_with_its_delete() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("sharer@example.com").await;
    let (_, a, b) = pair(&app, &s).await;

    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data//./shared/", "target_container_id": b, "mode": "readwrite",
            "alias": "team-docs", "label": "docs", "description": "shared docs"}),
    )
    .await;
    r.expect(201);
    let d = r.data();
    let id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(d["source_path"], "/data/shared", "normalised");
    assert_eq!(d["source_container_id"], a.as_str());
    assert_eq!(d["target_container_id"], b.as_str());
    assert_eq!(d["target_project_id"], serde_json::Value::Null);
    assert_eq!(d["target_type"], "container");
    assert_eq!(d["mode"], "readwrite");
    assert_eq!((d["enabled"].clone(), d["status"].clone()), (json!(true), json!("active")));
    assert_eq!(d["created_by"], s.user_id.as_str());
    assert_eq!(rows(&app).await, 1);

    // LXD: a custom volume, mounted on the source at its path and on the target at the alias; no
    // host path anywhere.
    assert!(volume_exists(&id), "the share's volume is in the pool");
    let dev = device(&b, &id).expect("the share's device is on the target");
    assert_eq!(dev["type"], "disk");
    assert_eq!(dev["pool"], "default");
    assert_eq!(dev["source"], format!("share-{id}"));
    assert_eq!(dev["path"], "/mnt/shares/team-docs");
    assert!(dev.get("readonly").is_none());
    let src = source_device(&a, &id).expect("the volume is mounted on the source");
    assert_eq!(
        (src["source"].as_str(), src["path"].as_str()),
        (Some(format!("share-{id}").as_str()), Some("/data/shared"))
    );
    assert!(device(&a, &id).is_none(), "the source is no target");

    // Real files both ways.
    let (ok, out) = sh(&a, "echo hello > /data/shared/hello.txt");
    assert!(ok, "{out}");
    assert_eq!(sh(&b, "cat /mnt/shares/team-docs/hello.txt"), (true, "hello".into()));
    sh(&a, "echo fresh > /data/shared/new.txt");
    assert_eq!(sh(&b, "cat /mnt/shares/team-docs/new.txt"), (true, "fresh".into()));
    let (ok, out) = sh(&b, "echo back > /mnt/shares/team-docs/reply.txt");
    assert!(ok, "{out}");
    assert_eq!(sh(&a, "cat /data/shared/reply.txt"), (true, "back".into()));

    // readonly: the device says so and a write from the target is refused by the kernel.
    let path = format!("/api/v1/containers/{a}/storage/shares/{id}");
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"mode": "readonly"}))).await;
    r.expect(200);
    assert_eq!(r.data()["mode"], "readonly");
    assert_eq!(r.data()["label"], "docs", "fields not sent are kept");
    assert_eq!(device(&b, &id).unwrap()["readonly"], "true");
    let (ok, out) = sh(&b, "echo no > /mnt/shares/team-docs/denied.txt");
    assert!(!ok && out.contains("Read-only file system"), "{out}");
    assert!(!sh(&a, "test -e /data/shared/denied.txt").0);
    assert_eq!(sh(&b, "cat /mnt/shares/team-docs/hello.txt"), (true, "hello".into()), "still readable");
    assert!(sh(&a, "echo still > /data/shared/src.txt").0, "the source still writes");

    // A new alias moves the mount (the mount path is compared, not only the mode).
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"alias": "renamed"}))).await;
    r.expect(200);
    assert_eq!(device(&b, &id).unwrap()["path"], "/mnt/shares/renamed");
    assert_eq!(sh(&b, "cat /mnt/shares/renamed/src.txt"), (true, "still".into()));
    assert!(!sh(&b, "test -e /mnt/shares/team-docs/hello.txt").0);
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"alias": "team-docs"}))).await;
    r.expect(200);
    // An alias that looks like a share id is refused.
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"alias": "0123456789abcdef01234567"}))).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "alias", "{}", r.text);

    // The receiver refuses it: unmounted; the incoming list still shows it, not mounted.
    let mount = format!("/api/v1/containers/{b}/storage/incoming/{id}/mount");
    let r = app.call(Method::PATCH, &mount, &s.token, Some(json!({"mount": false}))).await;
    r.expect(200);
    assert_eq!(r.data()["override"]["mount"], false);
    assert_eq!(r.data()["override"]["share_id"], id.as_str());
    assert_eq!(r.data()["override"]["container_id"], b.as_str());
    assert_eq!(r.data()["share"]["id"], id.as_str());
    assert!(device(&b, &id).is_none(), "refused: no device");
    assert!(!sh(&b, "test -e /mnt/shares/team-docs/hello.txt").0);
    let r = app.get(&format!("/api/v1/containers/{b}/storage/incoming"), Some(&s.token)).await;
    r.expect(200);
    let list = r.data().as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!((list[0]["id"].as_str(), list[0]["mount"].clone()), (Some(id.as_str()), json!(false)));
    assert_eq!(list[0]["mounted"], false);
    // `mount` is required (the contract's `{ mount: boolean }`): nothing changes without it.
    let r = app.call(Method::PATCH, &mount, &s.token, Some(json!({}))).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "mount", "{}", r.text);
    assert!(device(&b, &id).is_none(), "a body without mount changed nothing");
    // Accepted again: mounted again.
    let r = app.call(Method::PATCH, &mount, &s.token, Some(json!({"mount": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["override"]["mount"], true);
    assert_eq!(device(&b, &id).unwrap()["readonly"], "true");
    assert_eq!(sh(&b, "cat /mnt/shares/team-docs/hello.txt"), (true, "hello".into()));

    // Disabled: kept, unmounted; enabled: mounted.
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": false}))).await;
    r.expect(200);
    assert_eq!(r.data()["enabled"], false);
    assert!(device(&b, &id).is_none());
    assert_eq!(rows(&app).await, 1);
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": true, "alias": null}))).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], serde_json::Value::Null);
    let dev = device(&b, &id).expect("mounted again");
    assert_eq!(dev["path"], format!("/mnt/shares/{id}"), "no alias: the share id names the mount");
    assert_eq!(sh(&b, &format!("cat /mnt/shares/{id}/hello.txt")), (true, "hello".into()));

    // Deleted: unmounted from both ends, the volume (and the files in it) deleted; every change
    // left its event.
    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await;
    r.expect(200);
    assert!(no_share_devices(&b));
    assert!(no_share_devices(&a));
    assert!(!volume_exists(&id), "the volume is deleted");
    assert!(!sh(&b, &format!("test -e /mnt/shares/{id}/hello.txt")).0);
    assert_eq!(rows(&app).await, 0);
    let left: i64 = sqlx::query_scalar("select count(*) from storage_share_device").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    let vols: i64 = sqlx::query_scalar("select count(*) from storage_share_volume").fetch_one(&app.db).await.unwrap();
    assert_eq!(vols, 0);
    // The files were in the volume: gone with it (LXD also removes the emptied mount point).
    assert!(!sh(&a, "test -e /data/shared/hello.txt").0, "the files went with the volume");
    let kinds = events(&app, &id).await;
    for k in [
        "storage.share.created",
        "storage.share.updated",
        "storage.share.mount_changed",
        "storage.share.disabled",
        "storage.share.enabled",
        "storage.share.deleted",
    ] {
        assert!(kinds.iter().any(|e| e == k), "{k} missing from {kinds:?}");
    }
    let r = app.get(&path, Some(&s.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "share_not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_path_never_moves_to_another_share() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("aliaser@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    let make =
        |path: &str| json!({"source_path": path, "target_container_id": b, "mode": "readwrite", "alias": "data"});
    let r = create(&app, &s.token, &a, make("/data/shared")).await;
    r.expect(201);
    let first = r.data()["id"].as_str().unwrap().to_owned();
    let r = create(&app, &s.token, &a, make("/srv/all")).await;
    r.expect(201);
    let second = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(device(&b, &first).unwrap()["path"], "/mnt/shares/data");
    assert_eq!(device(&b, &second).unwrap()["path"], format!("/mnt/shares/{second}"), "the alias is taken");
    // The older one disabled: the path it holds stays its own, never the other share's.
    let path = format!("/api/v1/containers/{a}/storage/shares/{first}");
    app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": false}))).await.expect(200);
    assert!(device(&b, &first).is_none());
    assert_eq!(device(&b, &second).unwrap()["path"], format!("/mnt/shares/{second}"));
    // Refused by the receiver: the same.
    app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": true}))).await.expect(200);
    let mount = format!("/api/v1/containers/{b}/storage/incoming/{first}/mount");
    app.call(Method::PATCH, &mount, &s.token, Some(json!({"mount": false}))).await.expect(200);
    assert_eq!(device(&b, &second).unwrap()["path"], format!("/mnt/shares/{second}"));
    // Deleted: the alias is free for the other at once.
    app.call(Method::DELETE, &format!("/api/v1/storage/shares/{first}"), &s.token, None).await.expect(200);
    assert_eq!(device(&b, &second).unwrap()["path"], "/mnt/shares/data");
}
