//! SQL for auth tokens. A token principal sees only itself and the tokens it minted (directly or
//! down the chain); a session sees all of its user's tokens.

use sqlx::{PgConnection, PgExecutor};

use super::grant::Grant;
use crate::auth::tokens::{TokenRow, COLUMNS};

/// Most tokens a user may hold, and the most one list returns.
pub const MAX_TOKENS: i64 = 500;

/// `$2`: the calling token (null for a session). Matches that token and its descendants.
const VISIBLE: &str = "($2::text is null or t.token_id in (\
    with recursive sub(id) as (select $2::text union all \
    select c.token_id from auth_token c join sub on c.created_by_token_id = sub.id) select id from sub))";

pub async fn visible(
    db: impl PgExecutor<'_>,
    user_id: &str,
    caller: Option<&str>,
    token_id: &str,
) -> sqlx::Result<Option<TokenRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from auth_token t where t.user_id = $1 and {VISIBLE} and t.token_id = $3"
    ))
    .bind(user_id)
    .bind(caller)
    .bind(token_id)
    .fetch_optional(db)
    .await
}

pub async fn list(db: impl PgExecutor<'_>, user_id: &str, caller: Option<&str>) -> sqlx::Result<Vec<TokenRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from auth_token t where t.user_id = $1 and {VISIBLE} order by t.created_at, t.token_id limit $3"
    ))
    .bind(user_id)
    .bind(caller)
    .bind(MAX_TOKENS + 1)
    .fetch_all(db)
    .await
}

pub struct NewToken<'a> {
    pub token_id: &'a str,
    pub user_id: &'a str,
    pub secret_hash: &'a [u8],
    pub prefix: &'a str,
    pub created_by: Option<&'a str>,
    pub depth: i32,
}

pub async fn insert(db: impl PgExecutor<'_>, t: &NewToken<'_>, g: &Grant) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "insert into auth_token as t (token_id, user_id, alias, secret_hash, prefix, public_key, public_storage, \
         ip_whitelist, realm_ids, allow_no_realm, permissions, vault_access, event_access, deny_reauthorization, \
         expires_at, created_by_token_id, delegation_depth) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) returning {COLUMNS}"
    ))
    .bind(t.token_id)
    .bind(t.user_id)
    .bind(&g.alias)
    .bind(t.secret_hash)
    .bind(t.prefix)
    .bind(&g.public_key)
    .bind(&g.public_storage)
    .bind(&g.ip_whitelist)
    .bind(&g.realm_ids)
    .bind(g.allow_no_realm)
    .bind(g.perms.leaves())
    .bind(g.vault_access)
    .bind(g.event_access)
    .bind(g.deny_reauthorization)
    .bind(g.expires_at)
    .bind(t.created_by)
    .bind(t.depth)
    .fetch_one(db)
    .await
}

pub async fn update(db: impl PgExecutor<'_>, token_id: &str, g: &Grant, enabled: bool) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "update auth_token t set alias = $2, public_key = $3, public_storage = $4, ip_whitelist = $5, realm_ids = $6, \
         allow_no_realm = $7, permissions = $8, vault_access = $9, event_access = $10, expires_at = $11, \
         is_enabled = $12 where t.token_id = $1 returning {COLUMNS}"
    ))
    .bind(token_id)
    .bind(&g.alias)
    .bind(&g.public_key)
    .bind(&g.public_storage)
    .bind(&g.ip_whitelist)
    .bind(&g.realm_ids)
    .bind(g.allow_no_realm)
    .bind(g.perms.leaves())
    .bind(g.vault_access)
    .bind(g.event_access)
    .bind(g.expires_at)
    .bind(enabled)
    .fetch_one(db)
    .await
}

/// Disable every token minted by `token_id`, down the chain.
pub async fn disable_descendants(db: &mut PgConnection, token_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "update auth_token set is_enabled = false where is_enabled and token_id in (\
         with recursive sub(id) as (select token_id from auth_token where created_by_token_id = $1 union all \
         select c.token_id from auth_token c join sub on c.created_by_token_id = sub.id) select id from sub)",
    )
    .bind(token_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

pub async fn delete(db: &mut PgConnection, token_id: &str) -> sqlx::Result<()> {
    sqlx::query("delete from auth_token where token_id = $1").bind(token_id).execute(db).await?;
    Ok(())
}

pub async fn set_realms(db: impl PgExecutor<'_>, token_id: &str, realm_ids: &[String]) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!("update auth_token t set realm_ids = $2 where t.token_id = $1 returning {COLUMNS}"))
        .bind(token_id)
        .bind(realm_ids)
        .fetch_one(db)
        .await
}

pub async fn set_profile(
    db: impl PgExecutor<'_>,
    token_id: &str,
    public_key: Option<&str>,
    public_storage: Option<&serde_json::Value>,
) -> sqlx::Result<TokenRow> {
    sqlx::query_as(&format!(
        "update auth_token t set public_key = $2, public_storage = $3 where t.token_id = $1 returning {COLUMNS}"
    ))
    .bind(token_id)
    .bind(public_key)
    .bind(public_storage)
    .fetch_one(db)
    .await
}

/// The public profile of a usable (enabled, unexpired) token.
pub async fn public_profile(
    db: impl PgExecutor<'_>,
    public_key: &str,
) -> sqlx::Result<Option<(String, Option<serde_json::Value>)>> {
    sqlx::query_as(
        "select public_key, public_storage from auth_token where public_key = $1 and is_enabled \
         and (expires_at is null or expires_at > now())",
    )
    .bind(public_key)
    .fetch_optional(db)
    .await
}
