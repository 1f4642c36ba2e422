//! `invite_code` (the free tier's invite codes, stored as SHA-256, each good for `max_uses`
//! accounts) and `invite_redemption` (which account used which code).

use sqlx::{PgConnection, PgExecutor};

pub async fn insert(db: impl PgExecutor<'_>, invite_id: &str, code_hash: &[u8], max_uses: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into invite_code (invite_id, code_hash, max_uses) values ($1, $2, $3)",
        invite_id,
        code_hash,
        max_uses
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Spend one use of a code for `user_id`; false when the code is unknown or used up, or this
/// account already redeemed it. Inside the caller's transaction.
pub async fn redeem(db: &mut PgConnection, code_hash: &[u8], user_id: &str) -> sqlx::Result<bool> {
    let invite = sqlx::query_scalar!(
        "update invite_code set uses = uses + 1 where code_hash = $1 and uses < max_uses returning invite_id",
        code_hash
    )
    .fetch_optional(&mut *db)
    .await?;
    let Some(invite_id) = invite else { return Ok(false) };
    let r = sqlx::query!(
        "insert into invite_redemption (invite_id, user_id) values ($1, $2) on conflict do nothing",
        invite_id,
        user_id
    )
    .execute(&mut *db)
    .await?;
    Ok(r.rows_affected() == 1)
}
