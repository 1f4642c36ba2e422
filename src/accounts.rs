//! Account administration for the operator's CLI (`hoody-api users list|ban|unban|make-admin`).
//!
//! A ban takes effect on the next request on every replica, since every authenticated request
//! reads the ban flag: the user's sessions are revoked for good (the session generation moves on
//! and every refresh token is revoked, so an unban means signing in again), and their auth tokens
//! are refused while the ban holds (`--disable-tokens` also disables each one, so an unban does
//! not bring them back).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;

use crate::db::{self, security_events, ts};

#[derive(Debug, Serialize)]
pub struct AccountRow {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub is_banned: bool,
    pub email_verified: bool,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    #[serde(rename = "created_at")]
    pub created: String,
}

/// Which accounts `list` shows.
#[derive(Debug, Default)]
pub struct ListFilter {
    /// Part of the e-mail address or username (case-insensitive).
    pub search: Option<String>,
    pub banned_only: bool,
    pub admins_only: bool,
    pub limit: i64,
}

pub async fn list(pool: &PgPool, f: &ListFilter) -> sqlx::Result<Vec<AccountRow>> {
    let pattern =
        f.search.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let rows =
        db::users::list_accounts(pool, pattern.as_deref(), f.banned_only, f.admins_only, f.limit.clamp(1, 100_000))
            .await?;
    Ok(rows
        .into_iter()
        .map(|r| AccountRow {
            created: ts(r.created_at),
            user_id: r.user_id,
            username: r.username,
            email: r.email,
            is_admin: r.is_admin,
            is_banned: r.is_banned,
            email_verified: r.email_verified,
            created_at: r.created_at,
        })
        .collect())
}

/// The account `who` names: a user id (24 hex), an e-mail address (normalised as at sign-in) or a
/// username.
pub async fn find(pool: &PgPool, who: &str) -> anyhow::Result<AccountRow> {
    let who = who.trim();
    let user = if crate::db::is_id(who) {
        db::users::by_id(pool, who).await?
    } else if who.contains('@') {
        db::users::by_email(pool, &crate::auth::email::normalize(who)).await?
    } else {
        db::users::by_username(pool, who).await?
    };
    let u = user.ok_or_else(|| anyhow::anyhow!("no account matches {who:?} (give a user id, e-mail or username)"))?;
    Ok(AccountRow {
        created: ts(u.created_at),
        user_id: u.user_id,
        username: u.username,
        email: u.email,
        is_admin: u.is_admin,
        is_banned: u.is_banned,
        email_verified: u.email_verified,
        created_at: u.created_at,
    })
}

/// Ban: the flag set, every session revoked, and with `disable_tokens` every auth token disabled,
/// in one transaction. Administrators cannot be banned (remove admin first), as in the API.
pub async fn ban(pool: &PgPool, who: &str, disable_tokens: bool) -> anyhow::Result<AccountRow> {
    let account = find(pool, who).await?;
    anyhow::ensure!(
        !account.is_admin,
        "{} is an administrator: revoke that first (hoody-api users make-admin --revoke {})",
        account.email,
        account.user_id
    );
    let mut tx = pool.begin().await?;
    db::users::set_banned(&mut *tx, &account.user_id, true).await?;
    db::sessions::sign_out_everywhere(&mut tx, &account.user_id).await?;
    if disable_tokens {
        db::auth_tokens::disable_all_of(&mut *tx, &account.user_id).await?;
    }
    security_events::record(&mut *tx, &account.user_id, "account.banned", None, Some("hoody-api users ban")).await?;
    tx.commit().await?;
    tracing::info!(user = %account.user_id, disable_tokens, "account banned from the CLI");
    find(pool, &account.user_id).await
}

pub async fn unban(pool: &PgPool, who: &str) -> anyhow::Result<AccountRow> {
    set_flag(pool, who, Flag::Banned, false, "account.unbanned", "hoody-api users unban").await
}

/// Grant (or with `revoke` take away) administrator rights.
pub async fn make_admin(pool: &PgPool, who: &str, revoke: bool) -> anyhow::Result<AccountRow> {
    let (kind, tool) = if revoke {
        ("account.admin_revoked", "hoody-api users make-admin --revoke")
    } else {
        ("account.admin_granted", "hoody-api users make-admin")
    };
    let account = find(pool, who).await?;
    anyhow::ensure!(revoke || !account.is_banned, "{} is banned: unban first", account.email);
    set_flag(pool, &account.user_id, Flag::Admin, !revoke, kind, tool).await
}

#[derive(Debug, Clone, Copy)]
enum Flag {
    Banned,
    Admin,
}

async fn set_flag(
    pool: &PgPool,
    who: &str,
    flag: Flag,
    value: bool,
    kind: &str,
    tool: &str,
) -> anyhow::Result<AccountRow> {
    let account = find(pool, who).await?;
    let mut tx = pool.begin().await?;
    match flag {
        Flag::Banned => db::users::set_banned(&mut *tx, &account.user_id, value).await?,
        Flag::Admin => db::users::set_admin(&mut *tx, &account.user_id, value).await?,
    }
    security_events::record(&mut *tx, &account.user_id, kind, None, Some(tool)).await?;
    tx.commit().await?;
    let column = match flag {
        Flag::Banned => "is_banned",
        Flag::Admin => "is_admin",
    };
    tracing::info!(user = %account.user_id, column, value, "account changed from the CLI");
    find(pool, &account.user_id).await
}
