//! `mail_outbox` (mail written in the request's transaction, delivered by the worker) and
//! `mail_request` (forgot-password and resend asks, turned into mail by the worker).

use std::time::Duration;

use sqlx::PgExecutor;

pub async fn enqueue(db: impl PgExecutor<'_>, to: &str, subject: &str, body: &str) -> sqlx::Result<()> {
    sqlx::query!("insert into mail_outbox (recipient, subject, body_text) values ($1, $2, $3)", to, subject, body)
        .execute(db)
        .await?;
    Ok(())
}

/// A mail taken for delivery.
pub struct Pending {
    pub mail_id: i64,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    /// Including this one.
    pub attempts: i32,
}

/// Lease up to `limit` mails due for delivery: counted as an attempt and pushed back two minutes,
/// skipping rows another worker holds.
pub async fn take_due(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<Pending>> {
    sqlx::query_as!(
        Pending,
        "update mail_outbox set attempts = attempts + 1, next_attempt_at = now() + interval '2 minutes' \
         where mail_id in ( \
             select mail_id from mail_outbox \
             where sent_at is null and failed_at is null and next_attempt_at <= now() \
             order by mail_id limit $1 for update skip locked) \
         returning mail_id, recipient, subject, body_text, attempts",
        limit
    )
    .fetch_all(db)
    .await
}

/// Mail not yet delivered nor dead-lettered: how many, and when the oldest was written.
pub async fn backlog(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, Option<chrono::DateTime<chrono::Utc>>)> {
    let r = sqlx::query!(
        r#"select count(*) as "pending!", min(created_at) as oldest from mail_outbox
           where sent_at is null and failed_at is null"#
    )
    .fetch_one(db)
    .await?;
    Ok((r.pending, r.oldest))
}

/// Delivered: the body (which may hold a one-time link) is not kept.
pub async fn mark_sent(db: impl PgExecutor<'_>, mail_id: i64) -> sqlx::Result<()> {
    sqlx::query!("update mail_outbox set sent_at = now(), body_text = '' where mail_id = $1", mail_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn retry_later(db: impl PgExecutor<'_>, mail_id: i64, after: Duration, error: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update mail_outbox set next_attempt_at = now() + $2, last_error = $3 where mail_id = $1",
        mail_id,
        super::interval(after)?,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Never try this mail again, and drop its body.
pub async fn mark_dead(db: impl PgExecutor<'_>, mail_id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update mail_outbox set failed_at = now(), body_text = '', last_error = $2 where mail_id = $1",
        mail_id,
        error
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Record an ask for mail (`reset` or `verify`) to `email`.
pub async fn insert_request(db: impl PgExecutor<'_>, kind: &str, email: &str) -> sqlx::Result<()> {
    sqlx::query!("insert into mail_request (kind, email) values ($1, $2)", kind, email).execute(db).await?;
    Ok(())
}

/// Take (delete) up to `limit` asks, oldest first, skipping those another worker holds: their
/// ids, kinds and addresses.
pub async fn take_requests(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<(i64, String, String)>> {
    let rows = sqlx::query!(
        "delete from mail_request where request_id in \
         (select request_id from mail_request order by request_id limit $1 for update skip locked) \
         returning request_id, kind, email",
        limit
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.request_id, r.kind, r.email)).collect())
}
