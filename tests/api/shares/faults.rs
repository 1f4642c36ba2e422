//! A host that fails: nothing is stored when the create cannot check the path; a change the
//! host could not carry out is repaired by the sweeper once it answers; a delete that cannot
//! unmount deletes nothing. Realms scope the lists as for containers.

use std::time::Duration;

use hoody_api::host::fault::Fault;
use reqwest::Method;
use serde_json::json;

use super::{create, device, pair, rows, spawn, until};
use crate::fixtures::pin_faulty;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_host_leaves_rows_and_mounts_consistent_and_the_sweeper_repairs() {
    let app = spawn(300).await;
    let s = app.verified_user("flaky@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    let host = pin_faulty(&app);
    let body = json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readwrite"});

    // The path cannot be checked: refused, nothing stored, nothing mounted.
    host.set(Fault::Fail);
    let r = create(&app, &s.token, &a, body.clone()).await;
    assert!(r.status.is_server_error(), "{}", r.text);
    assert_eq!(rows(&app).await, 0);
    assert!(super::no_share_devices(&b));

    // A fresh host (its breaker closed) stands for the same host once it answers again.
    let host = pin_faulty(&app);
    let r = create(&app, &s.token, &a, body.clone()).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert!(device(&b, &id).is_some());

    // Disabled while the host fails: 503 (access not taken away yet), but recorded; the mount
    // stays until the host answers, then the sweeper removes it.
    host.set(Fault::Fail);
    let path = format!("/api/v1/containers/{a}/storage/shares/{id}");
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": false}))).await;
    r.expect(503);
    assert_eq!(r.body["retry_after"], 5, "{}", r.text);
    let enabled: bool = sqlx::query_scalar("select enabled from storage_share where share_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!enabled, "the change is recorded");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(device(&b, &id).is_some(), "the host refused every call");
    // A delete that cannot unmount deletes nothing.
    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await;
    r.expect(503);
    assert_eq!(rows(&app).await, 1);
    let host = pin_faulty(&app);
    until("the sweeper unmounted the disabled share", || device(&b, &id).is_none()).await;
    // Enabled again while the host loses replies: the sweeper finds the device and records it.
    host.set(Fault::LoseReply);
    app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": true}))).await.expect(200);
    host.set(Fault::None);
    until("mounted", || device(&b, &id).is_some()).await;
    let recorded = || async {
        sqlx::query_scalar::<_, i64>("select count(*) from storage_share_device where share_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // Its device on the target and on the source.
    while recorded().await != 2 {
        assert!(std::time::Instant::now() < deadline, "the device row was never recorded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await.expect(200);
    assert!(device(&b, &id).is_none());
    assert_eq!(recorded().await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realms_scope_the_lists_as_for_containers() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("realmed@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly"}),
    )
    .await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let realm = hoody_api::db::new_id();
    sqlx::query("update container set realm_ids = array[$1] where container_id = any($2)")
        .bind(&realm)
        .bind(vec![a.clone(), b.clone()])
        .execute(&app.db)
        .await
        .unwrap();
    let other = hoody_api::db::new_id();
    let ids = |r: &crate::harness::Resp| -> Vec<String> {
        r.data().as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_owned()).collect()
    };
    let r = app.get(&format!("/api/v1/storage/shares?realm_id={realm}"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(ids(&r), [id.as_str()]);
    assert_eq!(r.data()[0]["realm_ids"], json!([realm]));
    let r = app.get(&format!("/api/v1/storage/shares?realm_id={other}"), Some(&s.token)).await;
    assert!(ids(&r).is_empty());
    let r = app.get(&format!("/api/v1/storage/incoming?realm_id={realm}"), Some(&s.token)).await;
    assert_eq!(ids(&r), [id.as_str()]);
    let r = app.get(&format!("/api/v1/storage/incoming?realm_id={other}"), Some(&s.token)).await;
    assert!(ids(&r).is_empty());
    let r = app.get(&format!("/api/v1/containers/{a}/storage/shares?realm_id={other}"), Some(&s.token)).await;
    r.expect(404);
    let r = app.get(&format!("/api/v1/containers/{a}/storage/shares?realm_id={realm}"), Some(&s.token)).await;
    assert_eq!(ids(&r), [id.as_str()]);
}
