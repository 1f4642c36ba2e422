//! Session JWTs: HS256 only, with `typ` (access | refresh), the user's session generation, the
//! session id (`sid`, one per sign-in) and a key id. A refresh token never works as an access
//! token, nor the reverse.

use std::path::Path;

use anyhow::{bail, Context};
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

pub const ACCESS_TTL: Duration = Duration::days(1);
pub const REFRESH_TTL: Duration = Duration::days(7);
const AUDIENCE: &str = "hoody-api";
const ISSUER: &str = "hoody-api";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Access,
    Refresh,
    /// The `state` of an OAuth redirect (10 minutes; also single-use in the database).
    #[serde(rename = "oauth_state")]
    OauthState,
}

impl TokenType {
    fn ttl(self) -> Duration {
        match self {
            Self::Access => ACCESS_TTL,
            Self::Refresh => REFRESH_TTL,
            Self::OauthState => Duration::minutes(10),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub typ: TokenType,
    /// The user's session generation when issued; logout-all moves it on.
    pub gen: i64,
    /// The sign-in this token belongs to (`user_session`), shared by its refresh family and the
    /// access tokens minted from it. Empty only in tokens that are not sessions (OAuth state);
    /// session tokens without one (issued before sessions had ids) are refused.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
    pub jti: String,
}

pub struct Issued {
    pub token: String,
    pub jti: String,
    pub expires_at: DateTime<Utc>,
}

pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    /// The same checks except the expiry: an expired access token still names its session.
    validation_any_age: Validation,
}

impl JwtKeys {
    /// From `HOODY_JWT_SECRET` (at least 32 bytes), else a secret generated once into the data dir.
    pub fn load(secret: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        let secret = match secret {
            Some(s) if s.len() >= 32 => s.as_bytes().to_vec(),
            Some(_) => bail!("HOODY_JWT_SECRET must be at least 32 bytes (256 bits)"),
            None => super::keyfile::load_or_create(&data_dir.join("jwt-secret"), "JWT signing secret")?,
        };
        if secret.len() < 32 {
            bail!("the JWT secret must be at least 32 bytes (256 bits)");
        }
        Ok(Self::from_secret(&secret))
    }

    pub fn from_secret(secret: &[u8]) -> Self {
        use sha2::Digest;
        let kid = hex::encode(&sha2::Sha256::digest(secret)[..8]);
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        let mut validation_any_age = validation.clone();
        validation_any_age.validate_exp = false;
        Self {
            kid,
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            validation_any_age,
        }
    }

    /// A token that is not a session's (the OAuth state).
    pub fn issue(&self, subject: &str, typ: TokenType, gen: i64) -> anyhow::Result<Issued> {
        self.issue_session(subject, typ, gen, "")
    }

    /// An access or refresh token of the session `sid`.
    pub fn issue_session(&self, user_id: &str, typ: TokenType, gen: i64, sid: &str) -> anyhow::Result<Issued> {
        let now = Utc::now();
        let expires_at = now + typ.ttl();
        let jti = super::secrets::random_id();
        let claims = Claims {
            sub: user_id.to_owned(),
            typ,
            gen,
            sid: sid.to_owned(),
            iat: now.timestamp(),
            exp: expires_at.timestamp(),
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
            jti: jti.clone(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        let token = encode(&header, &claims, &self.encoding).context("signing a JWT")?;
        Ok(Issued { token, jti, expires_at })
    }

    /// The claims of a valid token of type `typ`; `None` for anything else.
    pub fn verify(&self, token: &str, typ: TokenType) -> Option<Claims> {
        self.verify_with(token, typ, &self.validation)
    }

    /// Like [`Self::verify`], but a token past its expiry passes (everything else is checked: key,
    /// algorithm, audience, issuer, type). For naming a session, never for authenticating.
    pub fn verify_any_age(&self, token: &str, typ: TokenType) -> Option<Claims> {
        self.verify_with(token, typ, &self.validation_any_age)
    }

    fn verify_with(&self, token: &str, typ: TokenType, validation: &Validation) -> Option<Claims> {
        let header = decode_header(token).ok()?;
        if header.alg != Algorithm::HS256 || header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        if header.jku.is_some() || header.jwk.is_some() || header.x5u.is_some() {
            return None;
        }
        let claims = decode::<Claims>(token, &self.decoding, validation).ok()?.claims;
        (claims.typ == typ).then_some(claims)
    }
}
