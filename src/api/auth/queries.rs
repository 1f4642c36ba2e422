//! SQL of the `authentication` tag.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::auth::secrets;

pub const VERIFY: &str = "verify_email";
pub const RESET: &str = "reset_password";

/// Store a new one-time email token (hashed) and return the plaintext for the mail.
pub async fn insert_email_token(
    db: impl PgExecutor<'_>,
    user_id: &str,
    purpose: &str,
    ttl: chrono::Duration,
) -> sqlx::Result<String> {
    let token = secrets::random_token();
    sqlx::query("insert into email_token (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, now() + $4)")
        .bind(secrets::sha256(&token))
        .bind(user_id)
        .bind(purpose)
        .bind(ttl)
        .execute(db)
        .await?;
    Ok(token)
}

/// Cancel every unused token of `purpose` for the user (a newer one replaces them).
pub async fn cancel_email_tokens(db: impl PgExecutor<'_>, user_id: &str, purpose: &str) -> sqlx::Result<()> {
    sqlx::query("update email_token set used_at = now() where user_id = $1 and purpose = $2 and used_at is null")
        .bind(user_id)
        .bind(purpose)
        .execute(db)
        .await?;
    Ok(())
}

/// Consume a token atomically: of concurrent uses exactly one gets the user id.
pub async fn consume_email_token(db: impl PgExecutor<'_>, token: &str, purpose: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "update email_token set used_at = now() \
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now() returning user_id",
    )
    .bind(secrets::sha256(token))
    .bind(purpose)
    .fetch_optional(db)
    .await
}

pub async fn insert_user(
    db: impl PgExecutor<'_>,
    user_id: &str,
    username: &str,
    email: &str,
    hash: Option<&str>,
    region: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("insert into app_user (user_id, username, email, password_hash, region) values ($1, $2, $3, $4, $5)")
        .bind(user_id)
        .bind(username)
        .bind(email)
        .bind(hash)
        .bind(region)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn set_password(db: impl PgExecutor<'_>, user_id: &str, hash: &str) -> sqlx::Result<()> {
    sqlx::query("update app_user set password_hash = $2 where user_id = $1")
        .bind(user_id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Logout-all: every JWT issued before this carries an older generation and is refused; every
/// session and refresh token is marked revoked as well.
pub async fn revoke_sessions(db: &mut sqlx::PgConnection, user_id: &str) -> sqlx::Result<()> {
    sqlx::query(
        "update app_user set session_generation = session_generation + 1, tokens_revoked_at = now() where user_id = $1",
    )
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    crate::db::sessions::revoke_all(db, user_id, crate::db::sessions::reason::LOGOUT).await?;
    Ok(())
}

pub async fn mark_verified(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query("update app_user set email_verified = true, email_verified_at = coalesce(email_verified_at, now()) where user_id = $1")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn insert_refresh(
    db: impl PgExecutor<'_>,
    jti: &str,
    user_id: &str,
    family: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query("insert into refresh_token (jti, user_id, family, expires_at) values ($1, $2, $3, $4)")
        .bind(jti)
        .bind(user_id)
        .bind(family)
        .bind(expires_at)
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
pub async fn use_refresh(db: &mut sqlx::PgConnection, jti: &str, user_id: &str) -> sqlx::Result<RefreshUse> {
    let family: Option<String> = sqlx::query_scalar(
        "update refresh_token set used_at = now() \
         where jti = $1 and user_id = $2 and used_at is null and revoked_at is null and expires_at > now() \
         returning family",
    )
    .bind(jti)
    .bind(user_id)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(family) = family {
        return Ok(RefreshUse::Fresh { family });
    }
    let replayed: Option<String> =
        sqlx::query_scalar("select family from refresh_token where jti = $1 and user_id = $2 and used_at is not null")
            .bind(jti)
            .bind(user_id)
            .fetch_optional(&mut *db)
            .await?;
    Ok(match replayed {
        Some(family) => RefreshUse::Replayed { family },
        None => RefreshUse::Unknown,
    })
}

pub async fn record_login(
    db: impl PgExecutor<'_>,
    user_id: &str,
    ip: &str,
    user_agent: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("insert into login_event (user_id, ip, user_agent) values ($1, $2, $3)")
        .bind(user_id)
        .bind(ip)
        .bind(user_agent)
        .execute(db)
        .await?;
    Ok(())
}

/// A sign-in through a named client (`cli` for the device flow), for the security history.
pub async fn record_login_via(
    db: impl PgExecutor<'_>,
    user_id: &str,
    ip: &str,
    user_agent: Option<&str>,
    client: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("insert into login_event (user_id, ip, user_agent, client) values ($1, $2, $3, $4)")
        .bind(user_id)
        .bind(ip)
        .bind(user_agent)
        .bind(client)
        .execute(db)
        .await?;
    Ok(())
}

/// The last five distinct sign-in addresses, newest first.
pub async fn recent_login_ips(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    sqlx::query_as(
        "select ip, max(created_at) as last from \
           (select ip, created_at from login_event where user_id = $1 order by created_at desc limit 50) recent \
         group by ip order by last desc limit 5",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn region_exists(db: impl PgExecutor<'_>, region: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("select exists (select 1 from server where region = $1 and is_enabled)")
        .bind(region)
        .fetch_one(db)
        .await
}

/// Lock the user row for a signup decision.
pub async fn user_for_update(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<(String, bool)>> {
    sqlx::query_as("select user_id, email_verified from app_user where email = $1 for update")
        .bind(email)
        .fetch_optional(db)
        .await
}

/// Forget finished sign-in state (device authorizations and authorization codes a day past their
/// expiry) and sign-in/security events older than the audit retention.
pub async fn prune(db: &sqlx::PgPool, audit_retention_days: i64) -> sqlx::Result<()> {
    let keep = chrono::Duration::days(audit_retention_days);
    sqlx::query("delete from device_authorization where expires_at < now() - interval '1 day'").execute(db).await?;
    sqlx::query("delete from auth_code where expires_at < now() - interval '1 day'").execute(db).await?;
    sqlx::query("delete from login_event where created_at < now() - $1").bind(keep).execute(db).await?;
    sqlx::query("delete from security_event where created_at < now() - $1").bind(keep).execute(db).await?;
    Ok(())
}
