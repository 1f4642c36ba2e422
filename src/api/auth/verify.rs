//! Email verification and its resend.

use axum::extract::State;

use super::{
    dto::{EmailIn, SessionOut, TwoFactorChallenge, VerifyEmailIn, VerifyResult},
    intent::{new_intent, Answer},
    mail_requests::{self, Kind},
    signup::{check_email, normalize_email},
};
use crate::{
    auth::{limits, second_factor, secrets, sessions},
    db::{email_tokens, two_factor, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    lifecycle::free_tier,
    state::AppState,
};

/// Verify email address
///
/// Consumes the single-use token from the verification mail (valid 24 hours; only the newest
/// link of an account works) and signs the user in.
#[utoipa::path(post, path = "/auth/verify-email", tag = "authentication", request_body = VerifyEmailIn,
    responses((status = 200, body = Envelope<VerifyResult>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn verify_email(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<VerifyEmailIn>,
) -> Result<ApiOk<VerifyResult>> {
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("verify:ip:{}", client.ip), lim.email_actions_per_ip, limits::HOUR).await?;
    let invalid = || ApiError::bad_request("invalid_token", "Invalid or expired verification token");
    let answer = Answer::from_request(input.response_mode, input.code_challenge.as_deref())?;
    if input.token.is_empty() || input.token.len() > 256 {
        return Err(invalid());
    }
    let mut tx = st.db.begin().await?;
    let user_id = email_tokens::consume(&mut *tx, &secrets::sha256(&input.token), email_tokens::VERIFY)
        .await?
        .ok_or_else(invalid)?;
    users::mark_verified(&mut *tx, &user_id).await?;
    let user = users::by_id(&mut *tx, &user_id).await?.ok_or_else(invalid)?;
    if user.is_banned {
        tx.commit().await?;
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    // Every way in honours the second factor.
    if two_factor::enabled(&mut *tx, &user.user_id).await? {
        let temp_token = second_factor::new_challenge(&mut *tx, &user.user_id, answer.challenge()).await?;
        tx.commit().await?;
        free_tier::begin(&st, &user.user_id, user_region(&st, &user.user_id).await.as_deref()).await;
        let challenge = TwoFactorChallenge::totp(temp_token);
        return Ok(ApiOk::new("Email verified; two-factor verification required", VerifyResult::TwoFactor(challenge)));
    }
    if let Answer::Intent(challenge) = &answer {
        let intent = new_intent(&mut *tx, &user.user_id, challenge).await?;
        tx.commit().await?;
        free_tier::begin(&st, &user.user_id, user_region(&st, &user.user_id).await.as_deref()).await;
        return Ok(ApiOk::new("Email verified; exchange the auth intent", VerifyResult::Intent(intent)));
    }
    let tokens = sessions::start(&st, &mut tx, &user.user_id, user.session_generation).await?;
    tx.commit().await?;
    free_tier::begin(&st, &user.user_id, user_region(&st, &user.user_id).await.as_deref()).await;
    let out = SessionOut::new(&st, tokens, &user).await?;
    Ok(ApiOk::new("Email verified", VerifyResult::Session(Box::new(out))))
}

/// Resend verification email
///
/// Always 200 for a valid address. An unverified account gets a new link and every older link
/// stops working. The answer comes before any account is looked up (the mail is made in the
/// background), so it is the same, and as fast, for every address. 422 for an address the mail
/// relay cannot take (see signup).
#[utoipa::path(post, path = "/auth/resend-verification", tag = "authentication", request_body = EmailIn,
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn resend_verification(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<EmailIn>,
) -> Result<ApiOk<()>> {
    let email = normalize_email(&input.email);
    check_email(&email).map_err(|e| ApiError::validation(vec![e]))?;
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("resend:ip:{}", client.ip), lim.email_actions_per_ip, limits::HOUR).await?;
    mail_requests::submit(&st, Kind::Verify, &email).await?;
    Ok(ApiOk::new("If the address belongs to an unverified account, a new verification email is on its way", ()))
}

/// The region the user chose at signup, if any.
pub(crate) async fn user_region(st: &AppState, user_id: &str) -> Option<String> {
    users::region(&st.db, user_id).await.ok().flatten()
}
