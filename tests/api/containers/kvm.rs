//! `PUT /containers/{id}/kvm`: the `/dev/kvm` device, only on a dedicated server and only while
//! stopped, checked with what LXD holds.

use reqwest::Method;
use serde_json::json;

use crate::fixtures::{lxc, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_passes_the_device_through_and_takes_it_away() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("kvm@example.com").await;
    let project = app.project(&s.token, "Vms").await;
    // Not on a free-tier server: neither at create nor later.
    let r = app.create(&s.token, &project, json!({"kvm": true})).await;
    r.expect(403);
    assert_eq!(r.code(), "kvm_not_available");
    let id = app.running(&s.token, &project, json!({})).await;
    let name = format!("c-{id}");
    let path = format!("/api/v1/containers/{id}/kvm");
    let r = app.call(Method::PUT, &path, &s.token, Some(json!({"kvm": true}))).await;
    r.expect(403);
    assert_eq!(r.code(), "kvm_not_available");
    // On a dedicated server (taken by admins until rentals exist), and only while stopped.
    sqlx::query("update server set is_free = false where server_id = $1")
        .bind(&app.server_id)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&s.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.call(Method::PUT, &path, &s.token, Some(json!({"kvm": true}))).await;
    r.expect(409);
    assert_eq!(r.code(), "container_not_stopped");
    assert!(!lxc(&["config", "device", "show", &name]).contains("/dev/kvm"), "a refusal changes nothing on LXD");
    app.call(Method::POST, &format!("/api/v1/containers/{id}/stop"), &s.token, None).await.expect(200);
    let r = app.call(Method::PUT, &path, &s.token, Some(json!({"kvm": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["kvm"], true);
    assert!(lxc(&["config", "device", "show", &name]).contains("/dev/kvm"), "the device is on the instance");
    let r = app.call(Method::PUT, &path, &s.token, Some(json!({"kvm": false}))).await;
    r.expect(200);
    assert_eq!(r.data()["kvm"], false);
    assert!(!lxc(&["config", "device", "show", &name]).contains("/dev/kvm"));
    app.call(Method::PUT, &path, &s.token, Some(json!({"dev_kvm": true}))).await.expect(200);
    assert!(lxc(&["config", "device", "show", &name]).contains("/dev/kvm"));
    assert_eq!(app.get(&format!("/api/v1/containers/{id}"), Some(&s.token)).await.data()["kvm"], true);
    app.call(Method::PUT, &path, &s.token, Some(json!({}))).await.expect(422);
    // Another user's container is not there for them.
    let other = app.verified_user("kvm-other@example.com").await;
    app.call(Method::PUT, &path, &other.token, Some(json!({"kvm": false}))).await.expect(404);
    // A token without containers.features.kvm is refused.
    let (tok, _) =
        app.new_token(&s.token, json!({"permissions": {"containers": {"read": true, "update": true}}})).await;
    let r = app.call(Method::PUT, &path, &tok, Some(json!({"kvm": false}))).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    // A container made with kvm on a dedicated server gets the device at once.
    let vm = app.running(&s.token, &project, json!({"kvm": true})).await;
    assert!(lxc(&["config", "device", "show", &format!("c-{vm}")]).contains("/dev/kvm"));
}
