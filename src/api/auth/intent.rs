//! Intent mode: a sign-in answered with an opaque, single-use `auth_intent_token` that only the
//! holder of the PKCE verifier can turn into tokens, and the cancel of a pending sign-in step.

use axum::{extract::State, http::HeaderMap};
use serde::Serialize;
use sqlx::PgExecutor;
use utoipa::ToSchema;

use super::dto::{ExchangeIn, IntentOut, ResponseMode, SessionOut};
use crate::{
    auth::{pkce, principal::bearer, second_factor, secrets, sessions},
    db::{auth_codes, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    state::AppState,
};

const INTENT_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// How a completed sign-in is answered.
#[derive(Debug, Clone)]
pub enum Answer {
    Tokens,
    /// An auth intent bound to this S256 challenge.
    Intent(String),
}

impl Answer {
    /// From a request's `response_mode` and `code_challenge`: intent mode needs a valid S256
    /// challenge (422 otherwise); a challenge given in tokens mode is ignored.
    pub fn from_request(mode: Option<ResponseMode>, challenge: Option<&str>) -> Result<Self> {
        match mode.unwrap_or_default() {
            ResponseMode::Tokens => Ok(Self::Tokens),
            ResponseMode::Intent => match challenge {
                Some(c) if pkce::valid_challenge(c) => Ok(Self::Intent(c.to_owned())),
                Some(_) => Err(ApiError::invalid(
                    "code_challenge",
                    "code_challenge must be an S256 challenge: 43 base64url characters (plain is not accepted)",
                )),
                None => {
                    Err(ApiError::invalid("code_challenge", "code_challenge is required when response_mode is intent"))
                }
            },
        }
    }

    pub fn challenge(&self) -> Option<&str> {
        match self {
            Self::Tokens => None,
            Self::Intent(c) => Some(c),
        }
    }
}

/// Record an auth intent for `user_id` and return its token.
pub async fn new_intent(db: impl PgExecutor<'_>, user_id: &str, challenge: &str) -> sqlx::Result<IntentOut> {
    let token = secrets::random_token();
    auth_codes::insert_intent(db, &secrets::sha256(&token), user_id, challenge, INTENT_TTL).await?;
    Ok(IntentOut { auth_intent_token: token, expires_in: INTENT_TTL.num_seconds() })
}

/// Exchange an auth intent for tokens
///
/// The `auth_intent_token` from a sign-in in intent mode, with the PKCE `code_verifier` whose S256
/// hash was its `code_challenge`. One use: a wrong verifier also spends it. The sign-in is
/// recorded here (the account's security history, and a new address told to the account), for
/// every sign-in answered in intent mode: a password, a 2FA step or an OAuth provider.
#[utoipa::path(post, path = "/auth/intent/exchange", tag = "authentication", request_body = ExchangeIn,
    responses((status = 200, body = Envelope<SessionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn exchange_auth_intent(
    State(st): State<AppState>,
    client: crate::extract::ClientIp,
    headers: HeaderMap,
    Json(input): Json<ExchangeIn>,
) -> Result<ApiOk<SessionOut>> {
    let invalid = || ApiError::bad_request("invalid_auth_intent", "Invalid, expired or already used auth_intent_token");
    if input.auth_intent_token.is_empty() || input.auth_intent_token.len() > 256 {
        return Err(invalid());
    }
    let mut tx = st.db.begin().await?;
    let found = auth_codes::spend_intent(&mut *tx, &secrets::sha256(&input.auth_intent_token)).await?;
    let (user_id, challenge) = found.ok_or_else(invalid)?;
    if !pkce::verifies(&input.code_verifier, &challenge) {
        // Spend the intent anyway: a verifier cannot be guessed at leisure.
        tx.commit().await?;
        return Err(ApiError::bad_request("invalid_code_verifier", "code_verifier does not match the code_challenge"));
    }
    let user = users::by_id(&mut *tx, &user_id).await?.ok_or_else(invalid)?;
    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    let tokens = sessions::start(&st, &mut tx, &user.user_id, user.session_generation).await?;
    let agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    crate::signals::record_login(&mut tx, &user.user_id, &client.ip.to_string(), agent, None).await?;
    tx.commit().await?;
    let out = SessionOut::new(&st, tokens, &user).await?;
    Ok(ApiOk::new("Auth intent exchanged", out))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelOut {
    /// Whether a pending intent or 2FA step was found and cancelled.
    pub cancelled: bool,
}

/// Cancel a pending OAuth AuthIntent or 2FA temp_token
///
/// Send the `auth_intent_token` or the `temp_token` as `Authorization: Bearer`.
#[utoipa::path(post, path = "/auth/intent/cancel", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = Envelope<CancelOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn cancel_auth_intent(State(st): State<AppState>, headers: HeaderMap) -> Result<ApiOk<CancelOut>> {
    let token = bearer(&headers)?.filter(|t| t.len() <= 256).ok_or_else(|| {
        ApiError::unauthenticated("missing_token", "Send the auth_intent_token or temp_token as Bearer")
    })?;
    let cancelled = auth_codes::cancel_intent(&st.db, &secrets::sha256(token)).await?
        || second_factor::close_challenge(&st.db, token).await?;
    Ok(ApiOk::new(if cancelled { "Cancelled" } else { "Nothing pending to cancel" }, CancelOut { cancelled }))
}
