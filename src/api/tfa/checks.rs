//! Checks shared by the 2FA handlers.

use crate::{
    api::auth::dto::TokenPair,
    auth::{limits, principal::Principal, sessions, totp},
    db::users::UserRow,
    error::{ApiError, Result},
    state::AppState,
};

/// Password and code attempts on 2FA settings, per user.
const ATTEMPTS_PER_HOUR: i32 = 30;

pub async fn limit(st: &AppState, user_id: &str) -> Result<()> {
    limits::hit(&st.db, &format!("tfa:user:{user_id}"), ATTEMPTS_PER_HOUR, limits::HOUR).await
}

/// The account password, re-entered: 401 `invalid_password` when wrong.
pub async fn password(st: &AppState, user: &UserRow, password: &str) -> Result<()> {
    let ok = password.len() <= crate::auth::password::MAX_BYTES
        && st
            .hasher
            .verify(password.to_owned(), user.password_hash.clone().map(crate::secret::Secret::into_inner))
            .await?
            .ok;
    if ok {
        Ok(())
    } else {
        Err(ApiError::unauthenticated("invalid_password", "The password is not correct"))
    }
}

/// Ten new backup codes and their argon2id hashes (hashed before any transaction opens).
pub async fn new_backup_codes(st: &AppState) -> Result<(Vec<String>, Vec<String>)> {
    let codes = totp::new_backup_codes();
    let mut hashes = Vec::with_capacity(codes.len());
    for code in &codes {
        hashes.push(st.hasher.hash(code.clone()).await?);
    }
    Ok((codes, hashes))
}

/// After turning 2FA on or off: every other session of the user is signed out; the caller's
/// session stays (its current tokens keep working) and gets a new pair as well.
pub async fn keep_only_this_session(st: &AppState, tx: &mut sqlx::PgConnection, me: &Principal) -> Result<TokenPair> {
    let sid = me.session_id().ok_or_else(|| ApiError::forbidden("session_required", "This needs a session"))?;
    sessions::keep_only(st, tx, &me.user.user_id, me.user.session_generation, sid).await
}
