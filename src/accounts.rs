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

use crate::{api::auth::queries::revoke_sessions, auth::second_factor::record_event, db::ts};

#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct AccountRow {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub is_banned: bool,
    pub email_verified: bool,
    #[serde(skip)]
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
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

const COLUMNS: &str = "user_id, username, email, is_admin, is_banned, email_verified, created_at";

pub async fn list(db: &PgPool, f: &ListFilter) -> sqlx::Result<Vec<AccountRow>> {
    let pattern =
        f.search.as_deref().map(|s| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
    let mut rows: Vec<AccountRow> = sqlx::query_as(&format!(
        "select {COLUMNS} from app_user \
         where ($1::text is null or email ilike $1 or username ilike $1) \
           and (not $2 or is_banned) and (not $3 or is_admin) \
         order by created_at, user_id limit $4"
    ))
    .bind(pattern)
    .bind(f.banned_only)
    .bind(f.admins_only)
    .bind(f.limit.clamp(1, 100_000))
    .fetch_all(db)
    .await?;
    for r in &mut rows {
        r.created = ts(r.created_at);
    }
    Ok(rows)
}

/// The account `who` names: a user id (24 hex), an e-mail address (normalised as at sign-in) or a
/// username.
pub async fn find(db: &PgPool, who: &str) -> anyhow::Result<AccountRow> {
    let who = who.trim();
    let (column, value) = if crate::db::is_id(who) {
        ("user_id", who.to_owned())
    } else if who.contains('@') {
        ("email", crate::auth::email::normalize(who))
    } else {
        ("username", who.to_owned())
    };
    let row: Option<AccountRow> = sqlx::query_as(&format!("select {COLUMNS} from app_user where {column} = $1"))
        .bind(&value)
        .fetch_optional(db)
        .await?;
    let mut row =
        row.ok_or_else(|| anyhow::anyhow!("no account matches {who:?} (give a user id, e-mail or username)"))?;
    row.created = ts(row.created_at);
    Ok(row)
}

/// Ban: the flag set, every session revoked, and with `disable_tokens` every auth token disabled,
/// in one transaction. Administrators cannot be banned (remove admin first), as in the API.
pub async fn ban(db: &PgPool, who: &str, disable_tokens: bool) -> anyhow::Result<AccountRow> {
    let account = find(db, who).await?;
    anyhow::ensure!(
        !account.is_admin,
        "{} is an administrator: revoke that first (hoody-api users make-admin --revoke {})",
        account.email,
        account.user_id
    );
    let mut tx = db.begin().await?;
    sqlx::query("update app_user set is_banned = true where user_id = $1")
        .bind(&account.user_id)
        .execute(&mut *tx)
        .await?;
    revoke_sessions(&mut tx, &account.user_id).await?;
    if disable_tokens {
        sqlx::query("update auth_token set is_enabled = false where user_id = $1")
            .bind(&account.user_id)
            .execute(&mut *tx)
            .await?;
    }
    record_event(&mut *tx, &account.user_id, "account.banned", None, Some("hoody-api users ban")).await?;
    tx.commit().await?;
    tracing::info!(user = %account.user_id, disable_tokens, "account banned from the CLI");
    find(db, &account.user_id).await
}

pub async fn unban(db: &PgPool, who: &str) -> anyhow::Result<AccountRow> {
    set_flag(db, who, "is_banned", false, "account.unbanned", "hoody-api users unban").await
}

/// Grant (or with `revoke` take away) administrator rights.
pub async fn make_admin(db: &PgPool, who: &str, revoke: bool) -> anyhow::Result<AccountRow> {
    let (kind, tool) = if revoke {
        ("account.admin_revoked", "hoody-api users make-admin --revoke")
    } else {
        ("account.admin_granted", "hoody-api users make-admin")
    };
    let account = find(db, who).await?;
    anyhow::ensure!(revoke || !account.is_banned, "{} is banned: unban first", account.email);
    set_flag(db, &account.user_id, "is_admin", !revoke, kind, tool).await
}

async fn set_flag(
    db: &PgPool,
    who: &str,
    column: &'static str,
    value: bool,
    kind: &str,
    tool: &str,
) -> anyhow::Result<AccountRow> {
    let account = find(db, who).await?;
    let mut tx = db.begin().await?;
    sqlx::query(&format!("update app_user set {column} = $2 where user_id = $1"))
        .bind(&account.user_id)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    record_event(&mut *tx, &account.user_id, kind, None, Some(tool)).await?;
    tx.commit().await?;
    tracing::info!(user = %account.user_id, column, value, "account changed from the CLI");
    find(db, &account.user_id).await
}
