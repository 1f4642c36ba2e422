//! The user row every authenticated request reads, and its public shape.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub password_hash: Option<crate::secret::Secret>,
    pub alias: Option<String>,
    pub public_key: Option<String>,
    pub metadata: serde_json::Value,
    pub is_admin: bool,
    pub is_banned: bool,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
    pub signup_method: String,
    pub session_generation: i64,
    pub free_tier_unlocked: bool,
    pub free_tier_unlocked_at: Option<DateTime<Utc>>,
    pub free_tier_unlock_source: Option<String>,
    pub onboarding: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const COLUMNS: &str = "user_id, username, email, password_hash, alias, public_key, metadata, is_admin, is_banned, \
     email_verified, avatar_url, signup_method, session_generation, free_tier_unlocked, free_tier_unlocked_at, \
     free_tier_unlock_source, onboarding, created_at, updated_at";

/// `fetch_all` reads the reply to its end, so the connection goes back to the pool ready; with
/// `fetch_optional` sqlx would send one more round trip (a Sync) on release. This is the hot path.
fn first(rows: Vec<UserRow>) -> Option<UserRow> {
    rows.into_iter().next()
}

static BY_ID: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("select {COLUMNS} from app_user where user_id = $1"));

pub async fn by_id(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(BY_ID.as_str()).bind(user_id).fetch_all(db).await.map(first)
}

/// The user row and whether the session `sid` of that user is live, in one read (both lookups
/// by primary key). This is the per-request check of a session JWT.
#[derive(Debug, Clone, FromRow)]
pub struct SessionUser {
    #[sqlx(flatten)]
    pub user: UserRow,
    pub session_live: bool,
}

static BY_SESSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "select {COLUMNS}, exists (select 1 from user_session s            where s.sid = $2 and s.user_id = $1 and s.revoked_at is null) as session_live          from app_user where user_id = $1"
    )
});

pub async fn by_session(db: impl PgExecutor<'_>, user_id: &str, sid: &str) -> sqlx::Result<Option<SessionUser>> {
    let rows: Vec<SessionUser> = sqlx::query_as(BY_SESSION.as_str()).bind(user_id).bind(sid).fetch_all(db).await?;
    Ok(rows.into_iter().next())
}

pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("select {COLUMNS} from app_user where email = $1"))
        .bind(email)
        .fetch_all(db)
        .await
        .map(first)
}

pub async fn by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<UserRow>> {
    sqlx::query_as(&format!("select {COLUMNS} from app_user where username = $1"))
        .bind(username)
        .fetch_optional(db)
        .await
}
