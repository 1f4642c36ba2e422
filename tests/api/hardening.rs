//! Issue 12, item 15: what the HTTP layer refuses before our router (headers too large, a URI too
//! long, a malformed request line) carries the error envelope and the security headers; and
//! `/metrics` can be restricted to client networks and/or a bearer token.

use std::time::Duration;

use hoody_api::{config::parse_cidrs, secret::Secret};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::harness::TestApp;

const METRICS_TOKEN: &str = "metrics-token-0123456789abcdef";

async fn metrics(app: &TestApp, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = app.client.get(format!("{}/metrics", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_can_require_a_bearer_token() {
    let app = TestApp::spawn_with(|c| c.metrics_token = Some(Secret::new(METRICS_TOKEN.into()))).await;
    let (status, body) = metrics(&app, &[]).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("metrics_token_required"), "{body}");
    let (status, body) = metrics(&app, &[("authorization", "Bearer wrong-token-0123456789")]).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("hoody_http_requests_total"));
    let right = format!("Bearer {METRICS_TOKEN}");
    let (status, body) = metrics(&app, &[("authorization", &right)]).await;
    assert_eq!(status, 200);
    assert!(body.contains("hoody_http_requests_total"));
    // The scheme is case-insensitive (RFC 9110).
    let lower = format!("bearer {METRICS_TOKEN}");
    assert_eq!(metrics(&app, &[("authorization", &lower)]).await.0, 200);
}

#[tokio::test]
async fn metrics_can_be_limited_to_client_networks() {
    // The test client is 127.0.0.1: outside 10/8.
    let app = TestApp::spawn_with(|c| c.metrics_allow = parse_cidrs("10.0.0.0/8").unwrap()).await;
    let (status, body) = metrics(&app, &[]).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("metrics_forbidden"), "{body}");
    // X-Forwarded-For from an untrusted peer changes nothing.
    assert_eq!(metrics(&app, &[("x-forwarded-for", "10.1.2.3")]).await.0, 403);

    let app = TestApp::spawn_with(|c| c.metrics_allow = parse_cidrs("127.0.0.0/8, ::1").unwrap()).await;
    assert_eq!(metrics(&app, &[]).await.0, 200);

    // Behind a trusted proxy the client address is the forwarded one; either check admits.
    let app = TestApp::spawn_with(|c| {
        c.trusted_proxies = parse_cidrs("127.0.0.1").unwrap();
        c.metrics_allow = parse_cidrs("10.0.0.0/8").unwrap();
        c.metrics_token = Some(Secret::new(METRICS_TOKEN.into()));
    })
    .await;
    assert_eq!(metrics(&app, &[("x-forwarded-for", "10.1.2.3")]).await.0, 200);
    assert_eq!(metrics(&app, &[("x-forwarded-for", "192.0.2.7")]).await.0, 401);
    let right = format!("Bearer {METRICS_TOKEN}");
    assert_eq!(metrics(&app, &[("x-forwarded-for", "192.0.2.7"), ("authorization", &right)]).await.0, 200);
}

/// Send raw bytes on a fresh connection and read until the server closes it.
async fn raw(app: &TestApp, request: &[u8]) -> Vec<u8> {
    let addr = app.base.trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut out))
        .await
        .expect("the server closes")
        .unwrap();
    out
}

/// Split one response off the front of `bytes`: (status, lower-cased headers, body, rest).
fn parse(bytes: &[u8]) -> (u16, Vec<(String, String)>, String, Vec<u8>) {
    let text = String::from_utf8_lossy(bytes).into_owned();
    let end = text.find("\r\n\r\n").unwrap_or_else(|| panic!("no head in {text:?}"));
    let mut lines = text[..end].split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_ascii_lowercase(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").map(|(_, v)| v.parse().unwrap()).unwrap_or(0);
    let body_start = end + 4;
    let body = text[body_start..body_start + len].to_owned();
    (status, headers, body, bytes[body_start + len..].to_vec())
}

#[track_caller]
fn assert_enveloped(status: u16, headers: &[(String, String)], body: &str, want: u16, code: &str) {
    assert_eq!(status, want, "{body}");
    let h = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(h("content-type"), Some("application/json; charset=utf-8"), "{headers:?}");
    assert_eq!(h("x-content-type-options"), Some("nosniff"), "{headers:?}");
    assert_eq!(h("x-frame-options"), Some("DENY"), "{headers:?}");
    assert_eq!(h("cache-control"), Some("no-store"), "{headers:?}");
    assert!(h("strict-transport-security").is_some_and(|v| v.contains("max-age=31536000")), "{headers:?}");
    assert!(h("content-security-policy").is_some(), "{headers:?}");
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body:?}"));
    assert_eq!(v["statusCode"], want);
    assert_eq!(v["code"], code);
    assert!(v["data"].is_null() && v["message"].is_string() && v["error"].is_string(), "{body}");
    let rid = v["request_id"].as_str().unwrap();
    assert!(!rid.is_empty());
    assert_eq!(h("x-request-id"), Some(rid));
}

#[tokio::test]
async fn rejections_by_the_http_layer_carry_the_envelope_and_security_headers() {
    let app = TestApp::spawn().await;

    // More header fields than the parser takes (100): 431.
    let mut req = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..120 {
        req.extend_from_slice(format!("X-H{i}: v\r\n").as_bytes());
    }
    req.extend_from_slice(b"\r\n");
    let (status, headers, body, _) = parse(&raw(&app, &req).await);
    assert_enveloped(status, &headers, &body, 431, "headers_too_large");

    // A request target over 64 KiB: 414.
    let req = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let (status, headers, body, _) = parse(&raw(&app, req.as_bytes()).await);
    assert_enveloped(status, &headers, &body, 414, "uri_too_long");

    // A malformed request line, and a malformed header: 400.
    for req in ["GARBAGE\r\n\r\n", "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n"] {
        let (status, headers, body, _) = parse(&raw(&app, req.as_bytes()).await);
        assert_enveloped(status, &headers, &body, 400, "malformed_request");
    }

    // On a kept-alive connection: our answers pass as they are, then the refusal is replaced.
    let req =
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/nope HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n";
    let out = raw(&app, req).await;
    let (status, _, body, rest) = parse(&out);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("alive"), "{body}");
    let (status, headers, body, rest) = parse(&rest);
    assert_enveloped(status, &headers, &body, 404, "route_not_found");
    let (status, headers, body, rest) = parse(&rest);
    assert_enveloped(status, &headers, &body, 400, "malformed_request");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));

    // The server still serves.
    app.get("/healthz", None).await.expect(200);
}
