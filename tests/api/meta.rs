//! The signing key: every response's `X-Hoody-Signature` and the identity claim verify with the
//! published key, checked here with ed25519 directly (not through the server's signing code).

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

async fn published_key(app: &TestApp) -> (VerifyingKey, String) {
    let r = app.get("/api/v1/meta/public-key", None).await;
    r.expect(200);
    let d = r.data();
    let key = &d["keys"][0];
    assert_eq!(key["algorithm"], "ed25519");
    assert_eq!(key["kid"], d["active_kid"]);
    let bytes: [u8; 32] = hex::decode(key["public_key_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    assert_eq!(STANDARD.decode(key["public_key_b64"].as_str().unwrap()).unwrap(), bytes);
    (VerifyingKey::from_bytes(&bytes).unwrap(), d["active_kid"].as_str().unwrap().to_owned())
}

/// The fields of `X-Hoody-Signature` as a verifier parses them: `key=value` pairs separated by
/// commas, where a value in double quotes runs to the closing quote (`\` escapes the next
/// character) and may hold commas.
fn signature_fields(header: &str) -> std::collections::HashMap<String, String> {
    let mut out = std::collections::HashMap::new();
    let mut rest = header;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=').expect("key=value");
        let mut value = String::new();
        let mut chars = after.chars();
        let mut consumed = 0;
        if after.starts_with('"') {
            chars.next();
            consumed += 1;
            while let Some(c) = chars.next() {
                consumed += c.len_utf8();
                match c {
                    '\\' => {
                        let next = chars.next().expect("escaped character");
                        consumed += next.len_utf8();
                        value.push(next);
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = after.split(',').next().unwrap().to_owned();
            consumed = value.len();
        }
        out.insert(key.to_owned(), value);
        rest = after[consumed..].strip_prefix(',').unwrap_or(&after[consumed..]);
    }
    out
}

/// Check one response's signature against the published key.
fn verify(key: &VerifyingKey, kid: &str, method: &str, path: &str, r: &Resp) {
    let header = r.headers.get("x-hoody-signature").expect("signature header").to_str().unwrap();
    assert!(header.contains(&format!(",path=\"{path}\",")), "the path is sent quoted: {header}");
    let fields = signature_fields(header);
    let fields: std::collections::HashMap<&str, &str> = fields.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(fields["kid"], kid);
    assert_eq!(fields["m"], method);
    assert_eq!(fields["s"], r.status.as_u16().to_string());
    assert_eq!(fields["path"], path);
    let t: i64 = fields["t"].parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - t).abs() < 60);
    let mut signed = format!("{t}\n{method}\n{}\n{path}\n", r.status.as_u16()).into_bytes();
    signed.extend_from_slice(r.text.as_bytes());
    let sig = Signature::from_slice(&hex::decode(fields["sig"]).unwrap()).unwrap();
    assert_eq!(fields["sig"].len(), 128);
    key.verify(&signed, &sig).unwrap_or_else(|_| panic!("{method} {path} {}: signature does not verify", r.status));
    // Tampering with the body breaks it.
    signed.push(b' ');
    assert!(key.verify(&signed, &sig).is_err());
}

#[tokio::test]
async fn every_response_is_signed_with_the_published_key() {
    let app = TestApp::spawn().await;
    let (key, kid) = published_key(&app).await;
    let s = app.verified_user("sig@example.com").await;
    let me = app.get("/api/v1/users/auth/me?x=1", Some(&s.token)).await;
    verify(&key, &kid, "GET", "/api/v1/users/auth/me?x=1", &me);
    // The query is signed exactly as received, commas and escapes included (the clients join
    // arrays with commas: `available_durations=7,30`).
    let target = "/api/v1/users/auth/me?available_durations=7,30&q=a%2Cb&z=%22";
    let listed = app.get(target, Some(&s.token)).await;
    listed.expect(200);
    verify(&key, &kid, "GET", target, &listed);
    let unauth = app.get("/api/v1/users/auth/me", None).await;
    verify(&key, &kid, "GET", "/api/v1/users/auth/me", &unauth);
    let missing = app.get("/api/v1/nowhere", None).await;
    verify(&key, &kid, "GET", "/api/v1/nowhere", &missing);
    let created = app.post_auth("/api/v1/auth/tokens", &s.token, Some(json!({}))).await;
    verify(&key, &kid, "POST", "/api/v1/auth/tokens", &created);
    let bad = app.post("/api/v1/users/auth/login", json!({"nope": 1})).await;
    verify(&key, &kid, "POST", "/api/v1/users/auth/login", &bad);
    // The key survives a restart: it lives in the data dir.
    let again = app.get("/api/v1/meta/public-key", None).await;
    assert_eq!(again.data()["active_kid"], kid.as_str());
}

#[tokio::test]
async fn login_carries_an_identity_claim_signed_by_the_api() {
    let app = TestApp::spawn().await;
    let (key, kid) = published_key(&app).await;
    let s = app.verified_user("claim@example.com").await;
    let r = app
        .post("/api/v1/users/auth/login", json!({"email": "claim@example.com", "password": crate::harness::PASSWORD}))
        .await;
    r.expect(200);
    let claim = &r.data()["identity_claim"];
    assert_eq!(claim["kid"], kid.as_str());
    let payload_b64 = claim["payload_b64"].as_str().unwrap();
    let sig = Signature::from_slice(&hex::decode(claim["signature_hex"].as_str().unwrap()).unwrap()).unwrap();
    key.verify(format!("hoody.identity_claim.v1\n{payload_b64}").as_bytes(), &sig).expect("claim verifies");
    assert!(key.verify(payload_b64.as_bytes(), &sig).is_err(), "the label is part of what is signed");
    let payload: Value = serde_json::from_slice(&STANDARD.decode(payload_b64).unwrap()).unwrap();
    assert_eq!(payload["sub"], s.user_id.as_str());
    assert!(payload["exp"].as_i64().unwrap() > chrono::Utc::now().timestamp());
    let keys = app.get("/api/v1/meta/public-key", None).await;
    let fmt = &keys.data()["signing_format"];
    assert!(fmt["identity_claim_signed_data"].as_str().unwrap().starts_with("hoody.identity_claim.v1"));
    assert!(fmt["response_header"].as_str().unwrap().contains("path=\"<url path>[?<query>]\""), "{fmt}");
    assert!(fmt["response_signed_data"].as_str().unwrap().contains("<url path>[?<query>]"), "{fmt}");
}

#[tokio::test]
async fn social_stats_come_from_settings_and_signing_can_be_turned_off() {
    let app = TestApp::spawn_with(|c| {
        c.social.github = Some(1234);
        c.sign_responses = false;
    })
    .await;
    let r = app.get("/api/v1/meta/social-stats", None).await;
    r.expect(200);
    assert_eq!(r.data()["github"], 1234);
    assert!(r.data()["discord"].is_null());
    assert!(r.data()["fetchedAt"].is_string());
    assert!(r.headers.get("x-hoody-signature").is_none());
    let plain = TestApp::spawn().await;
    let r = plain.get("/api/v1/meta/social-stats", None).await;
    assert!(r.data()["fetchedAt"].is_null() && r.data()["github"].is_null());
}
