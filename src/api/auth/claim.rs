//! `POST /users/auth/identity-claim`: a fresh identity claim bound to an audience, for a
//! first-party session to hand to another party that verifies it offline.

use axum::extract::State;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{access::Session, principal::Auth, signing::IdentityClaim},
    db::ts,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Json,
    state::AppState,
};

const DEFAULT_TTL: i64 = 3600;
/// The server's ceiling (and the contract's maximum).
const MAX_TTL: i64 = 86_400;
const MIN_TTL: i64 = 60;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"audience": "https://app.example.com", "expires_in": 3600}))]
pub struct IdentityClaimIn {
    /// Who the claim is for (e.g. `https://app.example.com`): 1–255 visible ASCII characters.
    pub audience: String,
    /// Seconds, 60–86400 (default 3600); never past the session's own expiry.
    pub expires_in: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityClaimOut {
    /// Signed over `hoody.identity_claim.v1\n<payload_b64>`; the payload carries `aud`.
    pub identity_claim: IdentityClaim,
    /// Seconds.
    pub expires_in: i64,
    pub expires_at: String,
    pub audience: String,
}

/// Issue a fresh audience-bound identity claim
///
/// Sessions only (auth tokens get 403). The claim names the audience in its payload (`aud`) and
/// lives `expires_in` seconds (60–86400, default 3600), but never longer than the session.
/// Verify it offline with the key from `GET /meta/public-key`.
#[utoipa::path(post, path = "/users/auth/identity-claim", tag = "authentication", security(("bearer" = [])),
    request_body = IdentityClaimIn,
    responses((status = 200, body = Envelope<IdentityClaimOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn issue_identity_claim(
    State(st): State<AppState>,
    me: Session,
    Json(input): Json<IdentityClaimIn>,
) -> Result<ApiOk<IdentityClaimOut>> {
    let mut errs = Vec::new();
    let audience = input.audience.as_str();
    if audience.is_empty() || audience.len() > 255 || !audience.bytes().all(|b| b.is_ascii_graphic()) {
        errs.push(FieldError::new("audience", "must be 1–255 visible ASCII characters"));
    }
    let requested = input.expires_in.unwrap_or(DEFAULT_TTL);
    if !(MIN_TTL..=MAX_TTL).contains(&requested) {
        errs.push(FieldError::new("expires_in", format!("must be between {MIN_TTL} and {MAX_TTL} seconds")));
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let now = Utc::now();
    let session_left = match &me.auth {
        Auth::Session(claims) => claims.exp - now.timestamp(),
        Auth::Token(_) => 0,
    };
    let ttl = requested.min(session_left).max(1);
    let ttl = chrono::Duration::seconds(ttl);
    let identity_claim = st.signer.audience_claim(&me.user, audience, ttl);
    Ok(ApiOk::new(
        "Identity claim issued",
        IdentityClaimOut {
            identity_claim,
            expires_in: ttl.num_seconds(),
            expires_at: ts(now + ttl),
            audience: audience.to_owned(),
        },
    ))
}
