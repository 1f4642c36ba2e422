//! `/containers/{id}/network`: checked, stored without credentials, applied to LXD (the proxy URL
//! with its credentials only in a root-only file inside the instance), started, stopped, removed.

use reqwest::Method;
use serde_json::{json, Value};

use super::spawn;
use crate::fixtures::{lxc, lxc_status};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_settings_are_checked_stored_without_credentials_and_applied_to_lxd() {
    let app = spawn().await;
    let s = app.verified_user("network@example.com").await;
    let p = app.project(&s.token, "Net").await;
    let id = app.running(&s.token, &p, json!({"name": "net-1"})).await;
    let lxd_name = format!("c-{id}");
    let net = format!("/api/v1/containers/{id}/network");
    let get = |k: &str| lxc(&["config", "get", &lxd_name, &format!("user.hoody.network.{k}")]);

    // Nothing configured yet.
    let r = app.get(&net, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["configured"], false);
    for (m, path) in
        [(Method::POST, format!("{net}/start")), (Method::POST, format!("{net}/stop")), (Method::DELETE, net.clone())]
    {
        let r = app.call(m, &path, &s.token, None).await;
        r.expect(404);
        assert_eq!(r.code(), "network_not_configured");
    }

    let good = "socks5://proxy.example.com:1080";
    let five = json!(["1.1.1.1", "8.8.8.8", "9.9.9.9", "1.0.0.1", "8.8.4.4"]);
    let cases: Vec<(Value, u16)> = vec![
        (json!({"proxy": good}), 400),
        (json!({"type": "vpn", "proxy": good}), 400),
        (json!({"type": "socks5"}), 422),
        (json!({"type": "http"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://10.0.0.1:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://192.168.1.10:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://172.16.0.5:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://127.0.0.1:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://169.254.169.254:80"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://[::1]:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://[fe80::1]:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://localhost:1080"}), 422),
        (json!({"type": "socks5", "proxy": "socks5://metadata.internal:80"}), 422),
        (json!({"type": "socks5", "proxy": "not a url"}), 422),
        (json!({"type": "http", "proxy": good}), 422),
        (json!({"type": "https", "proxy": "http://proxy.example.com:8080"}), 422),
        (json!({"type": "socks5", "proxy": good, "dns_servers": five}), 422),
        (json!({"type": "socks5", "proxy": good, "dns_servers": ["1.1.1.1", "dns.example.com"]}), 422),
        (json!({"type": "block", "proxy": good}), 422),
        (json!({"type": "socks5", "proxy": good, "country": "x".repeat(101)}), 422),
        (json!({"type": "socks5", "proxy": good, "bogus": 1}), 422),
    ];
    for (body, status) in cases {
        let r = app.call(Method::PUT, &net, &s.token, Some(body.clone())).await;
        r.expect(status);
        assert!(r.code() == "validation_failed" || r.code() == "invalid_body", "{body}: {}", r.text);
    }
    // Shorthands a resolver (inet_aton) reads as loopback/private addresses are refused too.
    for proxy in [
        "socks5://127.1:1080",
        "socks5://0177.0.0.1:1080",
        "socks5://0x7f.0.0.1:1080",
        "socks5://10.1:1080",
        "socks5://localhost.:1080",
        "socks5://[::127.0.0.1]:1080",
    ] {
        let r = app.call(Method::PUT, &net, &s.token, Some(json!({"type": "socks5", "proxy": proxy}))).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "proxy", "{proxy}");
    }
    let stored: (Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(stored, (None, None), "nothing stored by a refusal");
    assert_eq!((get("type"), get("proxy"), get("enabled")), (String::new(), String::new(), String::new()));

    // A socks5 proxy with credentials: shown without them, written to LXD whole, not active yet.
    let full = "socks5://alice:s3cret@proxy.example.com:1080";
    let r = app
        .call(
            Method::PUT,
            &net,
            &s.token,
            Some(json!({"type": "socks5", "proxy": full, "country": "NL", "dns_servers": [" 9.9.9.9 "]})),
        )
        .await;
    r.expect(200);
    assert!(!r.text.contains("s3cret") && !r.text.contains("alice"), "{}", r.text);
    let d = r.data();
    assert_eq!(d["type"], "socks5");
    assert_eq!(d["proxy"], good);
    assert_eq!(d["credentials_configured"], true);
    assert_eq!(d["configured"], true);
    assert_eq!(d["status"], "configured");
    assert_eq!(d["country"], "NL");
    assert_eq!(d["dns_servers"], json!(["9.9.9.9"]));
    // The instance's config carries the proxy without its credentials; the whole URL is in a
    // root-only file inside the instance.
    assert_eq!(get("proxy"), good);
    assert_eq!(get("credentials_file"), "/etc/hoody/network/proxy-url");
    assert!(!lxc(&["config", "show", &format!("c-{id}")]).contains("s3cret"), "no password in the instance config");
    assert_eq!(lxc(&["exec", &format!("c-{id}"), "--", "cat", "/etc/hoody/network/proxy-url"]), full);
    assert_eq!(
        lxc(&["exec", &format!("c-{id}"), "--", "stat", "-c", "%a %u", "/etc/hoody/network/proxy-url"]),
        "600 0"
    );
    assert_eq!(get("type"), "socks5");
    assert_eq!(get("dns"), "9.9.9.9");
    assert_eq!(get("enabled"), "false");
    let (network, sealed): (Option<Value>, Option<Vec<u8>>) =
        sqlx::query_as("select network, network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!network.unwrap().to_string().contains("s3cret"), "the JSON column holds no credentials");
    let sealed = sealed.expect("the full URL is kept sealed");
    assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "sealed, not plain");

    let r = app.get(&net, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["proxy"], good);
    assert_eq!(r.data()["credentials_configured"], true);
    assert!(!r.text.contains("s3cret"));

    // Start and stop switch `enabled` on the instance.
    let r = app.call(Method::POST, &format!("{net}/start"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "running");
    assert_eq!(r.data()["is_running"], true);
    assert_eq!(r.data()["container_id"], id.as_str());
    assert_eq!(get("enabled"), "true");
    assert_eq!(get("proxy"), good, "the proxy stays while switching");
    assert_eq!(lxc(&["exec", &lxd_name, "--", "cat", "/etc/hoody/network/proxy-url"]), full, "and its file");
    assert_eq!(app.get(&net, Some(&s.token)).await.data()["status"], "running");
    let r = app.call(Method::POST, &format!("{net}/stop"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(r.data()["is_running"], false);
    assert_eq!(get("enabled"), "false");
    let r = app.get(&net, Some(&s.token)).await;
    assert_eq!(r.data()["status"], "stopped");
    assert_eq!(r.data()["credentials_configured"], true, "switching keeps the stored settings");
    let kinds: Vec<String> =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at")
            .bind(&id)
            .fetch_all(&app.db)
            .await
            .unwrap();
    assert!(kinds.ends_with(&["container.network.started".to_owned(), "container.network.stopped".to_owned()]));

    // Delete removes every key; a second delete has nothing to remove.
    app.call(Method::DELETE, &net, &s.token, None).await.expect(200);
    for k in ["type", "proxy", "dns", "enabled", "credentials_file"] {
        assert_eq!(get(k), "", "user.hoody.network.{k} removed");
    }
    let file = std::process::Command::new("lxc")
        .args(["exec", &lxd_name, "--", "test", "-e", "/etc/hoody/network/proxy-url"])
        .status()
        .unwrap();
    assert!(!file.success(), "the credentials file is gone");
    let r = app.get(&net, Some(&s.token)).await;
    assert_eq!(r.data()["configured"], false);
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("select network_proxy_sealed from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(sealed.is_none());
    let r = app.call(Method::DELETE, &net, &s.token, None).await;
    r.expect(404);
    assert_eq!(r.code(), "network_not_configured");

    // block needs no proxy.
    let r = app.call(Method::PUT, &net, &s.token, Some(json!({"type": "block"}))).await;
    r.expect(200);
    assert_eq!(r.data()["type"], "block");
    assert!(r.data().get("proxy").is_none());
    assert_eq!(r.data()["credentials_configured"], false);
    assert_eq!(r.data()["dns_servers"], json!(["1.1.1.1", "8.8.8.8"]));
    assert_eq!((get("type"), get("proxy"), get("enabled")), ("block".to_owned(), String::new(), "false".to_owned()));
    assert_eq!(lxc_status(&lxd_name), "RUNNING");
}
