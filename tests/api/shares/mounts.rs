//! A share's life on real containers: created → mounted (a file written in the source shows in
//! the target, the target writes back); readonly refuses writes (EROFS); the receiver refuses
//! and accepts again; disabling and enabling; deleting unmounts. Each step is checked with the
//! devices LXD reports, the files inside the containers and the rows.

use reqwest::Method;
use serde_json::json;

use super::{create, device, events, no_share_devices, pair, rows, sh, spawn};

#[tokio::test]
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

    // LXD: a disk device on the target, its source inside the source's rootfs, at the alias.
    let dev = device(&b, &id).expect("the share's device is on the target");
    assert_eq!(dev["type"], "disk");
    assert_eq!(dev["path"], "/mnt/shares/team-docs");
    assert!(dev["source"].as_str().unwrap().ends_with(&format!("/containers/c-{a}/rootfs/data/shared")), "{dev}");
    assert!(dev.get("readonly").is_none());
    assert!(no_share_devices(&a), "nothing is mounted on the source");

    // Real files both ways.
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
    // Accepted again (the default body value): mounted again.
    let r = app.call(Method::PATCH, &mount, &s.token, Some(json!({}))).await;
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

    // Deleted: unmounted first, then gone; every change left its event.
    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await;
    r.expect(200);
    assert!(no_share_devices(&b));
    assert!(!sh(&b, &format!("test -e /mnt/shares/{id}/hello.txt")).0);
    assert_eq!(rows(&app).await, 0);
    let left: i64 = sqlx::query_scalar("select count(*) from storage_share_device").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    assert_eq!(sh(&a, "cat /data/shared/hello.txt"), (true, "hello".into()), "the source keeps its files");
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
