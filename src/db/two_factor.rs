//! The second factor's tables: `user_totp` (the sealed secret and the last accepted step),
//! `backup_code` (argon2id hashes, single use) and `login_challenge` (a login's `temp_token`,
//! stored as SHA-256).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

pub struct TotpRow {
    pub secret_enc: Vec<u8>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub require_for_tokens: bool,
}

pub async fn totp(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<TotpRow>> {
    sqlx::query_as!(
        TotpRow,
        "select secret_enc, enabled_at, require_for_tokens from user_totp where user_id = $1",
        user_id
    )
    .fetch_optional(db)
    .await
}

/// True when the user has confirmed a TOTP setup.
pub async fn enabled(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from user_totp where user_id = $1 and enabled_at is not null) as "exists!""#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Accept `step` once: only a step strictly later than the last accepted one passes, in one
/// UPDATE, so concurrent submissions of one code succeed once. `confirming` accepts it for the
/// pending secret of a setup and enables it; otherwise only for an enabled one.
pub async fn accept_step(db: impl PgExecutor<'_>, user_id: &str, step: i64, confirming: bool) -> sqlx::Result<bool> {
    let won = if confirming {
        sqlx::query_scalar!(
            "update user_totp set last_step = $2, enabled_at = now() \
             where user_id = $1 and enabled_at is null and last_step < $2 returning user_id",
            user_id,
            step
        )
        .fetch_optional(db)
        .await?
    } else {
        sqlx::query_scalar!(
            "update user_totp set last_step = $2 \
             where user_id = $1 and enabled_at is not null and last_step < $2 returning user_id",
            user_id,
            step
        )
        .fetch_optional(db)
        .await?
    };
    Ok(won.is_some())
}

/// A new setup: the sealed secret, not yet enabled (it replaces an unconfirmed one).
pub async fn set_pending_secret(db: impl PgExecutor<'_>, user_id: &str, sealed: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into user_totp (user_id, secret_enc) values ($1, $2) \
         on conflict (user_id) do update set secret_enc = excluded.secret_enc, last_step = 0, enabled_at = null",
        user_id,
        sealed
    )
    .execute(db)
    .await?;
    Ok(())
}

/// When the (enabled) setup was confirmed.
pub async fn enabled_at(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(r#"select enabled_at as "enabled_at!" from user_totp where user_id = $1"#, user_id)
        .fetch_one(db)
        .await
}

pub async fn set_require_for_tokens(db: impl PgExecutor<'_>, user_id: &str, on: bool) -> sqlx::Result<()> {
    sqlx::query!("update user_totp set require_for_tokens = $2 where user_id = $1", user_id, on).execute(db).await?;
    Ok(())
}

pub async fn delete_totp(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from user_totp where user_id = $1", user_id).execute(db).await?;
    Ok(())
}

/// The unused backup codes: their ids and hashes.
pub async fn unused_backup_codes(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<(i64, String)>> {
    let rows = sqlx::query!(
        "select backup_code_id, code_hash from backup_code where user_id = $1 and used_at is null",
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.backup_code_id, r.code_hash)).collect())
}

/// Spend one backup code; false when a concurrent use spent it first.
pub async fn use_backup_code(db: impl PgExecutor<'_>, backup_code_id: i64) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update backup_code set used_at = now() where backup_code_id = $1 and used_at is null",
        backup_code_id
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn count_unused_backup_codes(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "count!" from backup_code where user_id = $1 and used_at is null"#,
        user_id
    )
    .fetch_one(db)
    .await
}

pub async fn delete_backup_codes(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from backup_code where user_id = $1", user_id).execute(db).await?;
    Ok(())
}

/// Replace every backup code of the user: the old ones stop working.
pub async fn replace_backup_codes(db: &mut PgConnection, user_id: &str, hashes: &[String]) -> sqlx::Result<()> {
    delete_backup_codes(&mut *db, user_id).await?;
    sqlx::query!("insert into backup_code (user_id, code_hash) select $1::text, unnest($2::text[])", user_id, hashes)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// A login's second step waiting for its code (`temp_token`, stored hashed).
pub async fn insert_challenge(
    db: impl PgExecutor<'_>,
    challenge_hash: &[u8],
    user_id: &str,
    ttl: chrono::Duration,
    code_challenge: Option<&str>,
    device_id: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into login_challenge (challenge_hash, user_id, expires_at, code_challenge, device_id) \
         values ($1, $2, now() + $3, $4, $5)",
        challenge_hash,
        user_id,
        super::interval(ttl)?,
        code_challenge,
        device_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A live challenge's user, PKCE challenge and device (when begun on the device page).
pub type ChallengeBinding = (String, Option<String>, Option<String>);

/// Count an attempt on a live challenge; `None` once it is used, expired or out of attempts.
pub async fn challenge_attempt(
    db: impl PgExecutor<'_>,
    challenge_hash: &[u8],
    max_attempts: i32,
) -> sqlx::Result<Option<ChallengeBinding>> {
    let row = sqlx::query!(
        "update login_challenge set attempts = attempts + 1 \
         where challenge_hash = $1 and used_at is null and expires_at > now() and attempts < $2 \
         returning user_id, code_challenge, device_id",
        challenge_hash,
        max_attempts
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user_id, r.code_challenge, r.device_id)))
}

/// Close a challenge (its code was accepted, or it is cancelled); false if it was already closed.
pub async fn close_challenge(db: impl PgExecutor<'_>, challenge_hash: &[u8]) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update login_challenge set used_at = now() where challenge_hash = $1 and used_at is null",
        challenge_hash
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}
