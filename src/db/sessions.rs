//! `user_session`: one row per sign-in. A session's id is the `sid` claim of its JWTs and the
//! `family` of its refresh tokens, so revoking a session revokes its refresh family and the
//! access tokens minted from it (the principal lookup checks the row on every request).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// Why a session ended (kept on the row for the security history and for support).
pub mod reason {
    pub const LOGOUT: &str = "logout";
    pub const REPLAY: &str = "refresh_replayed";
    pub const SECOND_FACTOR: &str = "second_factor_changed";
    pub const REVOKED: &str = "revoked";
}

pub async fn insert(db: impl PgExecutor<'_>, sid: &str, user_id: &str, expires_at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("insert into user_session (sid, user_id, expires_at) values ($1, $2, $3)")
        .bind(sid)
        .bind(user_id)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// A refresh moved the session's end on.
pub async fn extend(db: impl PgExecutor<'_>, sid: &str, expires_at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query("update user_session set expires_at = greatest(expires_at, $2) where sid = $1")
        .bind(sid)
        .bind(expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// End one session of the user: its access tokens fail on their next use and its refresh family
/// is revoked. False when there was no such live session.
pub async fn revoke(db: &mut PgConnection, user_id: &str, sid: &str, why: &str) -> sqlx::Result<bool> {
    let r = sqlx::query(
        "update user_session set revoked_at = now(), revoked_reason = $3 \
         where sid = $1 and user_id = $2 and revoked_at is null",
    )
    .bind(sid)
    .bind(user_id)
    .bind(why)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "update refresh_token set revoked_at = now() where family = $1 and user_id = $2 and revoked_at is null",
    )
    .bind(sid)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// End every session of the user except `keep` (after a security change made from `keep`).
pub async fn revoke_others(db: &mut PgConnection, user_id: &str, keep: &str, why: &str) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update user_session set revoked_at = now(), revoked_reason = $3 \
         where user_id = $1 and sid <> $2 and revoked_at is null",
    )
    .bind(user_id)
    .bind(keep)
    .bind(why)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "update refresh_token set revoked_at = now() where user_id = $1 and family <> $2 and revoked_at is null",
    )
    .bind(user_id)
    .bind(keep)
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected())
}

/// Mark every session of the user ended (logout-all also moves the session generation, which
/// refuses them on its own).
pub async fn revoke_all(db: &mut PgConnection, user_id: &str, why: &str) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "update user_session set revoked_at = now(), revoked_reason = $2 where user_id = $1 and revoked_at is null",
    )
    .bind(user_id)
    .bind(why)
    .execute(&mut *db)
    .await?;
    sqlx::query("update refresh_token set revoked_at = now() where user_id = $1 and revoked_at is null")
        .bind(user_id)
        .execute(&mut *db)
        .await?;
    Ok(r.rows_affected())
}

/// Drop sessions and refresh tokens that expired a day ago or more: no JWT of theirs verifies.
pub async fn prune(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let r = sqlx::query("delete from user_session where expires_at < now() - interval '1 day'").execute(db).await?;
    sqlx::query("delete from refresh_token where expires_at < now() - interval '1 day'").execute(db).await?;
    Ok(r.rows_affected())
}
