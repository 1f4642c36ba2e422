//! `user_session` and `refresh_token`: one session per sign-in. A session's id is the `sid` claim
//! of its JWTs and the `family` of its refresh tokens, so revoking a session revokes its refresh
//! family and the access tokens minted from it (the principal lookup checks the row on every
//! request).

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
    sqlx::query!("insert into user_session (sid, user_id, expires_at) values ($1, $2, $3)", sid, user_id, expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// A refresh moved the session's end on.
pub async fn extend(db: impl PgExecutor<'_>, sid: &str, expires_at: DateTime<Utc>) -> sqlx::Result<()> {
    sqlx::query!("update user_session set expires_at = greatest(expires_at, $2) where sid = $1", sid, expires_at)
        .execute(db)
        .await?;
    Ok(())
}

/// End one session of the user: its access tokens fail on their next use and its refresh family
/// is revoked. False when there was no such live session.
pub async fn revoke(db: &mut PgConnection, user_id: &str, sid: &str, why: &str) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update user_session set revoked_at = now(), revoked_reason = $3 \
         where sid = $1 and user_id = $2 and revoked_at is null",
        sid,
        user_id,
        why
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "update refresh_token set revoked_at = now() where family = $1 and user_id = $2 and revoked_at is null",
        sid,
        user_id
    )
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// End every session of the user except `keep` (after a security change made from `keep`).
pub async fn revoke_others(db: &mut PgConnection, user_id: &str, keep: &str, why: &str) -> sqlx::Result<u64> {
    let r = sqlx::query!(
        "update user_session set revoked_at = now(), revoked_reason = $3 \
         where user_id = $1 and sid <> $2 and revoked_at is null",
        user_id,
        keep,
        why
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!(
        "update refresh_token set revoked_at = now() where user_id = $1 and family <> $2 and revoked_at is null",
        user_id,
        keep
    )
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected())
}

/// Mark every session of the user ended (logout-all also moves the session generation, which
/// refuses them on its own).
pub async fn revoke_all(db: &mut PgConnection, user_id: &str, why: &str) -> sqlx::Result<u64> {
    let r = sqlx::query!(
        "update user_session set revoked_at = now(), revoked_reason = $2 where user_id = $1 and revoked_at is null",
        user_id,
        why
    )
    .execute(&mut *db)
    .await?;
    sqlx::query!("update refresh_token set revoked_at = now() where user_id = $1 and revoked_at is null", user_id)
        .execute(&mut *db)
        .await?;
    Ok(r.rows_affected())
}

/// Logout-all: every JWT issued before this carries an older generation and is refused; every
/// session and refresh token is marked revoked as well.
pub async fn sign_out_everywhere(db: &mut PgConnection, user_id: &str) -> sqlx::Result<()> {
    super::users::bump_session_generation(&mut *db, user_id).await?;
    revoke_all(db, user_id, reason::LOGOUT).await?;
    Ok(())
}

pub async fn insert_refresh(
    db: impl PgExecutor<'_>,
    jti: &str,
    user_id: &str,
    family: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into refresh_token (jti, user_id, family, expires_at) values ($1, $2, $3, $4)",
        jti,
        user_id,
        family,
        expires_at
    )
    .execute(db)
    .await?;
    Ok(())
}

pub enum RefreshUse {
    Fresh {
        family: String,
    },
    /// Already used: a replay. The caller revokes the family's session.
    Replayed {
        family: String,
    },
    Unknown,
}

/// Use a refresh token once; a second use is reported as a replay.
pub async fn use_refresh(db: &mut PgConnection, jti: &str, user_id: &str) -> sqlx::Result<RefreshUse> {
    let family = sqlx::query_scalar!(
        "update refresh_token set used_at = now() \
         where jti = $1 and user_id = $2 and used_at is null and revoked_at is null and expires_at > now() \
         returning family",
        jti,
        user_id
    )
    .fetch_optional(&mut *db)
    .await?;
    if let Some(family) = family {
        return Ok(RefreshUse::Fresh { family });
    }
    let replayed = sqlx::query_scalar!(
        "select family from refresh_token where jti = $1 and user_id = $2 and used_at is not null",
        jti,
        user_id
    )
    .fetch_optional(&mut *db)
    .await?;
    Ok(match replayed {
        Some(family) => RefreshUse::Replayed { family },
        None => RefreshUse::Unknown,
    })
}

/// Drop sessions and refresh tokens that expired a day ago or more: no JWT of theirs verifies.
pub async fn prune(db: &sqlx::PgPool) -> sqlx::Result<u64> {
    let r = sqlx::query!("delete from user_session where expires_at < now() - interval '1 day'").execute(db).await?;
    sqlx::query!("delete from refresh_token where expires_at < now() - interval '1 day'").execute(db).await?;
    Ok(r.rows_affected())
}
