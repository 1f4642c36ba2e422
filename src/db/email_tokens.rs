//! `email_token`: one-time verification and reset links. Only their SHA-256 is stored; a token is
//! consumed with `update … where used_at is null returning`, so of concurrent uses one wins.

use sqlx::PgExecutor;

pub const VERIFY: &str = "verify_email";
pub const RESET: &str = "reset_password";

pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    user_id: &str,
    purpose: &str,
    ttl: chrono::Duration,
) -> sqlx::Result<()> {
    let ttl = super::interval(ttl)?;
    sqlx::query!(
        "insert into email_token (token_hash, user_id, purpose, expires_at) values ($1, $2, $3, now() + $4)",
        token_hash,
        user_id,
        purpose,
        ttl
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Cancel every unused token of `purpose` for the user (a newer one replaces them).
pub async fn cancel(db: impl PgExecutor<'_>, user_id: &str, purpose: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update email_token set used_at = now() where user_id = $1 and purpose = $2 and used_at is null",
        user_id,
        purpose
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Consume a token atomically: of concurrent uses exactly one gets the user id.
pub async fn consume(db: impl PgExecutor<'_>, token_hash: &[u8], purpose: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update email_token set used_at = now() \
         where token_hash = $1 and purpose = $2 and used_at is null and expires_at > now() returning user_id",
        token_hash,
        purpose
    )
    .fetch_optional(db)
    .await
}
