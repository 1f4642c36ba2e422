//! `app_user`: the row every authenticated request reads, and the account's own changes
//! (credentials, verification, profile, flags). Signing out everywhere is in `db::sessions`.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub password_hash: Option<Secret>,
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

/// A `UserRow` from a `query!` record that selected its columns under their own names (the
/// per-request reads select them beside other columns, so they cannot use `query_as!`). Moves
/// the fields out of `$r`.
macro_rules! user_row {
    ($r:ident) => {{
        $crate::db::users::UserRow {
            user_id: $r.user_id,
            username: $r.username,
            email: $r.email,
            password_hash: $r.password_hash,
            alias: $r.alias,
            public_key: $r.public_key,
            metadata: $r.metadata,
            is_admin: $r.is_admin,
            is_banned: $r.is_banned,
            email_verified: $r.email_verified,
            avatar_url: $r.avatar_url,
            signup_method: $r.signup_method,
            session_generation: $r.session_generation,
            free_tier_unlocked: $r.free_tier_unlocked,
            free_tier_unlocked_at: $r.free_tier_unlocked_at,
            free_tier_unlock_source: $r.free_tier_unlock_source,
            onboarding: $r.onboarding,
            created_at: $r.created_at,
            updated_at: $r.updated_at,
        }
    }};
}
pub(crate) use user_row;

/// One user by id, e-mail or username (exactly one of them given; each has a unique index). One
/// statement for the three lookups; `fetch_all` reads the reply to its end, so the connection
/// goes back to the pool without one more round trip (a Sync) on release.
async fn lookup(
    db: impl PgExecutor<'_>,
    user_id: Option<&str>,
    email: Option<&str>,
    username: Option<&str>,
) -> sqlx::Result<Option<UserRow>> {
    let rows = sqlx::query_as!(
        UserRow,
        r#"select user_id, username, email, password_hash as "password_hash: Secret", alias, public_key, metadata,
             is_admin, is_banned, email_verified, avatar_url, signup_method, session_generation, free_tier_unlocked,
             free_tier_unlocked_at, free_tier_unlock_source, onboarding, created_at, updated_at
           from app_user where user_id = $1 or email = $2 or username = $3"#,
        user_id,
        email,
        username
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().next())
}

pub async fn by_id(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<UserRow>> {
    lookup(db, Some(user_id), None, None).await
}

pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<UserRow>> {
    lookup(db, None, Some(email), None).await
}

pub async fn by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<UserRow>> {
    lookup(db, None, None, Some(username)).await
}

/// The user row and whether the session `sid` of that user is live, in one read (both lookups
/// by primary key). This is the per-request check of a session JWT.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user: UserRow,
    pub session_live: bool,
}

