//! Single-use, PKCE-bound hand-offs of a sign-in, stored as SHA-256: `auth_intent` (a sign-in
//! answered in intent mode) and `auth_code` (first-party apps' authorization codes).

use sqlx::PgExecutor;

pub async fn insert_intent(
    db: impl PgExecutor<'_>,
    intent_hash: &[u8],
    user_id: &str,
    code_challenge: &str,
    ttl: chrono::Duration,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into auth_intent (intent_hash, user_id, code_challenge, expires_at) values ($1, $2, $3, now() + $4)",
        intent_hash,
        user_id,
        code_challenge,
        super::interval(ttl)?
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Spend a live intent: its user and PKCE challenge.
pub async fn spend_intent(db: impl PgExecutor<'_>, intent_hash: &[u8]) -> sqlx::Result<Option<(String, String)>> {
    let row = sqlx::query!(
        "update auth_intent set used_at = now() \
         where intent_hash = $1 and used_at is null and expires_at > now() returning user_id, code_challenge",
        intent_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user_id, r.code_challenge)))
}

/// Cancel an unused intent; false when there was none.
pub async fn cancel_intent(db: impl PgExecutor<'_>, intent_hash: &[u8]) -> sqlx::Result<bool> {
    let r =
        sqlx::query!("update auth_intent set used_at = now() where intent_hash = $1 and used_at is null", intent_hash)
            .execute(db)
            .await?;
    Ok(r.rows_affected() == 1)
}

pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub user_id: &'a str,
    pub code_challenge: &'a str,
    pub redirect_uri: &'a str,
    pub session_generation: i64,
    pub ttl: chrono::Duration,
}

pub async fn insert_code(db: impl PgExecutor<'_>, c: &NewCode<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into auth_code (code_hash, user_id, code_challenge, redirect_uri, session_generation, expires_at) \
         values ($1, $2, $3, $4, $5, now() + $6)",
        c.code_hash,
        c.user_id,
        c.code_challenge,
        c.redirect_uri,
        c.session_generation,
        super::interval(c.ttl)?
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A live code, spent.
pub struct SpentCode {
    pub user_id: String,
    pub code_challenge: String,
    pub redirect_uri: String,
    pub session_generation: i64,
}

pub async fn spend_code(db: impl PgExecutor<'_>, code_hash: &[u8]) -> sqlx::Result<Option<SpentCode>> {
    sqlx::query_as!(
        SpentCode,
        "update auth_code set used_at = now() where code_hash = $1 and used_at is null and expires_at > now() \
         returning user_id, code_challenge, redirect_uri, session_generation",
        code_hash
    )
    .fetch_optional(db)
    .await
}

/// Forget codes a day past their expiry.
pub async fn prune_codes(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("delete from auth_code where expires_at < now() - interval '1 day'").execute(db).await?;
    Ok(())
}
