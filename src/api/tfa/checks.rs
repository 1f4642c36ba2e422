//! Checks shared by the 2FA handlers.

use crate::{
    auth::limits,
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
        && st.hasher.verify(password.to_owned(), user.password_hash.clone()).await?.ok;
    if ok {
        Ok(())
    } else {
        Err(ApiError::unauthenticated("invalid_password", "The password is not correct"))
    }
}
