//! Turning 2FA on: setup, confirmation, and its status.

use axum::extract::State;

use super::{
    checks,
    dto::{CodeIn, EnabledOut, PasswordIn, SetupOut, StatusOut},
};
use crate::{
    auth::{
        access::{Require, Session},
        permissions::perm,
        second_factor::{self, aad},
        totp,
    },
    db::{security_events, ts, two_factor},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json},
    state::AppState,
};

/// Initialize 2FA Setup
///
/// Needs the password. Returns the QR code, the manual key and ten backup codes; 2FA is on
/// only after `verify-setup` confirms a code. A new setup replaces an unconfirmed one.
#[utoipa::path(post, path = "/users/auth/2fa/setup", tag = "tfa", security(("bearer" = [])), request_body = PasswordIn,
    responses((status = 200, body = Envelope<SetupOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn setup_two_factor(
    State(st): State<AppState>,
    me: Session,
    Json(input): Json<PasswordIn>,
) -> Result<ApiOk<SetupOut>> {
    let user = &me.user;
    checks::limit(&st, &user.user_id).await?;
    checks::password(&st, user, &input.password).await?;
    if two_factor::enabled(&st.db, &user.user_id).await? {
        return Err(ApiError::conflict("two_factor_enabled", "Two-factor authentication is already on"));
    }
    let secret = totp::new_secret();
    let sealed = st.sealer.seal(&aad(&user.user_id), &secret)?;
    let uri = totp::otpauth_uri(&user.email, &secret);
    // Encoding a PNG is CPU work: off the async workers.
    let qr_code = tokio::task::spawn_blocking(move || totp::qr_data_uri(&uri))
        .await
        .map_err(|e| anyhow::anyhow!("QR encoding panicked: {e}"))??;
    let (codes, hashes) = checks::new_backup_codes(&st).await?;
    let mut tx = st.db.begin().await?;
    two_factor::set_pending_secret(&mut *tx, &user.user_id, &sealed).await?;
    two_factor::replace_backup_codes(&mut tx, &user.user_id, &hashes).await?;
    tx.commit().await?;
    let out = SetupOut { qr_code, manual_entry_key: totp::manual_key(&secret), backup_codes: codes };
    Ok(ApiOk::new("Scan the QR code, then confirm with a code from the app", out))
}

/// Complete 2FA Setup
///
/// Confirms the setup with a current code. Every other session is signed out; the calling
/// session stays signed in (its tokens keep working) and the answer carries a new pair for it.
#[utoipa::path(post, path = "/users/auth/2fa/verify-setup", tag = "tfa", security(("bearer" = [])), request_body = CodeIn,
    responses((status = 200, body = Envelope<EnabledOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn verify_two_factor_setup(
    State(st): State<AppState>,
    me: Session,
    client: ClientIp,
    Json(input): Json<CodeIn>,
) -> Result<ApiOk<EnabledOut>> {
    let user_id = me.user.user_id.as_str();
    checks::limit(&st, user_id).await?;
    match two_factor::totp(&st.db, user_id).await? {
        None => return Err(ApiError::precondition("two_factor_not_set_up", "Call /users/auth/2fa/setup first")),
        Some(row) if row.enabled_at.is_some() => {
            return Err(ApiError::conflict("two_factor_enabled", "Two-factor authentication is already on"))
        }
        Some(_) => {}
    }
    second_factor::confirm_setup(&st, user_id, &input.code).await?;
    let mut tx = st.db.begin().await?;
    let pair = checks::keep_only_this_session(&st, &mut tx, &me).await?;
    let ip = client.ip.to_string();
    security_events::record(&mut *tx, user_id, "2fa.enabled", Some(&ip), None).await?;
    let enabled_at = two_factor::enabled_at(&mut *tx, user_id).await?;
    let _forget = st.principals.forget_on_drop(user_id);
    tx.commit().await?;
    let out = EnabledOut {
        enabled: true,
        enabled_at: ts(enabled_at),
        token: pair.token,
        refresh_token: pair.refresh_token,
        sessions_revoked: true,
    };
    Ok(ApiOk::new("Two-factor authentication enabled", out))
}

/// Get 2FA Status
#[utoipa::path(get, path = "/users/auth/2fa/status", tag = "tfa", security(("bearer" = [])),
    responses((status = 200, body = Envelope<StatusOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_two_factor_status(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
) -> Result<ApiOk<StatusOut>> {
    let user_id = me.user.user_id.as_str();
    let row = two_factor::totp(&st.db, user_id).await?;
    let remaining = two_factor::count_unused_backup_codes(&st.db, user_id).await?;
    let enabled_at = row.as_ref().and_then(|r| r.enabled_at);
    let out = StatusOut {
        enabled: enabled_at.is_some(),
        verified: enabled_at.is_some(),
        enabled_at: enabled_at.map(ts),
        backup_codes_remaining: if enabled_at.is_some() { remaining } else { 0 },
        require_for_tokens: row.is_some_and(|r| r.enabled_at.is_some() && r.require_for_tokens),
    };
    Ok(ApiOk::new("Two-factor status retrieved", out))
}
