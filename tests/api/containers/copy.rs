//! `POST /containers/{id}/copy`: who may copy, and what comes along (the proxy only when asked,
//! re-sealed for the copy). Copy from a snapshot and sync are walked in `lifecycle`.

use reqwest::Method;
use serde_json::json;

use super::{count, new_project, spawn, user};
use crate::fixtures::{lxc, watch_host};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edit_grantee_copies_only_into_the_owners_projects() {
    let app = spawn().await;
    let owner = app.verified_user("copy-rule-owner@example.com").await;
    let shared = new_project(&app, &owner.token, json!({"alias": "Shared"})).await;
    let other = new_project(&app, &owner.token, json!({"alias": "OwnersOther"})).await;
    let src = app
        .running(&owner.token, &shared, json!({"name": "secretive", "environment_vars": {"SECRET": "topsecret"}}))
        .await;
    let guest = user(&app, "copy-rule-guest").await;
    for project in [&shared, &other] {
        app.post_auth(
            &format!("/api/v1/projects/{project}/permissions"),
            &owner.token,
            Some(json!({"user_id": guest.user_id, "permission_level": "edit"})),
        )
        .await
        .expect(201);
    }
    let mine = new_project(&app, &guest.token, json!({"alias": "GuestsOwn"})).await;
    let path = format!("/api/v1/containers/{src}/copy");

    // Out of the owner's hands: refused, nothing recorded, no call made to LXD.
    let host = watch_host(&app);
    let before = count(&app).await;
    let r =
        app.call(Method::POST, &path, &guest.token, Some(json!({"target_project_id": mine, "name": "stolen"}))).await;
    r.expect(403);
    assert_eq!(r.code(), "copy_outside_owner");
    assert_eq!(count(&app).await, before, "nothing copied");
    assert_eq!(host.peak_in_flight(), 0, "the refused copy reached the host");

    // Into another project of the owner's (which the guest may edit): allowed, and it stays the owner's.
    let r = app
        .call(Method::POST, &path, &guest.token, Some(json!({"target_project_id": other, "name": "kept-home"})))
        .await;
    r.expect(201);
    let copy = r.data()["id"].as_str().unwrap().to_owned();
    app.track(&copy);
    assert!(host.peak_in_flight() > 0, "the allowed copy went through the watched host");
    let owner_of: String = sqlx::query_scalar(
        "select p.user_id from container c join project p on p.project_id = c.project_id where c.container_id = $1",
    )
    .bind(&copy)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(owner_of, owner.user_id);

    // The owner copies wherever they own.
    let owners_new = new_project(&app, &owner.token, json!({"alias": "OwnersNew"})).await;
    let r = app
        .call(Method::POST, &path, &owner.token, Some(json!({"target_project_id": owners_new, "name": "owners-copy"})))
        .await;
    r.expect(201);
    app.track(r.data()["id"].as_str().unwrap());
}
