//! `auth_token`: long-lived tokens, found by the SHA-256 of their secret. A token principal sees
//! only itself and the tokens it minted (directly or down the chain); a session sees all of its
//! user's tokens. The rules of a token's use are in `auth::tokens`.
//!
//! The token columns are read by two statements: the per-request lookup (with the owner's
//! columns, one read) and [`by_ids`]; every other read and write finds ids and reads through it.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

use super::users::{user_row, UserRow};
use crate::{auth::permissions::PermSet, secret::Secret};

/// A token as stored.
#[derive(Debug, Clone)]
pub struct TokenRow {
    pub token_id: String,
    pub user_id: String,
    pub alias: String,
    pub secret_hash: Secret<Vec<u8>>,
    pub prefix: String,
    pub public_key: Option<String>,
    pub public_storage: Option<serde_json::Value>,
    pub ip_whitelist: Vec<String>,
    pub realm_ids: Vec<String>,
    pub allow_no_realm: bool,
    /// The leaves it holds (stored as their dotted paths).
    pub perms: PermSet,
    pub vault_access: bool,
    pub event_access: bool,
    pub deny_reauthorization: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub is_enabled: bool,
    pub created_by_token_id: Option<String>,
    pub delegation_depth: i32,
    pub last_used_at: Option<DateTime<Utc>>,
    pub last_used_ip: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A token and its owner: what `HotConnections` reads for a presented secret.
#[derive(Clone)]
pub struct TokenWithUser {
    pub token: TokenRow,
    pub user: UserRow,
}

/// The row as the columns hold it (`permissions` as dotted paths).
struct Stored {
    token_id: String,
    user_id: String,
    alias: String,
    secret_hash: Vec<u8>,
    prefix: String,
    public_key: Option<String>,
    public_storage: Option<serde_json::Value>,
    ip_whitelist: Vec<String>,
    realm_ids: Vec<String>,
    allow_no_realm: bool,
    permissions: Vec<String>,
    vault_access: bool,
    event_access: bool,
    deny_reauthorization: bool,
    expires_at: Option<DateTime<Utc>>,
    is_enabled: bool,
    created_by_token_id: Option<String>,
    delegation_depth: i32,
    last_used_at: Option<DateTime<Utc>>,
    last_used_ip: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Stored> for TokenRow {
    fn from(s: Stored) -> Self {
        Self {
            perms: PermSet::from_leaves(s.permissions.iter().map(String::as_str)),
            token_id: s.token_id,
            user_id: s.user_id,
            alias: s.alias,
            secret_hash: Secret::new(s.secret_hash),
            prefix: s.prefix,
            public_key: s.public_key,
            public_storage: s.public_storage,
            ip_whitelist: s.ip_whitelist,
            realm_ids: s.realm_ids,
            allow_no_realm: s.allow_no_realm,
            vault_access: s.vault_access,
            event_access: s.event_access,
            deny_reauthorization: s.deny_reauthorization,
            expires_at: s.expires_at,
            is_enabled: s.is_enabled,
            created_by_token_id: s.created_by_token_id,
            delegation_depth: s.delegation_depth,
            last_used_at: s.last_used_at,
            last_used_ip: s.last_used_ip,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// Tokens and their owners by the secret's hash: one indexed read (the per-request lookup of a
/// token, on a dedicated connection). More than one row only if the unique index were gone.
pub async fn by_secret_hash(db: impl PgExecutor<'_>, hash: &[u8]) -> sqlx::Result<Vec<TokenWithUser>> {
    let rows = sqlx::query!(
        r#"select t.token_id as t_token_id, t.user_id as t_user_id, t.alias as t_alias, t.secret_hash as t_secret_hash,
             t.prefix as t_prefix, t.public_key as t_public_key, t.public_storage as t_public_storage,
             t.ip_whitelist as t_ip_whitelist, t.realm_ids as t_realm_ids, t.allow_no_realm as t_allow_no_realm,
             t.permissions as t_permissions, t.vault_access as t_vault_access, t.event_access as t_event_access,
             t.deny_reauthorization as t_deny_reauthorization, t.expires_at as t_expires_at,
             t.is_enabled as t_is_enabled, t.created_by_token_id as t_created_by_token_id,
             t.delegation_depth as t_delegation_depth, t.last_used_at as t_last_used_at,
             t.last_used_ip as t_last_used_ip, t.created_at as t_created_at, t.updated_at as t_updated_at,
             u.user_id, u.username, u.email, u.password_hash as "password_hash: Secret", u.alias, u.public_key,
             u.metadata, u.is_admin, u.is_banned, u.email_verified, u.avatar_url, u.signup_method,
             u.session_generation, u.free_tier_unlocked, u.free_tier_unlocked_at, u.free_tier_unlock_source,
             u.onboarding, u.created_at, u.updated_at
           from auth_token t join app_user u on u.user_id = t.user_id where t.secret_hash = $1"#,
        hash
    )
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let token = Stored {
                token_id: r.t_token_id,
                user_id: r.t_user_id,
                alias: r.t_alias,
                secret_hash: r.t_secret_hash,
                prefix: r.t_prefix,
                public_key: r.t_public_key,
                public_storage: r.t_public_storage,
                ip_whitelist: r.t_ip_whitelist,
                realm_ids: r.t_realm_ids,
                allow_no_realm: r.t_allow_no_realm,
                permissions: r.t_permissions,
                vault_access: r.t_vault_access,
                event_access: r.t_event_access,
                deny_reauthorization: r.t_deny_reauthorization,
                expires_at: r.t_expires_at,
                is_enabled: r.t_is_enabled,
                created_by_token_id: r.t_created_by_token_id,
                delegation_depth: r.t_delegation_depth,
                last_used_at: r.t_last_used_at,
                last_used_ip: r.t_last_used_ip,
                created_at: r.t_created_at,
                updated_at: r.t_updated_at,
            };
            TokenWithUser { token: token.into(), user: user_row!(r) }
        })
        .collect())
}

/// Tokens by id, oldest first.
pub async fn by_ids(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<Vec<TokenRow>> {
    let rows = sqlx::query_as!(
        Stored,
        "select token_id, user_id, alias, secret_hash, prefix, public_key, public_storage, ip_whitelist, realm_ids, \
           allow_no_realm, permissions, vault_access, event_access, deny_reauthorization, expires_at, is_enabled, \
           created_by_token_id, delegation_depth, last_used_at, last_used_ip, created_at, updated_at \
         from auth_token where token_id = any($1) order by created_at, token_id",
        ids
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(TokenRow::from).collect())
}

/// One token by id (`RowNotFound` when it is gone).
async fn by_id(db: impl PgExecutor<'_>, token_id: &str) -> sqlx::Result<TokenRow> {
    by_ids(db, &[token_id.to_owned()]).await?.pop().ok_or(sqlx::Error::RowNotFound)
}

/// The token `token_id` of the user if `caller` (a token; none for a session) may see it.
pub async fn visible(
    db: &mut PgConnection,
    user_id: &str,
    caller: Option<&str>,
    token_id: &str,
) -> sqlx::Result<Option<TokenRow>> {
    let found = sqlx::query_scalar!(
        "select t.token_id from auth_token t where t.user_id = $1 and t.token_id = $3 \
           and ($2::text is null or t.token_id in (with recursive sub(id) as (select $2::text union all \
             select c.token_id from auth_token c join sub on c.created_by_token_id = sub.id) select id from sub))",
        user_id,
        caller,
        token_id
    )
    .fetch_optional(&mut *db)
    .await?;
    match found {
        Some(id) => Ok(by_ids(db, &[id]).await?.pop()),
        None => Ok(None),
    }
}

/// The user's tokens `caller` may see, oldest first, at most `limit`.
pub async fn list(
    db: &mut PgConnection,
    user_id: &str,
    caller: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<TokenRow>> {
    let ids = sqlx::query_scalar!(
        "select t.token_id from auth_token t where t.user_id = $1 \
           and ($2::text is null or t.token_id in (with recursive sub(id) as (select $2::text union all \
             select c.token_id from auth_token c join sub on c.created_by_token_id = sub.id) select id from sub)) \
         order by t.created_at, t.token_id limit $3",
        user_id,
        caller,
        limit
    )
    .fetch_all(&mut *db)
    .await?;
    by_ids(db, &ids).await
}

/// What a token may do and how it is shown: the columns a mint or an update sets (the rules of
/// granting them are in `api::tokens::grant`).
#[derive(Debug, Clone)]
pub struct Grant {
    pub alias: String,
    pub public_key: Option<String>,
    pub public_storage: Option<serde_json::Value>,
    pub ip_whitelist: Vec<String>,
    pub realm_ids: Vec<String>,
    pub allow_no_realm: bool,
    pub perms: PermSet,
    pub vault_access: bool,
    pub event_access: bool,
    pub deny_reauthorization: bool,
    pub expires_at: Option<DateTime<Utc>>,
}

/// The leaves of `perms` as the column stores them.
fn leaves(perms: PermSet) -> Vec<String> {
    perms.leaves().into_iter().map(str::to_owned).collect()
}

pub struct NewToken<'a> {
    pub token_id: &'a str,
    pub user_id: &'a str,
    pub secret_hash: &'a [u8],
    pub prefix: &'a str,
    pub created_by: Option<&'a str>,
    pub depth: i32,
}

pub async fn insert(db: &mut PgConnection, t: &NewToken<'_>, g: &Grant) -> sqlx::Result<TokenRow> {
    sqlx::query!(
        "insert into auth_token (token_id, user_id, alias, secret_hash, prefix, public_key, public_storage, \
         ip_whitelist, realm_ids, allow_no_realm, permissions, vault_access, event_access, deny_reauthorization, \
         expires_at, created_by_token_id, delegation_depth) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
        t.token_id,
        t.user_id,
        &g.alias,
        t.secret_hash,
        t.prefix,
        g.public_key.as_deref(),
        g.public_storage.as_ref(),
        &g.ip_whitelist,
        &g.realm_ids,
        g.allow_no_realm,
        &leaves(g.perms),
        g.vault_access,
        g.event_access,
        g.deny_reauthorization,
        g.expires_at,
        t.created_by,
        t.depth
    )
    .execute(&mut *db)
    .await?;
    by_id(db, t.token_id).await
}

pub async fn update(db: &mut PgConnection, token_id: &str, g: &Grant, enabled: bool) -> sqlx::Result<TokenRow> {
    sqlx::query!(
        "update auth_token set alias = $2, public_key = $3, public_storage = $4, ip_whitelist = $5, realm_ids = $6, \
         allow_no_realm = $7, permissions = $8, vault_access = $9, event_access = $10, expires_at = $11, \
         is_enabled = $12 where token_id = $1",
        token_id,
        &g.alias,
        g.public_key.as_deref(),
        g.public_storage.as_ref(),
        &g.ip_whitelist,
        &g.realm_ids,
        g.allow_no_realm,
        &leaves(g.perms),
        g.vault_access,
        g.event_access,
        g.expires_at,
        enabled
    )
    .execute(&mut *db)
    .await?;
    by_id(db, token_id).await
}

pub async fn set_realms(db: &mut PgConnection, token_id: &str, realm_ids: &[String]) -> sqlx::Result<TokenRow> {
    sqlx::query!("update auth_token set realm_ids = $2 where token_id = $1", token_id, realm_ids)
        .execute(&mut *db)
        .await?;
    by_id(db, token_id).await
}

pub async fn set_profile(
    db: &mut PgConnection,
    token_id: &str,
    public_key: Option<&str>,
    public_storage: Option<&serde_json::Value>,
) -> sqlx::Result<TokenRow> {
    sqlx::query!(
        "update auth_token set public_key = $2, public_storage = $3 where token_id = $1",
        token_id,
        public_key,
        public_storage
    )
    .execute(&mut *db)
    .await?;
    by_id(db, token_id).await
}

/// Disable every token minted by `token_id`, down the chain.
pub async fn disable_descendants(db: &mut PgConnection, token_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update auth_token set is_enabled = false where is_enabled and token_id in (\
         with recursive sub(id) as (select token_id from auth_token where created_by_token_id = $1 union all \
         select c.token_id from auth_token c join sub on c.created_by_token_id = sub.id) select id from sub)",
        token_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Disable every token of the user (a ban with `--disable-tokens`).
pub async fn disable_all_of(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update auth_token set is_enabled = false where user_id = $1", user_id).execute(db).await?;
    Ok(())
}

pub async fn delete(db: &mut PgConnection, token_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from auth_token where token_id = $1", token_id).execute(db).await?;
    Ok(())
}

/// The public profile of a usable (enabled, unexpired) token.
pub async fn public_profile(
    db: impl PgExecutor<'_>,
    public_key: &str,
) -> sqlx::Result<Option<(String, Option<serde_json::Value>)>> {
    let row = sqlx::query!(
        r#"select public_key as "public_key!", public_storage from auth_token where public_key = $1 and is_enabled
           and (expires_at is null or expires_at > now())"#,
        public_key
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.public_key, r.public_storage)))
}

/// Note the latest use of each token (`ids[i]` from `ips[i]` at `ats[i]`). Rows another
/// transaction holds (a token being changed or deleted) are skipped, not waited for: last use is
/// best effort, and waiting could deadlock with that transaction.
pub async fn record_uses(
    db: impl PgExecutor<'_>,
    ids: &[String],
    ips: &[String],
    ats: &[DateTime<Utc>],
) -> sqlx::Result<()> {
    sqlx::query!(
        "with u as (select * from unnest($1::text[], $2::text[], $3::timestamptz[]) as u(id, ip, at)), \
         free as (select t.token_id from auth_token t join u on t.token_id = u.id \
                  order by t.token_id for update of t skip locked) \
         update auth_token t set last_used_at = u.at, last_used_ip = u.ip from u \
         where t.token_id = u.id and t.token_id in (select token_id from free) \
         and (t.last_used_at is null or t.last_used_at < u.at)",
        ids,
        ips,
        ats
    )
    .execute(db)
    .await?;
    Ok(())
}
