//! The sweeper: an expired share is unmounted, its expiry recorded once (an event), and it
//! leaves the incoming lists and the default list. (Its expiry is moved into the past in the
//! table once the share is checked: an expiry a few seconds ahead raced a slow host in CI.)

use std::time::Duration;

use serde_json::json;

use super::{create, device, events, pair, sh, spawn, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_share_is_unmounted_and_recorded() {
    let app = spawn(200).await;
    let s = app.verified_user("brief@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    // Far enough ahead for the checks below on a slow host; then its time is up (in the table).
    let at = chrono::Utc::now().timestamp() + 3600;
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readwrite", "expires_at": at}),
    )
    .await;
    r.expect(201);
    assert_eq!(r.data()["expires_at"], at);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert!(sh(&a, "echo hello > /data/shared/hello.txt").0);
    assert!(device(&b, &id).is_some());
    assert_eq!(sh(&b, &format!("cat /mnt/shares/{id}/hello.txt")), (true, "hello".into()));
    sqlx::query("update storage_share set expires_at = now() - interval '1 second' where share_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();

    until("the expired share is unmounted", || device(&b, &id).is_none()).await;
    assert!(!sh(&b, &format!("test -e /mnt/shares/{id}/hello.txt")).0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let kinds = events(&app, &id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "storage.share.expired").count(), 1, "{kinds:?}");
    let r = app.get(&format!("/api/v1/containers/{b}/storage/incoming"), Some(&s.token)).await;
    assert_eq!(r.data().as_array().unwrap().len(), 0);
    let base = format!("/api/v1/containers/{a}/storage/shares");
    assert_eq!(app.get(&base, Some(&s.token)).await.data().as_array().unwrap().len(), 0);
    let r = app.get(&format!("{base}?include_expired=true"), Some(&s.token)).await;
    assert_eq!(r.data()[0]["id"], id.as_str());
    assert_eq!(r.data()[0]["expiry_notified"], true);
}
