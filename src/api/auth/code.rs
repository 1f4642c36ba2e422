//! PKCE authorization codes for first-party apps: a signed-in app asks for a code bound to an
//! allow-listed `redirect_uri` and an S256 challenge, hands it to another of our apps through
//! that redirect, and that app exchanges it (with the verifier) for its own session. One use,
//! 60 seconds.

use crate::secret::Secret;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::dto::SessionOut;
use crate::{
    auth::{access::Session, pkce, secrets},
    db::{auth_codes, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Json,
    state::AppState,
};

const CODE_TTL: chrono::Duration = chrono::Duration::seconds(60);

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSZ8vjHc",
    "redirect_uri": "https://app.hoody.com/auth/callback"
}))]
pub struct AuthorizeIn {
    /// PKCE S256 challenge (43 base64url characters); `plain` is not accepted.
    pub code_challenge: String,
    /// Where the code is handed over; must be on `HOODY_OAUTH_REDIRECT_ALLOWLIST` exactly.
    pub redirect_uri: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = AuthorizationCodeOut)]
pub struct AuthorizeOut {
    /// Single use; exchange it at `POST /auth/exchange` within `expires_in` seconds.
    pub code: String,
    pub redirect_uri: String,
    /// Seconds.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "code": "ac_5c2e8f1a9b7d4e6f",
    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    "redirect_uri": "https://app.hoody.com/auth/callback"
}))]
pub struct CodeExchangeIn {
    pub code: Secret,
    /// The verifier whose S256 hash was the `code_challenge`.
    pub code_verifier: Secret,
    /// The same `redirect_uri` the code was made for.
    pub redirect_uri: String,
}

/// Begin a PKCE OAuth authorization
///
/// Sessions only. Returns a single-use `code` (60 seconds) bound to the caller, the S256
/// `code_challenge` and the allow-listed `redirect_uri`.
#[utoipa::path(post, path = "/auth/authorize", tag = "authentication", security(("bearer" = [])), request_body = AuthorizeIn,
    responses((status = 200, body = Envelope<AuthorizeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn create_authorization_code(
    State(st): State<AppState>,
    me: Session,
    Json(input): Json<AuthorizeIn>,
) -> Result<ApiOk<AuthorizeOut>> {
    let mut errs = Vec::new();
    if !pkce::valid_challenge(&input.code_challenge) {
        errs.push(FieldError::new("code_challenge", "must be an S256 challenge (43 base64url characters)"));
    }
    // Exact match only, as for OAuth: no prefixes, no look-alike hosts, no decoding.
    if !st.cfg.oauth_redirects.contains(&input.redirect_uri) {
        errs.push(FieldError::new("redirect_uri", "is not on the allowlist"));
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let code = secrets::random_token();
    let new = auth_codes::NewCode {
        code_hash: &secrets::sha256(&code),
        user_id: &me.user.user_id,
        code_challenge: &input.code_challenge,
        redirect_uri: &input.redirect_uri,
        session_generation: me.user.session_generation,
        ttl: CODE_TTL,
    };
    auth_codes::insert_code(&st.db, &new).await?;
    let out = AuthorizeOut { code, redirect_uri: input.redirect_uri, expires_in: CODE_TTL.num_seconds() };
    Ok(ApiOk::new("Authorization code issued", out))
}

/// Exchange a PKCE authorization code for tokens
///
/// Public. The code from `POST /auth/authorize`, its `redirect_uri` and the PKCE `code_verifier`.
/// One use: a wrong verifier or redirect_uri also spends it. Refused when the session that made
/// it was signed out everywhere since.
#[utoipa::path(post, path = "/auth/exchange", tag = "authentication", request_body = CodeExchangeIn,
    responses((status = 200, body = Envelope<SessionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn exchange_authorization_code(
    State(st): State<AppState>,
    Json(input): Json<CodeExchangeIn>,
) -> Result<ApiOk<SessionOut>> {
    let invalid = || ApiError::bad_request("invalid_grant", "Invalid, expired or already used code");
    if input.code.is_empty() || input.code.len() > 256 {
        return Err(invalid());
    }
    let mut tx = st.db.begin().await?;
    let code = auth_codes::spend_code(&mut *tx, &secrets::sha256(&input.code)).await?.ok_or_else(invalid)?;
    // Spent whatever follows: a verifier cannot be guessed at leisure.
    let refusal = if code.redirect_uri != input.redirect_uri {
        Some(ApiError::bad_request("redirect_uri_mismatch", "redirect_uri differs from the one the code was made for"))
    } else if !pkce::verifies(&input.code_verifier, &code.code_challenge) {
        Some(ApiError::bad_request("invalid_code_verifier", "code_verifier does not match the code_challenge"))
    } else {
        None
    };
    if let Some(e) = refusal {
        tx.commit().await?;
        return Err(e);
    }
    let user = users::by_id(&mut *tx, &code.user_id).await?.ok_or_else(invalid)?;
    if user.session_generation != code.session_generation {
        tx.commit().await?;
        return Err(invalid());
    }
    if user.is_banned {
        tx.commit().await?;
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    let tokens = crate::auth::sessions::start(&st, &mut tx, &user.user_id, user.session_generation).await?;
    tx.commit().await?;
    let out = SessionOut::new(&st, tokens, &user).await?;
    Ok(ApiOk::new("Authorization code exchanged", out))
}
