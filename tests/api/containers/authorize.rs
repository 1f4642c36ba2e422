//! `POST /containers/{id}/authorize`: the signed container claim, verified offline with the
//! published key; the token leaf and the grantee level it needs.

use base64::{engine::general_purpose::STANDARD, Engine};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use reqwest::Method;
use serde_json::{json, Value};

use super::{seed, spawn, user};
use crate::{harness::TestApp, permissions::tree};

async fn published_key(app: &TestApp) -> (VerifyingKey, String) {
    let r = app.get("/api/v1/meta/public-key", None).await;
    r.expect(200);
    let d = r.data();
    let bytes: [u8; 32] = hex::decode(d["keys"][0]["public_key_hex"].as_str().unwrap()).unwrap().try_into().unwrap();
    (VerifyingKey::from_bytes(&bytes).unwrap(), d["active_kid"].as_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authorize_returns_a_container_claim_that_verifies_offline() {
    let app = spawn().await;
    let (key, kid) = published_key(&app).await;
    let s = app.verified_user("authorize@example.com").await;
    let p = app.project(&s.token, "Claims").await;
    let id = seed(&app, &p, "claimable", "running", |_| {}).await;
    let path = format!("/api/v1/containers/{id}/authorize");

    let r = app.call(Method::POST, &path, &s.token, None).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["expires_in"], 300);
    assert_eq!(d["container_id"], id.as_str());
    assert_eq!(d["project_id"], p.as_str());
    let claim = &d["container_claim"];
    assert_eq!(claim["kid"], kid.as_str());
    let payload_b64 = claim["payload_b64"].as_str().unwrap();
    let sig_hex = claim["signature_hex"].as_str().unwrap();
    assert_eq!(sig_hex.len(), 128);
    let sig = Signature::from_slice(&hex::decode(sig_hex).unwrap()).unwrap();
    key.verify(format!("hoody.container_claim.v1\n{payload_b64}").as_bytes(), &sig).expect("the claim verifies");
    assert!(key.verify(payload_b64.as_bytes(), &sig).is_err(), "the label is part of what is signed");
    assert!(
        key.verify(format!("hoody.identity_claim.v1\n{payload_b64}").as_bytes(), &sig).is_err(),
        "a container claim is no identity claim"
    );
    let payload: Value = serde_json::from_slice(&STANDARD.decode(payload_b64).unwrap()).unwrap();
    assert_eq!(payload["container_id"], id.as_str());
    assert_eq!(payload["sub"], s.user_id.as_str());
    assert_eq!(payload["project_id"], p.as_str());
    assert_eq!(payload["server_id"], app.server_id.as_str());
    assert_eq!(payload["subserver_name"], format!("c-{id}"));
    assert_eq!(payload["access"], "owner");
    assert!(payload["token_id"].is_null());
    let (iat, exp) = (payload["iat"].as_i64().unwrap(), payload["exp"].as_i64().unwrap());
    assert_eq!(exp - iat, 300);
    assert!((chrono::Utc::now().timestamp() - iat).abs() < 60);

    // A tampered payload (another container) does not verify with the same signature.
    let mut forged = payload.clone();
    forged["container_id"] = json!(hoody_api::db::new_id());
    let forged_b64 = STANDARD.encode(serde_json::to_vec(&forged).unwrap());
    assert!(key.verify(format!("hoody.container_claim.v1\n{forged_b64}").as_bytes(), &sig).is_err());
    let mut flipped = hex::decode(sig_hex).unwrap();
    flipped[0] ^= 1;
    let flipped = Signature::from_slice(&flipped).unwrap();
    assert!(key.verify(format!("hoody.container_claim.v1\n{payload_b64}").as_bytes(), &flipped).is_err());

    // Through a token: it needs containers.actions.exec, and the claim names the token.
    let (without, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    let r = app.call(Method::POST, &path, &without, None).await;
    r.expect(403);
    assert_eq!(r.code(), "insufficient_permissions");
    assert!(r.body["message"].as_str().unwrap().contains("containers.actions.exec"));
    let (with, token_id) = app.new_token(&s.token, json!({"permissions": tree(&["containers.actions.exec"])})).await;
    let r = app.call(Method::POST, &path, &with, None).await;
    r.expect(200);
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(r.data()["container_claim"]["payload_b64"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["token_id"], token_id.as_str());

    // A grantee needs edit; with it the claim says so.
    let g = user(&app, "claim-grantee").await;
    let grant = app
        .post_auth(
            &format!("/api/v1/projects/{p}/permissions"),
            &s.token,
            Some(json!({"user_id": g.user_id, "permission_level": "read"})),
        )
        .await;
    grant.expect(201);
    let r = app.call(Method::POST, &path, &g.token, None).await;
    r.expect(403);
    assert_eq!(r.code(), "project_access_denied");
    let pid = grant.data()["id"].as_str().unwrap();
    app.call(
        Method::PUT,
        &format!("/api/v1/projects/{p}/permissions/{pid}"),
        &s.token,
        Some(json!({"permission_level": "edit"})),
    )
    .await
    .expect(200);
    let r = app.call(Method::POST, &path, &g.token, None).await;
    r.expect(200);
    let payload: Value =
        serde_json::from_slice(&STANDARD.decode(r.data()["container_claim"]["payload_b64"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(payload["sub"], g.user_id.as_str());
    assert_eq!(payload["access"], "edit");
}
