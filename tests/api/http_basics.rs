use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{tcp::OwnedReadHalf, TcpStream},
};

use crate::harness::{Resp, TestApp, PASSWORD};

const SIGNUP: &str = "/api/v1/auth/signup";

/// The headers every response carries, whatever its status.
#[track_caller]
fn assert_security_headers(h: &reqwest::header::HeaderMap, what: &str) {
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    // The docs page may be kept, if checked again first (its assets are named by digest).
    let cache = if what == "/docs" { "no-cache" } else { "no-store" };
    assert_eq!(h["cache-control"], cache, "{what}");
    assert_eq!(h["x-frame-options"], "DENY", "{what}");
    let hsts = h["strict-transport-security"].to_str().unwrap();
    assert!(hsts.contains("max-age=31536000"), "{what}: {hsts}");
    let rid = h.get("x-request-id").unwrap_or_else(|| panic!("{what}: no x-request-id")).to_str().unwrap();
    assert!(!rid.is_empty(), "{what}");
}

/// Security headers plus the JSON content type; error bodies carry the same request id.
#[track_caller]
fn assert_common_headers(r: &Resp) {
    let what = format!("{} {}", r.status, r.text);
    assert_security_headers(&r.headers, &what);
    assert_eq!(r.headers["content-type"], "application/json; charset=utf-8", "{what}");
    if r.status.as_u16() >= 400 {
        assert_eq!(r.body["request_id"], r.headers["x-request-id"].to_str().unwrap(), "{what}");
    }
}

/// A JSON body of about 3 MiB that would be a valid signup but for its size.
fn three_mib_signup() -> Vec<u8> {
    serde_json::to_vec(&json!({"email": "big@example.com", "password": "Aa1!".repeat(3 * 1024 * 1024 / 4)})).unwrap()
}

#[tokio::test]
async fn every_status_carries_the_security_headers_and_the_envelope() {
    let app = TestApp::spawn().await;
    let ok = app.get("/healthz", None).await;
    ok.expect(200);
    assert_common_headers(&ok);
    let ready = app.get("/readyz", None).await;
    ready.expect(200);
    assert_common_headers(&ready);
    let bad = app.post_raw(SIGNUP, "application/json", b"{oops".to_vec()).await;
    bad.expect(400);
    assert_eq!(bad.code(), "invalid_json");
    assert_common_headers(&bad);
    let unauth = app.get("/api/v1/users/auth/me", None).await;
    unauth.expect(401);
    assert_common_headers(&unauth);
    let missing = app.get("/api/v1/nope", None).await;
    missing.expect(404);
    assert_common_headers(&missing);
    let method = app.request(Method::DELETE, SIGNUP, None, None).await;
    method.expect(405);
    assert_common_headers(&method);
    let big = app.post_raw(SIGNUP, "application/json", three_mib_signup()).await;
    big.expect(413);
    assert_eq!(big.code(), "payload_too_large");
    assert_common_headers(&big);
    let media = app.post_raw(SIGNUP, "text/plain", b"{}".to_vec()).await;
    media.expect(415);
    assert_common_headers(&media);
    let invalid = app.post(SIGNUP, json!({"email": "a@example.com", "password": "x"})).await;
    invalid.expect(422);
    assert_eq!(invalid.code(), "validation_failed");
    assert_common_headers(&invalid);

    // Responses that are not JSON carry the security headers too.
    for path in ["/metrics", "/docs"] {
        let res = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert_security_headers(res.headers(), path);
    }
}

