//! `POST /containers/{id}/copy`: who may copy, and what comes along (the proxy only when asked,
//! re-sealed for the copy). Copy from a snapshot and sync are walked in `lifecycle`.

use reqwest::Method;
use serde_json::json;

use super::{count, new_project, spawn, user};
use crate::fixtures::lxc;

#[tokio::test]
async fn copies_need_edit_on_the_source_and_do_not_carry_its_proxy_unless_asked() {
    let app = spawn().await;
    let s = app.verified_user("copy-owner@example.com").await;
    let p = new_project(&app, &s.token, json!({"alias": "Src"})).await;
    let src = app.running(&s.token, &p, json!({"name": "with-proxy"})).await;
    let base = format!("/api/v1/containers/{src}");
    let proxy = "socks5://alice:s3cret@proxy.example.com:1080";
    app.call(Method::PUT, &format!("{base}/network"), &s.token, Some(json!({"type": "socks5", "proxy": proxy})))
        .await
        .expect(200);

    // A read grantee cannot copy the owner's container into its own project.
    let b = user(&app, "copy-reader").await;
    let grant = app
        .post_auth(
            &format!("/api/v1/projects/{p}/permissions"),
            &s.token,
            Some(json!({"user_id": b.user_id, "permission_level": "read"})),
        )
        .await;
    grant.expect(201);
    let own = new_project(&app, &b.token, json!({"alias": "Mine"})).await;
    let r = app.call(Method::POST, &format!("{base}/copy"), &b.token, Some(json!({"target_project_id": own}))).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    assert_eq!(count(&app).await, 1, "nothing copied");

    // A plain copy: the proxy URL (with its credentials) does not come along.
    let r = app
        .call(Method::POST, &format!("{base}/copy"), &s.token, Some(json!({"target_project_id": p, "name": "plain"})))
        .await;
    r.expect(201);
    let plain = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&plain);
    assert_eq!(lxc(&["config", "get", &format!("c-{plain}"), "user.hoody.network.proxy"]), "");
    let r = app.get(&format!("/api/v1/containers/{plain}/network"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["configured"], false);

    // copy_network_rules: the settings come along, the proxy re-sealed for the copy.
    let r = app
        .call(
            Method::POST,
            &format!("{base}/copy"),
            &s.token,
            Some(json!({"target_project_id": p, "name": "netted", "copy_network_rules": true})),
        )
        .await;
    r.expect(201);
    let netted = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&netted);
    assert_eq!(r.data()["copy_network_rules"], true);
    assert_eq!(
        lxc(&["config", "get", &format!("c-{netted}"), "user.hoody.network.proxy"]),
        "socks5://proxy.example.com:1080"
    );
    assert_eq!(lxc(&["exec", &format!("c-{netted}"), "--", "cat", "/etc/hoody/network/proxy-url"]), proxy);
    let r = app.get(&format!("/api/v1/containers/{netted}/network"), Some(&s.token)).await;
    assert_eq!(r.data()["configured"], true);
    assert_eq!(r.data()["container_id"], netted.as_str());
    assert_eq!(r.data()["credentials_configured"], true);
    assert!(!r.text.contains("s3cret"));
}
