//! Forgotten passwords: the reset mail and the reset itself.

use axum::extract::State;

use super::{
    dto::{EmailIn, ResetPasswordIn},
    mail_requests::{self, Kind},
    signup::{check_email, normalize_email},
};
use crate::{
    auth::{limits, password, secrets},
    db::{email_tokens, sessions, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    mail::templates,
    state::AppState,
};

/// Request password reset
///
/// Always 200 for a valid address. A known account gets a single-use link valid for 30 minutes;
/// a newer request cancels older links. The answer comes before any account is looked up (the
/// mail is made in the background), so it is the same, and as fast, for every address. 422 for an
/// address the mail relay cannot take (see signup).
#[utoipa::path(post, path = "/auth/forgot-password", tag = "authentication", request_body = EmailIn,
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn forgot_password(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<EmailIn>,
) -> Result<ApiOk<()>> {
    let email = normalize_email(&input.email);
    check_email(&email).map_err(|e| ApiError::validation(vec![e]))?;
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("forgot:ip:{}", client.ip), lim.email_actions_per_ip, limits::HOUR).await?;
    mail_requests::submit(&st, Kind::Reset, &email).await?;
    Ok(ApiOk::new("If the address belongs to an account, a password reset email is on its way", ()))
}

/// Reset password
///
/// Consumes the reset token, sets the new password and signs out every session. It does not
/// sign the user in.
#[utoipa::path(post, path = "/auth/reset-password", tag = "authentication", request_body = ResetPasswordIn,
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn reset_password(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<ResetPasswordIn>,
) -> Result<ApiOk<()>> {
    let errors = password::policy("password", &input.password, password::Classes::All);
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("reset:ip:{}", client.ip), lim.email_actions_per_ip, limits::HOUR).await?;
    let invalid = || ApiError::bad_request("invalid_token", "Invalid or expired password reset token");
    if input.token.is_empty() || input.token.len() > 256 {
        return Err(invalid());
    }
    let hash = st.hasher.hash(input.password.into_inner()).await?;
    let mut tx = st.db.begin().await?;
    let user_id = email_tokens::consume(&mut *tx, &secrets::sha256(&input.token), email_tokens::RESET)
        .await?
        .ok_or_else(invalid)?;
    users::set_password(&mut *tx, &user_id, &hash).await?;
    // The link arrived in the mailbox, which proves the address as well as a verification link.
    users::mark_verified(&mut *tx, &user_id).await?;
    email_tokens::cancel(&mut *tx, &user_id, email_tokens::RESET).await?;
    sessions::sign_out_everywhere(&mut tx, &user_id).await?;
    crate::signals::record(&mut tx, &user_id, "password.reset", Some(&client.ip.to_string())).await?;
    let email = users::email(&mut *tx, &user_id).await?;
    let m = templates::password_changed();
    st.mailer.enqueue(&mut *tx, &email, m.subject, &m.body).await?;
    let _forget = st.principals.forget_on_drop(&user_id);
    tx.commit().await?;
    st.mailer.wake();
    Ok(ApiOk::new("Password reset successful. Log in with the new password.", ()))
}