pub async fn by_session(db: impl PgExecutor<'_>, user_id: &str, sid: &str) -> sqlx::Result<Option<SessionUser>> {
    let rows = sqlx::query!(
        r#"select user_id, username, email, password_hash as "password_hash: Secret", alias, public_key, metadata,
             is_admin, is_banned, email_verified, avatar_url, signup_method, session_generation, free_tier_unlocked,
             free_tier_unlocked_at, free_tier_unlock_source, onboarding, created_at, updated_at,
             exists (select 1 from user_session s where s.sid = $2 and s.user_id = $1 and s.revoked_at is null)
               as "session_live!"
           from app_user where user_id = $1"#,
        user_id,
        sid
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().next().map(|r| SessionUser { session_live: r.session_live, user: user_row!(r) }))
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    user_id: &str,
    username: &str,
    email: &str,
    hash: Option<&str>,
    region: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into app_user (user_id, username, email, password_hash, region) values ($1, $2, $3, $4, $5)",
        user_id,
        username,
        email,
        hash,
        region
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Lock the user row of an address for a signup (or mail) decision: its id and whether it is
/// verified.
pub async fn lock_by_email(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<Option<(String, bool)>> {
    let row = sqlx::query!("select user_id, email_verified from app_user where email = $1 for update", email)
        .fetch_optional(db)
        .await?;
    Ok(row.map(|r| (r.user_id, r.email_verified)))
}

pub async fn email(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<String> {
    sqlx::query_scalar!("select email from app_user where user_id = $1", user_id).fetch_one(db).await
}

/// The region the user chose at signup, if any.
pub async fn region(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<String>> {
    Ok(sqlx::query_scalar!("select region from app_user where user_id = $1", user_id)
        .fetch_optional(db)
        .await?
        .flatten())
}

pub async fn set_password(db: impl PgExecutor<'_>, user_id: &str, hash: &str) -> sqlx::Result<()> {
    sqlx::query!("update app_user set password_hash = $2 where user_id = $1", user_id, hash).execute(db).await?;
    Ok(())
}

pub async fn mark_verified(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set email_verified = true, email_verified_at = coalesce(email_verified_at, now()) \
         where user_id = $1",
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Logout-all: every JWT issued before this carries an older generation and is refused.
pub async fn bump_session_generation(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set session_generation = session_generation + 1, tokens_revoked_at = now() \
         where user_id = $1",
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A provider proved the mailbox of an unverified account: it is verified, and a password set by
/// whoever registered the address before is cleared.
pub async fn take_over_unverified(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set password_hash = null, email_verified = true, email_verified_at = now() \
         where user_id = $1",
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A new account made by a provider sign-in: verified by the provider, with its avatar.
pub async fn verified_by_provider(
    db: impl PgExecutor<'_>,
    user_id: &str,
    provider: &str,
    avatar_url: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set email_verified = true, email_verified_at = now(), signup_method = $2, \
         avatar_url = $3 where user_id = $1",
        user_id,
        provider,
        avatar_url
    )
    .execute(db)
    .await?;
    Ok(())
}

/// What `PUT /users/{id}` may change; `None` keeps the value.
pub struct ProfileChange<'a> {
    pub alias: Option<&'a str>,
    pub public_key: Option<&'a str>,
    pub metadata: Option<&'a serde_json::Value>,
    pub password_hash: Option<&'a str>,
    pub is_admin: Option<bool>,
    pub is_banned: Option<bool>,
}

pub async fn update_profile(db: impl PgExecutor<'_>, user_id: &str, c: &ProfileChange<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set alias = coalesce($2, alias), public_key = coalesce($3, public_key), \
         metadata = coalesce($4, metadata), password_hash = coalesce($5, password_hash), \
         is_admin = coalesce($6, is_admin), is_banned = coalesce($7, is_banned) where user_id = $1",
        user_id,
        c.alias,
        c.public_key,
        c.metadata,
        c.password_hash,
        c.is_admin,
        c.is_banned
    )
    .execute(db)
    .await?;
    Ok(())
}

pub async fn set_banned(db: impl PgExecutor<'_>, user_id: &str, banned: bool) -> sqlx::Result<()> {
    sqlx::query!("update app_user set is_banned = $2 where user_id = $1", user_id, banned).execute(db).await?;
    Ok(())
}

pub async fn set_admin(db: impl PgExecutor<'_>, user_id: &str, admin: bool) -> sqlx::Result<()> {
    sqlx::query!("update app_user set is_admin = $2 where user_id = $1", user_id, admin).execute(db).await?;
    Ok(())
}

/// Record that a milestone was reached at `at` (RFC 3339), keeping the first time; one
/// statement, so concurrent marks of one milestone keep the first. `None` when the account
/// already holds `max` other milestones.
pub async fn mark_onboarding(
    db: impl PgExecutor<'_>,
    user_id: &str,
    milestone: &str,
    at: &str,
    max: i64,
) -> sqlx::Result<Option<serde_json::Value>> {
    sqlx::query_scalar!(
        "update app_user set onboarding = case when onboarding ? $2 then onboarding \
         else onboarding || jsonb_build_object($2::text, $3::text) end \
         where user_id = $1 and (onboarding ? $2 or (select count(*) from jsonb_object_keys(onboarding)) < $4) \
         returning onboarding",
        user_id,
        milestone,
        at,
        max
    )
    .fetch_optional(db)
    .await
}

/// Whether the user redeemed an invite (`None`: no such user).
pub async fn free_tier_unlocked(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!("select free_tier_unlocked from app_user where user_id = $1", user_id).fetch_optional(db).await
}

/// The same, with the row locked: one redemption per account, even for concurrent requests.
pub async fn lock_free_tier_unlocked(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!("select free_tier_unlocked from app_user where user_id = $1 for update", user_id)
        .fetch_one(db)
        .await
}

pub async fn unlock_free_tier_by_invite(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update app_user set free_tier_unlocked = true, free_tier_unlocked_at = now(), \
         free_tier_unlock_source = 'invite' where user_id = $1",
        user_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// The user's default container in their default project sits on a free server (and is not
/// being deleted).
pub async fn has_free_server(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from container c join project p on p.project_id = c.project_id
             join server s on s.server_id = c.server_id
             where p.user_id = $1 and p.is_default and c.is_default and s.is_free and c.status <> 'deleting')
           as "exists!""#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// An account as the operator's CLI lists it.
pub struct AccountListRow {
    pub user_id: String,
    pub username: String,
    pub email: String,
    pub is_admin: bool,
    pub is_banned: bool,
    pub email_verified: bool,
    pub created_at: DateTime<Utc>,
}

/// Accounts in creation order: `pattern` (an `ilike` pattern) on the address or username, only
/// banned ones, only administrators.
pub async fn list_accounts(
    db: impl PgExecutor<'_>,
    pattern: Option<&str>,
    banned_only: bool,
    admins_only: bool,
    limit: i64,
) -> sqlx::Result<Vec<AccountListRow>> {
    sqlx::query_as!(
        AccountListRow,
        "select user_id, username, email, is_admin, is_banned, email_verified, created_at from app_user \
         where ($1::text is null or email ilike $1 or username ilike $1) \
           and (not $2 or is_banned) and (not $3 or is_admin) \
         order by created_at, user_id limit $4",
        pattern,
        banned_only,
        admins_only,
        limit
    )
    .fetch_all(db)
    .await
}

/// [`insert`] behind a savepoint: when it fails (a username or address taken), the caller's
/// transaction goes on as before it.
pub async fn insert_in_savepoint(
    db: &mut sqlx::PgConnection,
    user_id: &str,
    username: &str,
    email: &str,
    hash: Option<&str>,
    region: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!("savepoint username_attempt").execute(&mut *db).await?;
    let inserted = insert(&mut *db, user_id, username, email, hash, region).await;
    if inserted.is_err() {
        sqlx::query!("rollback to savepoint username_attempt").execute(&mut *db).await?;
    }
    inserted
}