#[tokio::test]
async fn request_ids_are_echoed_when_sane_and_replaced_otherwise() {
    let app = TestApp::spawn().await;
    let send = |path: &str, id: Option<&str>| {
        let mut req = app.client.get(format!("{}{path}", app.base));
        if let Some(id) = id {
            req = req.header("x-request-id", id);
        }
        async move { TestApp::read(req.send().await.unwrap()).await }
    };
    for good in ["trace-abc_123.4", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "a:b", &"z".repeat(64)] {
        let r = send("/api/v1/nope", Some(good)).await;
        r.expect(404);
        assert_eq!(r.headers["x-request-id"], good);
        assert_eq!(r.body["request_id"], good, "{}", r.text);
        let r = send("/healthz", Some(good)).await;
        r.expect(200);
        assert_eq!(r.headers["x-request-id"], good);
    }
    let r = send("/api/v1/users/auth/me", Some("auth-trace-1")).await;
    r.expect(401);
    assert_eq!(r.body["request_id"], "auth-trace-1");

    for bad in ["x".repeat(200), "has spaces in it".to_owned(), "a/b".to_owned(), "<script>".to_owned(), "z".repeat(65)]
    {
        let r = send("/api/v1/nope", Some(&bad)).await;
        r.expect(404);
        let echoed = r.headers["x-request-id"].to_str().unwrap().to_owned();
        assert_ne!(echoed, bad);
        assert!(uuid::Uuid::parse_str(&echoed).is_ok(), "{echoed}");
        assert_eq!(r.body["request_id"], echoed.as_str(), "the body names the replacement id");
        assert!(!r.text.contains(&bad), "{}", r.text);
    }
    // Without one, each request gets its own.
    let a = send("/api/v1/nope", None).await;
    let b = send("/api/v1/nope", None).await;
    assert_ne!(a.headers["x-request-id"], b.headers["x-request-id"]);
    assert_eq!(a.body["request_id"], a.headers["x-request-id"].to_str().unwrap());
}

#[tokio::test]
async fn unknown_routes_and_wrong_methods_are_enveloped() {
    let app = TestApp::spawn().await;
    for path in ["/api/v1/nope", "/nope", "/api/v2/auth/signup", "/api/v1/auth/signup/extra"] {
        let r = app.get(path, None).await;
        r.expect(404);
        assert_eq!(r.code(), "route_not_found", "{path}");
    }
    let r = app.request(Method::DELETE, SIGNUP, None, None).await;
    r.expect(405);
    assert_eq!(r.code(), "method_not_allowed");
    assert_eq!(r.headers["allow"], "POST", "RFC 9110: a 405 names the allowed methods");
    let r = app.request(Method::PUT, "/healthz", None, Some(json!({}))).await;
    r.expect(405);
    assert_eq!(r.code(), "method_not_allowed");
    let r = app.request(Method::GET, SIGNUP, None, None).await;
    r.expect(405);
    assert_eq!(r.code(), "method_not_allowed");
}

