//! `idempotency_key`: a user's key, the fingerprint of the request it stands for, and (once the
//! first request finished) its sealed answer. The layer is `crate::idempotency`.

use sqlx::PgExecutor;

/// Drop the user's key if it is older than `retention_hours` (it may then be claimed again).
pub async fn drop_expired(db: impl PgExecutor<'_>, user_id: &str, key: &str, retention_hours: i32) -> sqlx::Result<()> {
    sqlx::query!(
        "delete from idempotency_key where user_id = $1 and key = $2 \
            and created_at < now() - make_interval(hours => $3)",
        user_id,
        key,
        retention_hours
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Take the key for a request with this fingerprint; false when it is already taken.
pub async fn claim(db: impl PgExecutor<'_>, user_id: &str, key: &str, fingerprint: &[u8]) -> sqlx::Result<bool> {
    let taken = sqlx::query_scalar!(
        "insert into idempotency_key (user_id, key, fingerprint) values ($1, $2, $3) \
         on conflict (user_id, key) do nothing returning 1",
        user_id,
        key,
        fingerprint
    )
    .fetch_optional(db)
    .await?;
    Ok(taken.is_some())
}

pub struct Kept {
    pub fingerprint: Vec<u8>,
    /// Both null while the first request runs.
    pub status: Option<i16>,
    pub body: Option<Vec<u8>>,
    /// Still running after its lease: its process went away mid-request.
    pub abandoned: bool,
}

/// What the key holds; `abandoned` once it has run unanswered for more than `lease_secs`.
pub async fn kept(db: impl PgExecutor<'_>, user_id: &str, key: &str, lease_secs: f64) -> sqlx::Result<Option<Kept>> {
    sqlx::query_as!(
        Kept,
        r#"select fingerprint, status, body, created_at < now() - make_interval(secs => $3) as "abandoned!"
           from idempotency_key where user_id = $1 and key = $2"#,
        user_id,
        key,
        lease_secs
    )
    .fetch_optional(db)
    .await
}

/// Keep the first request's answer (sealed).
pub async fn keep(db: impl PgExecutor<'_>, user_id: &str, key: &str, status: i16, body: &[u8]) -> sqlx::Result<()> {
    sqlx::query!(
        "update idempotency_key set status = $3, body = $4 where user_id = $1 and key = $2",
        user_id,
        key,
        status,
        body
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Drop a claim whose answer is not kept.
pub async fn forget(db: impl PgExecutor<'_>, user_id: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from idempotency_key where user_id = $1 and key = $2 and status is null", user_id, key)
        .execute(db)
        .await?;
    Ok(())
}

/// Forget keys older than `retention_hours`.
pub async fn sweep(db: impl PgExecutor<'_>, retention_hours: i32) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from idempotency_key where created_at < now() - make_interval(hours => $1)",
        retention_hours
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
