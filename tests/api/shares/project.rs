//! Project-wide shares: mounted on every container of the target project (the source left out),
//! on a container created later too (the sweeper), and removed from every target when the
//! source container is deleted.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::{create, device, no_share_devices, rows, sh, spawn, until, volume_exists};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_share_reaches_current_and_future_containers_and_goes_with_its_source() {
    let app = spawn(200).await;
    let s = app.verified_user("wide@example.com").await;
    let pa = app.project(&s.token, "Source").await;
    let pb = app.project(&s.token, "Team").await;
    let a = app.running(&s.token, &pa, json!({"name": "src"})).await;
    let b1 = app.running(&s.token, &pb, json!({"name": "bee1"})).await;
    sh(&a, "mkdir -p /srv/pub /srv/own");

    let r = create(&app, &s.token, &a, json!({"source_path": "/srv/pub", "target_project_id": pb, "mode": "readonly"}))
        .await;
    r.expect(201);
    assert_eq!(r.data()["target_type"], "project");
    assert_eq!(r.data()["target_project_id"], pb.as_str());
    assert_eq!(r.data()["target_container_id"], serde_json::Value::Null);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert!(sh(&a, "echo wide > /srv/pub/w.txt").0);
    assert_eq!(device(&b1, &id).expect("mounted on b1")["readonly"], "true");
    assert_eq!(sh(&b1, &format!("cat /mnt/shares/{id}/w.txt")), (true, "wide".into()));

    // A container made later in the project gets it too.
    let b2 = app.running(&s.token, &pb, json!({"name": "bee2"})).await;
    until("the new container has the share", || device(&b2, &id).is_some()).await;
    until("the file is there", || sh(&b2, &format!("cat /mnt/shares/{id}/w.txt")) == (true, "wide".into())).await;
    // Both receivers list it; overall incoming lists it once per receiver.
    let r = app.get(&format!("/api/v1/containers/{b2}/storage/incoming"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data().as_array().unwrap().len(), 1);
    assert_eq!(r.data()[0]["mounted"], true);
    let r = app.get("/api/v1/storage/incoming", Some(&s.token)).await;
    r.expect(200);
    let mut receivers: Vec<&str> =
        r.data().as_array().unwrap().iter().map(|x| x["container_id"].as_str().unwrap()).collect();
    receivers.sort();
    let mut want = vec![b1.as_str(), b2.as_str()];
    want.sort();
    assert_eq!(receivers, want);

    // A self-share is left out: a project share of the source's own project skips the source.
    let r = create(&app, &s.token, &a, json!({"source_path": "/srv/own", "target_project_id": pa, "mode": "readonly"}))
        .await;
    r.expect(201);
    let own = r.data()["id"].as_str().unwrap().to_owned();
    assert!(super::device(&a, &own).is_none() && super::device(&a, &id).is_none(), "the source is no target");
    let r = app.get(&format!("/api/v1/containers/{a}/storage/incoming"), Some(&s.token)).await;
    assert_eq!(r.data().as_array().unwrap().len(), 0);

    // The source container deleted: its shares go with it, and so do their mounts elsewhere.
    app.call(Method::DELETE, &format!("/api/v1/containers/{a}"), &s.token, None).await.expect(200);
    assert_eq!(rows(&app).await, 0);
    until("b1 lost the mount", || no_share_devices(&b1)).await;
    until("b2 lost the mount", || no_share_devices(&b2)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let left: i64 = sqlx::query_scalar("select count(*) from storage_share_device").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    // The volumes go once no device uses them.
    until("the volumes are deleted", || !volume_exists(&id) && !volume_exists(&own)).await;
    let vols: i64 = sqlx::query_scalar("select count(*) from storage_share_volume").fetch_one(&app.db).await.unwrap();
    assert_eq!(vols, 0);
    assert!(sh(&b1, "echo alive").0);
}
