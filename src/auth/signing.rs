//! The API's Ed25519 key: it signs every response (`X-Hoody-Signature`), the identity claims
//! login and verify hand out, and (with the containers issue) container claims. Clients verify
//! with `GET /api/v1/meta/public-key`. Each kind of message starts differently, so a signature
//! made for one can never pass as another: a response's signed data starts with the Unix time
//! (digits), a claim's with its `hoody.…` label.

use std::path::Path;

use anyhow::bail;
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
    Engine,
};
use chrono::Utc;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::Serialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::db::users::UserRow;

pub const RESPONSE_HEADER: &str = "x-hoody-signature";
pub const IDENTITY_CLAIM_LABEL: &str = "hoody.identity_claim.v1";
pub const CONTAINER_CLAIM_LABEL: &str = "hoody.container_claim.v1";
/// How long an identity claim stays valid.
pub const IDENTITY_CLAIM_TTL: chrono::Duration = chrono::Duration::days(1);

pub struct Signer {
    key: SigningKey,
    kid: String,
}

/// A signed statement of who the user is: base64 of a JSON payload, and the Ed25519 signature
/// (hex) over `hoody.identity_claim.v1\n<payload_b64>`.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityClaim {
    pub kid: String,
    pub payload_b64: String,
    pub signature_hex: String,
}

#[derive(Serialize)]
struct IdentityPayload<'a> {
    iss: &'static str,
    sub: &'a str,
    /// Who the claim is for (`POST /users/auth/identity-claim`); absent on the sign-in claims.
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    username: &'a str,
    email_verified: bool,
    is_admin: bool,
    public_key: Option<&'a str>,
    iat: i64,
    exp: i64,
}

impl Signer {
    /// From `HOODY_SIGNING_KEY` (64 hex: the 32-byte seed), else a seed generated once into the
    /// data dir.
    pub fn load(seed_hex: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let seed = match seed_hex {
            Some(h) => hex::decode(h.trim()).map_err(|_| anyhow::anyhow!("HOODY_SIGNING_KEY is not hex"))?,
            None => super::keyfile::load_or_create(&data_dir.join("signing-key"), "Ed25519 signing key")?,
        };
        let Ok(seed) = <[u8; 32]>::try_from(seed.as_slice()) else {
            bail!("the signing key must be 32 bytes (64 hex characters)");
        };
        Ok(Self::from_seed(&seed))
    }

    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let kid = format!("ed25519-{}", hex::encode(&Sha256::digest(key.verifying_key().as_bytes())[..8]));
        Self { key, kid }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.key.sign(message).to_bytes())
    }

    /// The `X-Hoody-Signature` value for one response. `target` is the request's path with its
    /// query string exactly as received (`/api/v1/x?a=1,2`); it is signed as is and sent as a
    /// quoted string (`path="…"`, `"` and `\` escaped with `\`), since a query may hold commas.
    pub fn response_header(&self, method: &str, status: u16, target: &str, body: &[u8]) -> String {
        let t = Utc::now().timestamp();
        let mut signed = Vec::with_capacity(body.len() + target.len() + 32);
        signed.extend_from_slice(format!("{t}\n{method}\n{status}\n{target}\n").as_bytes());
        signed.extend_from_slice(body);
        let sig = self.sign_hex(&signed);
        format!("t={t},kid={},m={method},s={status},path={},sig={sig}", self.kid, quoted(target))
    }

    pub fn identity_claim(&self, user: &UserRow) -> IdentityClaim {
        self.claim(user, None, IDENTITY_CLAIM_TTL)
    }

    /// A claim bound to `audience`, valid for `ttl`; the payload's `aud` names the audience.
    pub fn audience_claim(&self, user: &UserRow, audience: &str, ttl: chrono::Duration) -> IdentityClaim {
        self.claim(user, Some(audience), ttl)
    }

    fn claim(&self, user: &UserRow, aud: Option<&str>, ttl: chrono::Duration) -> IdentityClaim {
        let now = Utc::now();
        let payload = IdentityPayload {
            iss: "hoody-api",
            sub: &user.user_id,
            aud,
            username: &user.username,
            email_verified: user.email_verified,
            is_admin: user.is_admin,
            public_key: user.public_key.as_deref(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
        };
        let payload_b64 = STANDARD.encode(serde_json::to_vec(&payload).unwrap_or_default());
        let signature_hex = self.sign_hex(format!("{IDENTITY_CLAIM_LABEL}\n{payload_b64}").as_bytes());
        IdentityClaim { kid: self.kid.clone(), payload_b64, signature_hex }
    }

    pub fn encodings(&self) -> (String, String, String) {
        let pk = self.public_key();
        (hex::encode(pk), STANDARD.encode(pk), URL_SAFE_NO_PAD.encode(pk))
    }
}

/// An RFC 9110 quoted-string.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '"' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signature, Verifier, VerifyingKey};

    #[test]
    fn response_signatures_verify_with_the_public_key() {
        let s = Signer::from_seed(&[7; 32]);
        let header = s.response_header("GET", 200, "/api/v1/x?d=7,30", b"{\"a\":1}");
        let (head, tail) = header.split_once(",path=").unwrap();
        let (path, sig) = tail.rsplit_once(",sig=").unwrap();
        assert_eq!(path, "\"/api/v1/x?d=7,30\"");
        let mut parts: std::collections::HashMap<_, _> = head.split(',').filter_map(|p| p.split_once('=')).collect();
        parts.insert("sig", sig);
        let signed = format!("{}\nGET\n200\n/api/v1/x?d=7,30\n{{\"a\":1}}", parts["t"]);
        let sig = Signature::from_slice(&hex::decode(parts["sig"]).unwrap()).unwrap();
        let vk = VerifyingKey::from_bytes(&s.public_key()).unwrap();
        assert!(vk.verify(signed.as_bytes(), &sig).is_ok());
        assert!(vk.verify(b"something else", &sig).is_err());
        assert_eq!(parts["kid"], s.kid());
    }

    #[test]
    fn quotes_and_backslashes_are_escaped_in_the_path() {
        assert_eq!(quoted(r#"/a"b\c?x=1,2"#), r#""/a\"b\\c?x=1,2""#);
    }
}
