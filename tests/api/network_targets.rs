//! Issue 12, item 10 (the address rule): a proxy named by a host name is resolved and refused when
//! it resolves to a loopback, private, link-local, metadata or ULA address, or does not resolve;
//! `dns_servers` follow the same rule. The test app resolves through a fixed map
//! (`harness::resolver`): these machines have no DNS, so a refusal through an unresolvable name
//! would pass for the wrong reason.

use std::time::Duration;

use hoody_api::db::containers::{insert, NewContainer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::{lxc, LxdApp};

async fn stored(app: &LxdApp, id: &str) -> (Option<Value>, Option<Vec<u8>>) {
    sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
        .bind(id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_names_resolving_to_refused_ranges_and_such_dns_servers_are_422() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("resolve@example.com").await;
    let project = app.project(&s.token, "Resolve").await;
    // A row without an instance: every case here is refused before the host is called.
    let mut n = NewContainer::new(&project, &app.server_id, "resolve-1".into(), "hoody-busybox".into());
    n.status = "running";
    insert(&app.db, &n).await.unwrap();
    let net = format!("/api/v1/containers/{}/network", n.container_id);

    for name in [
        "localtest.me",
        "127.0.0.1.nip.io",
        "loopback6.example.net",
        "private.example.net",
        "private172.example.net",
        "private192.example.net",
        "cgnat.example.net",
        "linklocal.example.net",
        "metadata.example.net",
        "metadata6.example.net",
        "ula.example.net",
        "mapped.example.net",
        "unspecified.example.net",
        "multicast.example.net",
        "mixed.example.net",
    ] {
        let body = json!({"type": "socks5", "proxy": format!("socks5://user:pw@{name}:1080")});
        let r = app.call(Method::PUT, &net, &s.token, Some(body)).await;
        r.expect(422);
        let field = &r.body["details"]["fields"][0];
        assert_eq!(field["path"], "proxy", "{name}: {}", r.text);
        assert!(field["message"].as_str().unwrap().contains("resolves to"), "{name}: {}", r.text);
        assert!(!r.text.contains("pw@"), "no credentials in the answer");
    }
    // A name that does not resolve: the container could not reach it either.
    let r = app
        .call(Method::PUT, &net, &s.token, Some(json!({"type": "http", "proxy": "http://nowhere.example.net:3128"})))
        .await;
    r.expect(422);
    assert!(r.body["details"]["fields"][0]["message"].as_str().unwrap().contains("does not resolve"), "{}", r.text);

    // DNS servers: the same rule (all accepted before).
    for dns in ["127.0.0.1", "169.254.169.254", "10.0.0.1", "::1", "fd00:ec2::254", "100.64.0.53", "::ffff:10.0.0.1"] {
        let body = json!({"type": "block", "dns_servers": ["1.1.1.1", dns]});
        let r = app.call(Method::PUT, &net, &s.token, Some(body)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "dns_servers[1]", "{dns}: {}", r.text);
    }
    assert_eq!(stored(&app, &n.container_id).await, (None, None), "nothing stored by a refusal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proxy_name_resolving_to_a_public_address_is_accepted_and_applied() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("public@example.com").await;
    let project = app.project(&s.token, "Public").await;
    let id = app.running(&s.token, &project, json!({"name": "public-1"})).await;
    let net = format!("/api/v1/containers/{id}/network");
    let proxy = "socks5://alice:s3cret@public.example.net:1080";
    let body = json!({"type": "socks5", "proxy": proxy, "dns_servers": ["9.9.9.9", "2620:fe::fe"]});
    let r = app.call(Method::PUT, &net, &s.token, Some(body)).await;
    r.expect(200);
    assert_eq!(r.data()["proxy"], "socks5://public.example.net:1080");
    assert_eq!(r.data()["dns_servers"], json!(["9.9.9.9", "2620:fe::fe"]));
    let lxd_name = format!("c-{id}");
    // Config carries the proxy without its credentials; the whole URL is in a root-only file.
    assert_eq!(lxc(&["config", "get", &lxd_name, "user.hoody.network.proxy"]), "socks5://public.example.net:1080");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "cat", "/etc/hoody/network/proxy-url"]), proxy);
    assert_eq!(lxc(&["config", "get", &lxd_name, "user.hoody.network.dns"]), "9.9.9.9,2620:fe::fe");
}
