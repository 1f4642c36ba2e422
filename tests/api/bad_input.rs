//! Every JSON endpoint, every kind of bad body: a 4xx envelope, never a 500, nothing stored.

use reqwest::Method;
use serde_json::json;

use crate::harness::TestApp;

const JSON_ENDPOINTS: [&str; 8] = [
    "/api/v1/auth/signup",
    "/api/v1/auth/verify-email",
    "/api/v1/auth/resend-verification",
    "/api/v1/auth/forgot-password",
    "/api/v1/auth/reset-password",
    "/api/v1/users/auth/login",
    "/api/v1/users/auth/refresh",
    "/api/v1/users/auth/logout",
];

#[tokio::test]
async fn every_json_endpoint_answers_bad_bodies_with_a_4xx_envelope() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("bad-input@example.com").await;
    let three_mib = {
        let mut v = b"{\"email\":\"".to_vec();
        v.extend(std::iter::repeat_n(b'a', 3 * 1024 * 1024));
        v.extend(b"\"}");
        v
    };
    for path in JSON_ENDPOINTS {
        // Logout takes no body; refresh checks the bearer before the body is read.
        let token = (path.ends_with("logout")).then_some(s.token.as_str());
        let cases: Vec<(&str, &str, Vec<u8>)> = vec![
            ("malformed", "application/json", b"{\"email\": ".to_vec()),
            (
                "wrong type",
                "application/json",
                br#"{"email": 1, "password": [], "token": {}, "refreshToken": 5}"#.to_vec(),
            ),
            ("empty object", "application/json", b"{}".to_vec()),
            ("not an object", "application/json", b"\"just a string\"".to_vec()),
            ("empty", "application/json", Vec::new()),
            ("3 MiB", "application/json", three_mib.clone()),
            ("form", "application/x-www-form-urlencoded", b"email=a%40b.co".to_vec()),
        ];
        for (name, content_type, body) in cases {
            let mut req =
                app.client.request(Method::POST, format!("{}{path}", app.base)).header("content-type", content_type);
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            let r = TestApp::read(req.body(body).send().await.unwrap()).await;
            let status = r.status.as_u16();
            if path.ends_with("logout") {
                // No body is read: the call succeeds or, after the first, the session is gone.
                assert!(status == 200 || status == 401 || status == 413, "{path} {name}: {}", r.text);
                continue;
            }
            assert!((400..500).contains(&status), "{path} {name}: {status} {}", r.text);
            r.expect(status);
            if name == "3 MiB" {
                assert_eq!(status, 413, "{path}");
            }
            if name == "form" {
                assert_eq!(status, 415, "{path}");
            }
        }
    }
    let users: i64 = sqlx::query_scalar("select count(*) from app_user").fetch_one(&app.db).await.unwrap();
    assert_eq!(users, 1, "no bad body created a user");
    let unknown = app
        .request(
            Method::POST,
            "/api/v1/users/auth/login",
            None,
            Some(json!({"email": "x@example.com", "password": "p", "x": 1})),
        )
        .await;
    unknown.expect(422);
}
