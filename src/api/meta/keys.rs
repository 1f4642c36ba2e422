//! Public facts about the API: the Ed25519 key that signs its responses and claims.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::signing::{CONTAINER_CLAIM_LABEL, IDENTITY_CLAIM_LABEL},
    db::ts,
    envelope::{ApiOk, Envelope},
    error::ErrorBody,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeyOut {
    pub kid: String,
    /// `ed25519`.
    pub algorithm: &'static str,
    pub public_key_hex: String,
    pub public_key_b64: String,
    pub public_key_b64url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SigningFormat {
    pub response_header: String,
    /// What `path` holds and how it is quoted.
    pub response_path: String,
    pub response_signed_data: String,
    pub identity_claim_signed_data: String,
    pub container_claim_signed_data: String,
    /// How far a response's `t` may be from the verifier's clock.
    pub replay_tolerance_seconds: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicKeysOut {
    pub keys: Vec<PublicKeyOut>,
    pub active_kid: String,
    pub usage: Vec<&'static str>,
    pub signing_format: SigningFormat,
}

/// Get Hoody API Signing Public Key
///
/// The Ed25519 key behind `X-Hoody-Signature` on every response and behind identity and container
/// claims, with the exact bytes each signature covers.
#[utoipa::path(get, path = "/meta/public-key", tag = "meta",
    responses((status = 200, body = Envelope<PublicKeysOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_public_key(State(st): State<AppState>) -> ApiOk<PublicKeysOut> {
    let (public_key_hex, public_key_b64, public_key_b64url) = st.signer.encodings();
    let kid = st.signer.kid().to_owned();
    let out = PublicKeysOut {
        keys: vec![PublicKeyOut {
            kid: kid.clone(),
            algorithm: "ed25519",
            public_key_hex,
            public_key_b64,
            public_key_b64url,
        }],
        active_kid: kid,
        usage: vec!["response_signature", "identity_claim", "container_claim"],
        signing_format: SigningFormat {
            response_header: "X-Hoody-Signature: t=<unix seconds>,kid=<kid>,m=<METHOD>,s=<status>,\
                 path=\"<url path>[?<query>]\",sig=<128 hex>"
                .into(),
            response_path: "The request's path with its query string exactly as received (no decoding, no \
                 reordering), sent as a quoted string: `\"` and `\\` inside are escaped with `\\`, commas are \
                 literal."
                .into(),
            response_signed_data: "<t>\\n<METHOD>\\n<status>\\n<url path>[?<query>]\\n<body bytes>".into(),
            identity_claim_signed_data: format!("{IDENTITY_CLAIM_LABEL}\\n<payload_b64>"),
            container_claim_signed_data: format!("{CONTAINER_CLAIM_LABEL}\\n<payload_b64>"),
            replay_tolerance_seconds: 300,
        },
    };
    ApiOk::new("API signing keys", out)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SocialStatsOut {
    #[schema(required = true)]
    pub github: Option<i64>,
    #[schema(required = true)]
    pub telegram: Option<i64>,
    #[schema(required = true)]
    pub discord: Option<i64>,
    #[schema(required = true)]
    pub discord_online: Option<i64>,
    #[schema(required = true)]
    pub x: Option<i64>,
    #[schema(required = true)]
    pub linkedin: Option<i64>,
    /// When the counters were read: they come from the server's settings, read at start.
    #[serde(rename = "fetchedAt")]
    #[schema(required = true)]
    pub fetched_at: Option<String>,
}

/// Get Hoody Social Counters
///
/// Community counters from the `HOODY_SOCIAL_*` settings; null where unset.
#[utoipa::path(get, path = "/meta/social-stats", tag = "meta",
    responses((status = 200, body = Envelope<SocialStatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_social_stats(State(st): State<AppState>) -> ApiOk<SocialStatsOut> {
    let s = &st.cfg.social;
    let any = [s.github, s.telegram, s.discord, s.discord_online, s.x, s.linkedin].iter().any(Option::is_some);
    ApiOk::new(
        "Social counters",
        SocialStatsOut {
            github: s.github,
            telegram: s.telegram,
            discord: s.discord,
            discord_online: s.discord_online,
            x: s.x,
            linkedin: s.linkedin,
            fetched_at: any.then(|| ts(st.started_at)),
        },
    )
}
