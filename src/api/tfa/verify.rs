//! The second step of a login: the `temp_token` and a code.

use axum::{extract::State, http::HeaderMap};

use super::dto::{TwoFactorResult, VerifyIn, VerifyOut};
use crate::{
    api::auth::{
        device::{self, DeviceStepOut},
        dto::{ResponseMode, SessionOut},
        intent::{new_intent, Answer},
    },
    auth::{principal::bearer, second_factor, sessions},
    db::users,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    state::AppState,
};

/// Verify 2FA Code During Login
///
/// `temp_token` (from the login answer, in the body or as `Authorization: Bearer`) and a TOTP or
/// backup code. The temp_token lives 5 minutes, works once, and dies after 5 wrong codes.
#[utoipa::path(post, path = "/users/auth/2fa/verify", tag = "tfa", request_body = VerifyIn,
    responses((status = 200, body = Envelope<TwoFactorResult>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn verify_two_factor(
    State(st): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Json(input): Json<VerifyIn>,
) -> Result<ApiOk<TwoFactorResult>> {
    let header = bearer(&headers)?;
    let Some(temp_token) =
        input.temp_token.as_deref().map(String::as_str).or(header).filter(|t| !t.is_empty() && t.len() <= 256)
    else {
        return Err(ApiError::unauthenticated("temp_token_required", "Send the temp_token from the login answer"));
    };
    let invalid = || ApiError::unauthenticated("invalid_temp_token", "The login attempt expired; log in again");
    let (user_id, login_challenge, device_id) =
        second_factor::challenge_attempt(&st.db, temp_token).await?.ok_or_else(invalid)?;
    // A login begun in intent mode ends in intent mode: the PKCE binding it asked for holds.
    let answer = match (input.response_mode.unwrap_or_default(), login_challenge) {
        (_, Some(challenge)) => Answer::Intent(challenge),
        (ResponseMode::Intent, None) => {
            return Err(ApiError::invalid("response_mode", "intent mode needs a code_challenge at login"));
        }
        (ResponseMode::Tokens, None) => Answer::Tokens,
    };
    second_factor::check_code(&st, &user_id, &input.code, true).await?;
    if !second_factor::close_challenge(&st.db, temp_token).await? {
        return Err(invalid());
    }
    let user = users::by_id(&st.db, &user_id).await?.ok_or_else(invalid)?;
    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    // Begun on the device verification page: the code approves that device; the tokens go to the
    // polling CLI, not to this page.
    if let Some(device_id) = device_id {
        if !device::approve(&st.db, &device_id, &user, None).await? {
            return Err(ApiError::bad_request("device_not_pending", "The device sign-in expired or was decided"));
        }
        let out = DeviceStepOut::status("approved");
        return Ok(ApiOk::new("Two-factor verification successful; device approved", TwoFactorResult::Device(out)));
    }
    if let Answer::Intent(challenge) = &answer {
        let intent = new_intent(&st.db, &user.user_id, challenge).await?;
        return Ok(ApiOk::new(
            "Two-factor verification successful; exchange the auth intent",
            TwoFactorResult::Intent(intent),
        ));
    }
    let mut tx = st.db.begin().await?;
    let tokens = sessions::start(&st, &mut tx, &user.user_id, user.session_generation).await?;
    crate::signals::record_login(&mut tx, &user.user_id, &client.ip.to_string(), None, None).await?;
    tx.commit().await?;
    let session = SessionOut::new(&st, tokens, &user).await?;
    let out = VerifyOut { status: "approved", session };
    Ok(ApiOk::new("Two-factor verification successful", TwoFactorResult::Session(Box::new(out))))
}
