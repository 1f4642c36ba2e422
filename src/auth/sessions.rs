//! Sessions: every sign-in opens one (`sid`), shared by its refresh family and the access tokens
//! minted from it. [`start`] is the only way a sign-in gets tokens; [`renew`] mints the next pair
//! of a session (refresh rotation, or new tokens for the caller after a security change).
//! Revocation (one session, the others, or all) is in [`crate::db::sessions`] and logout-all; the
//! principal lookup checks the session on every request, so it holds from the next request on,
//! on every replica (there is no cache).

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::jwt::{TokenType, REFRESH_TTL};
use crate::{
    api::auth::dto::TokenPair,
    db::{sessions, ts},
    error::Result,
    state::AppState,
};

/// Open a new session for a user who has just signed in (password, email link, 2FA step, auth
/// intent, device flow…) and mint its first access/refresh pair. `generation` is the user's
/// `session_generation` as read now: if logout-all moved it meanwhile, the pair is refused at
/// once. Run it inside the transaction that completes the sign-in.
pub async fn start(st: &AppState, db: &mut PgConnection, user_id: &str, generation: i64) -> Result<TokenPair> {
    // A public id (24 hex): a session may be listed and revoked by id.
    let sid = crate::db::new_id();
    sessions::insert(&mut *db, &sid, user_id, Utc::now() + REFRESH_TTL).await?;
    renew(st, db, user_id, generation, &sid).await
}

/// The next access/refresh pair of the live session `sid` (the refresh token joins its family).
pub async fn renew(
    st: &AppState,
    db: &mut PgConnection,
    user_id: &str,
    generation: i64,
    sid: &str,
) -> Result<TokenPair> {
    let access = st.jwt.issue_session(user_id, TokenType::Access, generation, sid)?;
    let refresh = st.jwt.issue_session(user_id, TokenType::Refresh, generation, sid)?;
    sessions::insert_refresh(&mut *db, &refresh.jti, user_id, sid, refresh.expires_at).await?;
    sessions::extend(&mut *db, sid, refresh.expires_at).await?;
    Ok(pair(access.token, access.expires_at, refresh.token, refresh.expires_at))
}

/// After a security change made from session `keep` (2FA turned on or off): every other session
/// of the user ends; `keep` stays signed in (its current tokens keep working) and gets a new pair.
pub async fn keep_only(
    st: &AppState,
    db: &mut PgConnection,
    user_id: &str,
    generation: i64,
    keep: &str,
) -> Result<TokenPair> {
    sessions::revoke_others(&mut *db, user_id, keep, sessions::reason::SECOND_FACTOR).await?;
    renew(st, db, user_id, generation, keep).await
}

fn pair(token: String, expires_at: DateTime<Utc>, refresh_token: String, refresh_at: DateTime<Utc>) -> TokenPair {
    let now = Utc::now();
    TokenPair {
        token,
        refresh_token,
        expires_at: ts(expires_at),
        expires_in: (expires_at - now).num_seconds(),
        refresh_expires_at: ts(refresh_at),
        refresh_expires_in: (refresh_at - now).num_seconds(),
    }
}
