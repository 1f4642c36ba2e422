//! JSON logs from the real binary: one JSON object a line, request lines carry the request id,
//! and no secret (password, session and auth tokens, verification link, proxy group secrets) is
//! ever written.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{decode_qp, fresh_database_url, link_token, Served};

#[tokio::test]
async fn json_logs_carry_request_ids_and_no_secrets() {
    let url = fresh_database_url().await;
    let served = Served::start(&url, "debug", &[], "/readyz").await;
    let client = reqwest::Client::new();
    let base = served.base.clone();
    let password = "Secret-Password-Zebra-42";
    let api = format!("{base}/api/v1");
    let r = client.post(format!("{api}/auth/signup")).json(&json!({"email": "logs@example.com", "password": password}));
    assert_eq!(r.send().await.unwrap().status(), 200);
    let mut mail = None;
    for _ in 0..100 {
        if let Some(e) = std::fs::read_dir(served.dir.join("outbox")).ok().and_then(|mut d| d.next()) {
            mail = Some(decode_qp(&std::fs::read_to_string(e.unwrap().path()).unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let verify_token = link_token(&mail.expect("verification mail"), "verify-email");
    let v: Value = client
        .post(format!("{api}/auth/verify-email"))
        .json(&json!({"token": verify_token}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = v["data"]["token"].as_str().unwrap().to_owned();
    let refresh = v["data"]["refreshToken"].as_str().unwrap().to_owned();
    let bad = client
        .post(format!("{api}/users/auth/login"))
        .json(&json!({"email": "logs@example.com", "password": "Wrong-Password-Zebra-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);
    let me = client.get(format!("{api}/users/auth/me")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(me.status(), 200);
    let rid = me.headers()["x-request-id"].to_str().unwrap().to_owned();
    let created: Value = client
        .post(format!("{api}/auth/tokens"))
        .bearer_auth(&access)
        .json(&json!({"permission_template": "read_only"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let auth_token = created["data"]["token"].as_str().expect("auth token").to_owned();
    let used = client.get(format!("{api}/users/auth/me")).bearer_auth(&auth_token).send().await.unwrap();
    assert_eq!(used.status(), 200);
    let refused =
        client.get(format!("{api}/users/auth/me")).bearer_auth(format!("{auth_token}x")).send().await.unwrap();
    assert_eq!(refused.status(), 401);

    // Proxy groups' secrets, written and read back at debug level.
    let made: Value = client
        .post(format!("{api}/projects/"))
        .bearer_auth(&access)
        .json(&json!({"alias": "Logs"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let project = made["data"]["id"].as_str().expect("a project").to_owned();
    let doc = json!({"project": project, "permissions": {"pw": {"http": true}}, "groups": {
        "pw": {"type": "password", "username": "ann", "password": "Proxy-Pass-Quokka-7", "salt": "s"},
        "tk": {"type": "token", "header": "X-Key", "value": "proxy-token-wombat-8"},
        "jw": {"type": "jwt", "secret": "proxy-jwt-numbat-9", "algorithm": "HS256", "sources": ["header:X-Jwt"]}
    }});
    let put = client
        .put(format!("{api}/projects/{project}/proxy/permissions"))
        .bearer_auth(&access)
        .header("if-match", "file:v0")
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let read = client.get(format!("{api}/projects/{project}/proxy/permissions")).bearer_auth(&access).send().await;
    assert_eq!(read.unwrap().status(), 200);

    let (out, err, clean) = served.stop();
    assert!(clean, "the server did not exit cleanly on SIGTERM");
    let all = format!("{out}{err}");

    let mut request_lines = 0;
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["fields"]["message"] == "request finished" {
            request_lines += 1;
            assert!(v["span"]["request_id"].is_string(), "{line}");
        }
    }
    assert!(request_lines >= 4, "{out}");
    assert!(out.contains(&rid), "the request id of /me is logged");
    let secrets = [
        password,
        "Wrong-Password-Zebra-1",
        &verify_token,
        &access,
        &refresh,
        &auth_token,
        &auth_token[4..40],
        "Proxy-Pass-Quokka-7",
        "proxy-token-wombat-8",
        "proxy-jwt-numbat-9",
    ];
    for secret in secrets {
        assert!(!all.contains(secret), "a secret was logged");
    }
}
