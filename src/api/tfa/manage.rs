//! Changing 2FA once it is on: disable, new backup codes, the token gate.

use axum::extract::State;

use super::{
    checks,
    dto::{BackupCodesOut, DisabledOut, PasswordCodeIn, TokenGateIn, TokenGateOut},
};
use crate::{
    auth::{access::Session, second_factor},
    db::{security_events, two_factor},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    state::AppState,
};

async fn require_enabled(st: &AppState, user_id: &str) -> Result<()> {
    if two_factor::enabled(&st.db, user_id).await? {
        Ok(())
    } else {
        Err(ApiError::precondition("two_factor_not_enabled", "Two-factor authentication is not on"))
    }
}

/// Disable 2FA
///
/// Needs the password and a TOTP or backup code. Every other session is signed out; the calling
/// session stays signed in (its tokens keep working) and the answer carries a new pair for it.
#[utoipa::path(delete, path = "/users/auth/2fa", tag = "tfa", security(("bearer" = [])), request_body = PasswordCodeIn,
    responses((status = 200, body = Envelope<DisabledOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn disable_two_factor(
    State(st): State<AppState>,
    me: Session,
    client: ClientIp,
    Json(input): Json<PasswordCodeIn>,
) -> Result<ApiOk<DisabledOut>> {
    let user_id = me.user.user_id.as_str();
    checks::limit(&st, user_id).await?;
    require_enabled(&st, user_id).await?;
    checks::password(&st, &me.user, &input.password).await?;
    second_factor::check_code(&st, user_id, &input.code, true).await?;
    let mut tx = st.db.begin().await?;
    two_factor::delete_totp(&mut *tx, user_id).await?;
    two_factor::delete_backup_codes(&mut *tx, user_id).await?;
    let pair = checks::keep_only_this_session(&st, &mut tx, &me).await?;
    let ip = client.ip.to_string();
    crate::signals::record(&mut tx, user_id, "2fa.disabled", Some(&ip)).await?;
    let _forget = st.principals.forget_on_drop(user_id);
    tx.commit().await?;
    let out = DisabledOut { token: pair.token, refresh_token: pair.refresh_token, sessions_revoked: true };
    Ok(ApiOk::new("Two-factor authentication disabled", out))
}

/// Regenerate Backup Codes
///
/// Needs the password and a six-digit TOTP code (a backup code is refused with 400). Every
/// older backup code stops working.
#[utoipa::path(post, path = "/users/auth/2fa/backup-codes/regenerate", tag = "tfa", security(("bearer" = [])),
    request_body = PasswordCodeIn,
    responses((status = 200, body = Envelope<BackupCodesOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn regenerate_backup_codes(
    State(st): State<AppState>,
    me: Session,
    client: ClientIp,
    Json(input): Json<PasswordCodeIn>,
) -> Result<ApiOk<BackupCodesOut>> {
    let user_id = me.user.user_id.as_str();
    let code = input.code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("totp_code_required", "code must be a six-digit code from the app"));
    }
    checks::limit(&st, user_id).await?;
    require_enabled(&st, user_id).await?;
    checks::password(&st, &me.user, &input.password).await?;
    second_factor::check_code(&st, user_id, code, false).await?;
    let (codes, hashes) = checks::new_backup_codes(&st).await?;
    let mut tx = st.db.begin().await?;
    two_factor::replace_backup_codes(&mut tx, user_id, &hashes).await?;
    let ip = client.ip.to_string();
    security_events::record(&mut *tx, user_id, "2fa.backup_codes_regenerated", Some(&ip), None).await?;
    tx.commit().await?;
    Ok(ApiOk::new("New backup codes generated; the old ones no longer work", BackupCodesOut { backup_codes: codes }))
}

/// Set 2FA token gate preference
///
/// On (the default), changes to auth tokens made with a session need an OTP. Turning it off
/// needs the password and a TOTP or backup code.
#[utoipa::path(put, path = "/users/auth/2fa/token-gate", tag = "tfa", security(("bearer" = [])), request_body = TokenGateIn,
    responses((status = 200, body = Envelope<TokenGateOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn set_token_gate(
    State(st): State<AppState>,
    me: Session,
    client: ClientIp,
    Json(input): Json<TokenGateIn>,
) -> Result<ApiOk<TokenGateOut>> {
    let user_id = me.user.user_id.as_str();
    checks::limit(&st, user_id).await?;
    require_enabled(&st, user_id).await?;
    if !input.enabled {
        let (Some(password), Some(otp)) = (input.password.as_deref(), input.otp_code.as_deref()) else {
            return Err(ApiError::forbidden("otp_required", "Turning the gate off needs password and otp_code"));
        };
        checks::password(&st, &me.user, password).await?;
        second_factor::check_code(&st, user_id, otp, true).await?;
        let ip = client.ip.to_string();
        security_events::record(&st.db, user_id, "2fa.token_gate_disabled", Some(&ip), None).await?;
    }
    two_factor::set_require_for_tokens(&st.db, user_id, input.enabled).await?;
    Ok(ApiOk::new("Token gate updated", TokenGateOut { require_for_tokens: input.enabled }))
}