#[tokio::test]
async fn oversized_bodies_are_413_and_hostile_json_is_400() {
    let app = TestApp::spawn().await;
    let big = app.post_raw(SIGNUP, "application/json", three_mib_signup()).await;
    big.expect(413);
    assert_eq!(big.code(), "payload_too_large");

    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let r = app.post_raw(SIGNUP, "application/json", deep.into_bytes()).await;
    r.expect(400);
    let deep = format!("{{\"email\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
    app.post_raw(SIGNUP, "application/json", deep.into_bytes()).await.expect(400);
    let deep = format!("{}{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    app.post_raw(SIGNUP, "application/json", deep.into_bytes()).await.expect(422);

    app.post_raw(SIGNUP, "text/plain", br#"{"email":"a@b.co","password":"x"}"#.to_vec()).await.expect(415);
    app.post_raw(SIGNUP, "application/x-www-form-urlencoded", b"email=a".to_vec()).await.expect(415);
    let r = app.post("/api/v1/auth/forgot-password", json!({"email": "a\u{0}@example.com"})).await;
    r.expect(400);
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 0);
    // Still serving.
    app.get("/healthz", None).await.expect(200);
    app.post(SIGNUP, json!({"email": "after@example.com", "password": PASSWORD})).await.expect(200);
}

#[tokio::test]
async fn health_readiness_and_metrics() {
    let app = TestApp::spawn().await;
    let live = app.get("/healthz", None).await;
    live.expect(200);
    assert_eq!(live.data()["status"], "ok");
    let ready = app.get("/readyz", None).await;
    ready.expect(200);
    assert_eq!(ready.data()["status"], "ok");
    app.post(SIGNUP, json!({"email": "m@example.com", "password": PASSWORD})).await.expect(200);
    app.get("/api/v1/secret-path-4f2a9c", None).await.expect(404);

    let res = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(text.contains("# TYPE hoody_http_requests_total counter"), "{text}");
    assert!(
        text.contains(r#"hoody_http_requests_total{method="POST",route="/api/v1/auth/signup",status="200"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"hoody_http_requests_total{method="GET",route="/readyz",status="200"} 1"#), "{text}");
    // Unmatched paths share one label: no cardinality blow-up and no path echoed.
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(!text.contains("secret-path-4f2a9c"), "{text}");
    assert!(text.contains("# TYPE hoody_http_request_duration_seconds histogram"));
    assert!(text.contains(r#"hoody_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/signup","#));
    assert!(text.contains(
        r#"hoody_http_request_duration_seconds_bucket{method="POST",route="/api/v1/auth/signup",le="+Inf"} 1"#
    ));
    assert!(text.contains(r#"hoody_http_request_duration_seconds_count{method="POST",route="/api/v1/auth/signup"} 1"#));
    assert!(text.contains("hoody_db_pool_connections{state=\"idle\"}"), "{text}");
    assert!(text.contains("hoody_db_pool_connections{state=\"in_use\"}"), "{text}");
    assert!(text.contains("hoody_db_pool_max_connections 8"), "{text}");
}

const HOSTILE_ORIGINS: [&str; 12] = [
    "null",
    "https://evil.com",
    "https://app.hoody.com.evil.com",
    "http://app.hoody.com",
    "https://app-hoody.com",
    "https://evilapp.hoody.com",
    "https://sub.app.hoody.com",
    "https://app.hoody.co",
    "https://app.hoody.comevil.com",
    "https://app.hoody.com:8443",
    "https://app.hoody.com/",
    "file://",
];

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app = TestApp::spawn_with(|c| c.cors_origins = vec!["https://app.hoody.com".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, format!("{}{SIGNUP}", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization")
            .send()
    };
    let simple = |origin: &'static str| app.client.get(format!("{}/healthz", app.base)).header("origin", origin).send();

    let ok = preflight("https://app.hoody.com").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.hoody.com");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let allowed_headers = h["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed_headers.contains("content-type") && allowed_headers.contains("authorization"));
    assert!(!h.contains_key("access-control-allow-credentials"));
    assert!(h["vary"].to_str().unwrap().to_ascii_lowercase().contains("origin"));
    let ok = simple("https://app.hoody.com").await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.hoody.com");

    for hostile in HOSTILE_ORIGINS {
        let res = preflight(hostile).await.unwrap();
        assert!(!res.headers().contains_key("access-control-allow-origin"), "preflight from {hostile} was allowed");
        let res = simple(hostile).await.unwrap();
        assert!(!res.headers().contains_key("access-control-allow-origin"), "GET from {hostile} was allowed");
    }
}

#[tokio::test]
async fn cors_allows_nothing_by_default() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .request(Method::OPTIONS, format!("{}{SIGNUP}", app.base))
        .header("origin", "https://app.hoody.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
    let res =
        app.client.get(format!("{}/healthz", app.base)).header("origin", "https://app.hoody.com").send().await.unwrap();
    assert!(!res.headers().contains_key("access-control-allow-origin"));
}

/// Read one HTTP/1.1 response (with a Content-Length body): (status, head, body).
async fn read_response(rd: &mut BufReader<OwnedReadHalf>) -> (u16, String, String) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(Duration::from_secs(20), rd.read_line(&mut line))
            .await
            .expect("response in time")
            .expect("read");
        assert!(n > 0, "connection closed before a full response; so far: {head}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head.split_whitespace().nth(1).expect("status line").parse().expect("status");
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case("content-length").then(|| v.trim().parse::<usize>().expect("length"))
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    rd.read_exact(&mut body).await.expect("body");
    (status, head, String::from_utf8(body).expect("utf-8 body"))
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_stops_listening() {
    let app = TestApp::spawn().await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    // A kept-alive connection the server has certainly accepted.
    let (rd, mut wr) = TcpStream::connect(&addr).await.unwrap().into_split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"GET /readyz HTTP/1.1\r\nhost: test\r\n\r\n").await.unwrap();
    let (status, _, body) = read_response(&mut rd).await;
    assert_eq!(status, 200, "{body}");
    // Readiness right before shutdown.
    app.get("/readyz", None).await.expect(200);

    // Start a request and leave it in flight: the handler waits for the rest of its body.
    let body = br#"{"email":"inflight@example.com"}"#;
    let head = format!(
        "POST /api/v1/auth/forgot-password HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n",
        body.len()
    );
    wr.write_all(head.as_bytes()).await.unwrap();
    wr.write_all(&body[..10]).await.unwrap();
    wr.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let stopping = tokio::spawn(app.shutdown());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!stopping.is_finished(), "shutdown must wait for the in-flight request");

    wr.write_all(&body[10..]).await.unwrap();
    let (status, _, text) = read_response(&mut rd).await;
    assert_eq!(status, 200, "the in-flight request completes: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["statusCode"], 200);

    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown completes once the request is answered")
        .expect("shutdown task");
    assert!(TcpStream::connect(&addr).await.is_err(), "the listener is closed");
}

#[tokio::test]
async fn docs_page_is_self_contained() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"), "{csp}");
    assert!(!csp.contains("http"), "the CSP allows no remote host: {csp}");
    let page = res.text().await.unwrap();
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("<script") && lower.contains("/openapi.json"));
    for needle in [
        "src=\"http",
        "src='http",
        "src=http",
        "src=\"//",
        "src='//",
        "href=\"http",
        "href='http",
        "href=\"//",
        "@import",
        "url(http",
        "url(\"http",
        "url('http",
        "url(//",
    ] {
        assert!(!lower.contains(needle), "external resource ({needle}) in the docs page");
    }
    for tag in ["<script", "<link"] {
        for (i, _) in lower.match_indices(tag) {
            let end = lower[i..].find('>').map_or(lower.len(), |e| i + e);
            let element = &lower[i..end];
            // Only this server's own assets (`/docs/assets/…`, a path on the same origin).
            for attr in ["src=", "href="] {
                if let Some(at) = element.find(attr) {
                    let value = element[at + attr.len()..].trim_start_matches(['"', '\'']);
                    assert!(
                        value.starts_with("/docs/assets/") || value.starts_with("data:"),
                        "external {tag}: {element}"
                    );
                }
            }
            assert!(!element.contains("http"), "external {tag}: {element}");
        }
    }
    // The document it renders is served by the same server.
    let doc = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(doc.status(), 200);
    let doc: serde_json::Value = doc.json().await.unwrap();
    assert!(doc["paths"]["/api/v1/auth/signup"].is_object());
}

#[tokio::test]
async fn a_slow_header_sender_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = crate::harness::TestApp::spawn_with(|c| c.header_read_timeout = std::time::Duration::from_secs(1)).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut conn = tokio::net::TcpStream::connect(&addr).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let started = std::time::Instant::now();
    let (mut rd, mut wr) = conn.into_split();
    // Keep trickling header lines, as slowloris does.
    let trickle = tokio::spawn(async move {
        for i in 0..20 {
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            if wr.write_all(format!("X-Slow-{i}: 1\r\n").as_bytes()).await.is_err() {
                return;
            }
        }
    });
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(std::time::Duration::from_secs(4), rd.read(&mut buf)).await;
    let elapsed = started.elapsed();
    trickle.abort();
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "the connection stays open: {closed:?}");
    assert!(elapsed < std::time::Duration::from_secs(3), "closed after {elapsed:?}");
    // Everyone else is served as usual.
    app.get("/healthz", None).await;
    let r = app.get("/api/v1/meta/public-key", None).await;
    r.expect(200);
}
