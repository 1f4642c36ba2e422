use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

const IP: &str = "/api/v1/ip";

/// RFC 3339 UTC with milliseconds: `2026-11-26T18:00:00.000Z`.
#[track_caller]
fn assert_ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    let s = v.as_str().unwrap_or_else(|| panic!("timestamp is not a string: {v}"));
    assert_eq!(s.len(), 24, "not YYYY-MM-DDTHH:MM:SS.mmmZ: {s}");
    assert!(s.ends_with('Z') && &s[19..20] == ".", "{s}");
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {s}")).to_utc()
}

async fn get_ip(app: &TestApp, headers: &[(&str, &str)]) -> Resp {
    let mut req = app.client.get(format!("{}{IP}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    TestApp::read(req.send().await.unwrap()).await
}

#[tokio::test]
async fn ip_reports_the_caller_and_redacts_credentials() {
    let app = TestApp::spawn().await;
    let bearer = "Bearer fake-jwt-SECRET-abc123";
    let cookie = "session=COOKIE-SECRET-777; theme=dark";
    let hoody_token = "HOODY-TOKEN-SECRET-999";
    let r = get_ip(
        &app,
        &[
            ("user-agent", "hoody-tests/1.0 (probe)"),
            ("referer", "https://example.com/page"),
            ("authorization", bearer),
            ("cookie", cookie),
            ("x-hoody-token", hoody_token),
            ("x-api-key", "API-KEY-SECRET-555"),
            ("x-custom-note", "visible-value"),
        ],
    )
    .await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["ip"], "127.0.0.1");
    assert_eq!(d["user_agent"], "hoody-tests/1.0 (probe)");
    assert_eq!(d["referer"], "https://example.com/page");
    assert_eq!(d["protocol"], "http");
    assert_eq!(d["is_logged"], false, "a fake token is not a login");
    assert!(d.get("ip_info").is_some());
    let ts = assert_ts(&d["timestamp"]);
    assert!((chrono::Utc::now() - ts).num_seconds().abs() < 60);

    let h = d["headers"].as_object().expect("headers object");
    assert_eq!(h["authorization"], "[REDACTED]");
    assert_eq!(h["cookie"], "[REDACTED]");
    assert_eq!(h["x-hoody-token"], "[REDACTED]");
    assert_eq!(h["x-api-key"], "[REDACTED]");
    assert_eq!(h["user-agent"], "hoody-tests/1.0 (probe)");
    assert_eq!(h["x-custom-note"], "visible-value");
    for secret in ["fake-jwt-SECRET", "COOKIE-SECRET", "HOODY-TOKEN-SECRET", "API-KEY-SECRET", "theme=dark"] {
        assert!(!r.text.contains(secret), "{secret} leaked: {}", r.text);
    }
}

#[tokio::test]
async fn ip_is_logged_only_with_a_valid_session_or_auth_token() {
    let app = TestApp::spawn().await;
    let r = get_ip(&app, &[]).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], false);
    assert!(r.data()["user_agent"].is_null());
    assert!(r.data()["headers"].is_object());

    let s = app.verified_user("ipuser@example.com").await;
    let r = app.get(IP, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], true);
    assert_eq!(r.data()["headers"]["authorization"], "[REDACTED]");
    assert!(!r.text.contains(&s.token), "the access token is echoed");

    // A refresh token is not an access token; a malformed header is not a login either (and no 401).
    let r = app.get(IP, Some(&s.refresh)).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], false);
    assert!(!r.text.contains(&s.refresh));
    let r = get_ip(&app, &[("authorization", &format!("Token {}", s.token))]).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], false);
    assert!(!r.text.contains(&s.token));

    // A long-lived auth token counts too (and is not echoed); a disabled one does not.
    let (hdy, hdy_id) = app.new_token(&s.token, json!({})).await;
    let r = app.get(IP, Some(&hdy)).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], true);
    assert!(!r.text.contains(&hdy));
    app.request(
        reqwest::Method::PUT,
        &format!("/api/v1/auth/tokens/{hdy_id}"),
        Some(&s.token),
        Some(json!({"is_enabled": false})),
    )
    .await
    .expect(200);
    assert_eq!(app.get(IP, Some(&hdy)).await.data()["is_logged"], false);

    // After logout-all the same token no longer counts.
    app.post_auth("/api/v1/users/auth/logout", &s.token, None).await.expect(200);
    let r = app.get(IP, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["is_logged"], false);
}

#[tokio::test]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let app = TestApp::spawn().await;
    let r = get_ip(&app, &[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")]).await;
    r.expect(200);
    assert_eq!(r.data()["ip"], "127.0.0.1");
    assert_eq!(r.data()["protocol"], "http");
}

#[tokio::test]
async fn forwarded_headers_from_a_trusted_proxy_are_used() {
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = hoody_api::config::parse_cidrs("127.0.0.1/32").unwrap();
    })
    .await;
    let r = get_ip(&app, &[("x-forwarded-for", "203.0.113.7"), ("x-forwarded-proto", "https")]).await;
    r.expect(200);
    assert_eq!(r.data()["ip"], "203.0.113.7");
    assert_eq!(r.data()["protocol"], "https");

    // The nearest untrusted hop wins over a spoofed leftmost entry.
    let r = get_ip(&app, &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")]).await;
    r.expect(200);
    assert_eq!(r.data()["ip"], "203.0.113.9");
    assert_eq!(r.data()["protocol"], "http");

    // Garbage in the header falls back to the peer.
    let r = get_ip(&app, &[("x-forwarded-for", "not-an-ip")]).await;
    r.expect(200);
    assert_eq!(r.data()["ip"], "127.0.0.1");
}
