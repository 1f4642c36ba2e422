//! `payment_intent` and `webhook_event`: top-ups through a provider and the provider events
//! already applied.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IntentRow {
    pub intent_id: String,
    pub user_id: String,
    pub provider: String,
    pub flow: String,
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub provider_ref: Option<String>,
    /// The provider's payment behind it, once a credit named it.
    pub provider_payment: Option<String>,
    pub redirect_url: Option<String>,
    pub reason: String,
    pub payment_method_id: Option<String>,
    pub reversed_cents: i64,
    pub request_hash: Option<Vec<u8>>,
    pub txn_id: Option<String>,
    pub failure: Option<String>,
    pub credited_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "intent_id, user_id, provider, flow, status, amount_cents, currency, provider_ref, provider_payment, redirect_url, \
    reason, payment_method_id, reversed_cents, request_hash, txn_id, failure, credited_at, expires_at, created_at, updated_at";

pub struct NewIntent<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub provider: &'a str,
    pub flow: &'a str,
    pub amount_cents: i64,
    pub reason: &'a str,
    pub payment_method_id: Option<&'a str>,
    pub idem_key: Option<&'a str>,
    pub request_hash: Option<&'a [u8]>,
}

/// Insert in `creating`; false when the user's key is taken (by a committed or running one).
pub async fn insert(db: impl PgExecutor<'_>, n: &NewIntent<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        "insert into payment_intent (intent_id, user_id, provider, flow, amount_cents, reason, payment_method_id, idem_key, request_hash) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict (user_id, provider, idem_key) do nothing returning 1",
        n.id,
        n.user_id,
        n.provider,
        n.flow,
        n.amount_cents,
        n.reason,
        n.payment_method_id,
        n.idem_key,
        n.request_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(done.is_some())
}

pub async fn by_key(
    db: impl PgExecutor<'_>,
    user_id: &str,
    provider: &str,
    key: &str,
) -> sqlx::Result<Option<IntentRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from payment_intent where user_id = $1 and provider = $2 and idem_key = $3"
    ))
    .bind(user_id)
    .bind(provider)
    .bind(key)
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> sqlx::Result<Option<IntentRow>> {
    sqlx::query_as(&format!("select {COLUMNS} from payment_intent where user_id = $1 and intent_id = $2"))
        .bind(user_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The intent, locked for its credit (any user: the webhook names it).
pub async fn lock(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<IntentRow>> {
    sqlx::query_as(&format!("select {COLUMNS} from payment_intent where intent_id = $1 for update"))
        .bind(id)
        .fetch_optional(conn)
        .await
}

/// A page of the user's intents with one provider, newest first, and their total.
pub async fn list(
    db: impl PgExecutor<'_> + Copy,
    user_id: &str,
    provider: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<IntentRow>, i64)> {
    let rows = sqlx::query_as(&format!(
        "select {COLUMNS} from payment_intent where user_id = $1 and provider = $2 \
         order by created_at desc, intent_id limit $3 offset $4"
    ))
    .bind(user_id)
    .bind(provider)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!(
        r#"select count(*) as "n!" from payment_intent where user_id = $1 and provider = $2"#,
        user_id,
        provider
    )
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

/// The provider took it: its object and page, and the status it is in now (unless the provider's
/// news of the payment came first: then only its object and page are added).
pub async fn started(
    db: impl PgExecutor<'_>,
    id: &str,
    status: &str,
    provider_ref: &str,
    redirect_url: Option<&str>,
    expires_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set status = case when status = 'creating' then $2 else status end, \
                provider_ref = $3, redirect_url = $4, expires_at = $5, updated_at = now() \
          where intent_id = $1 and (status = 'creating' or provider_ref is null)",
        id,
        status,
        provider_ref,
        redirect_url,
        expires_at
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Its start was refused (unless the provider's news of it moved it on meanwhile).
pub async fn failed(db: impl PgExecutor<'_>, id: &str, why: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set status = 'failed', failure = $2, updated_at = now() \
          where intent_id = $1 and status = 'creating'",
        id,
        why
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Credited, as `txn_id`; `payment` is the provider's payment (pi_…) when the event named it.
pub async fn completed(conn: &mut PgConnection, id: &str, txn_id: &str, payment: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set status = 'completed', txn_id = $2, credited_at = now(), updated_at = now(), \
                provider_payment = coalesce($3, provider_payment) where intent_id = $1 and txn_id is null",
        id,
        txn_id,
        payment
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Record a provider event; false when it was recorded before (a replay).
pub async fn record_event(conn: &mut PgConnection, provider: &str, event_id: &str, kind: &str) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        "insert into webhook_event (provider, event_id, event_type) values ($1, $2, $3) on conflict do nothing returning 1",
        provider,
        event_id,
        kind
    )
    .fetch_optional(conn)
    .await?;
    Ok(done.is_some())
}

/// Keep the first answer for repeats with the key.
pub async fn keep_answer(db: impl PgExecutor<'_>, id: &str, answer: &serde_json::Value) -> sqlx::Result<()> {
    sqlx::query!("update payment_intent set answer = $2 where intent_id = $1", id, answer).execute(db).await?;
    Ok(())
}

pub async fn answer(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<serde_json::Value>> {
    Ok(sqlx::query_scalar!("select answer from payment_intent where intent_id = $1", id)
        .fetch_optional(db)
        .await?
        .flatten())
}

/// The user's customer at Stripe, if made.
pub async fn stripe_customer(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select customer_id from stripe_customer where user_id = $1", user_id).fetch_optional(db).await
}

/// Record the user's customer (the first one recorded stands; returns it).
pub async fn set_stripe_customer(
    db: impl PgExecutor<'_> + Copy,
    user_id: &str,
    customer_id: &str,
) -> sqlx::Result<String> {
    sqlx::query!(
        "insert into stripe_customer (user_id, customer_id) values ($1, $2) on conflict (user_id) do nothing",
        user_id,
        customer_id
    )
    .execute(db)
    .await?;
    sqlx::query_scalar!("select customer_id from stripe_customer where user_id = $1", user_id).fetch_one(db).await
}

/// The provider could not be reached: the intent stays `creating` with the reason, and a repeat
/// with the key asks the provider again (its own idempotency key is the intent id).
pub async fn unreachable(db: impl PgExecutor<'_>, id: &str, why: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set failure = $2, updated_at = now() where intent_id = $1 and status = 'creating'",
        id,
        why
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Move an intent (not yet credited) to `status`.
pub async fn set_status(conn: &mut PgConnection, id: &str, status: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set status = $2, updated_at = now() where intent_id = $1 and txn_id is null",
        id,
        status
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// The credited intent behind a provider payment (pi_…), locked: completed, or held for review
/// since.
pub async fn lock_by_payment(
    conn: &mut PgConnection,
    provider: &str,
    payment: &str,
) -> sqlx::Result<Option<IntentRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from payment_intent where provider = $1 and (provider_payment = $2 or provider_ref = $2) \
         and txn_id is not null for update"
    ))
    .bind(provider)
    .bind(payment)
    .fetch_optional(conn)
    .await
}

/// Record that `cents` more of the intent's payment was taken back.
pub async fn reversed(conn: &mut PgConnection, id: &str, cents: i64) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_intent set reversed_cents = reversed_cents + $2, updated_at = now() where intent_id = $1",
        id,
        cents
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Hold an intent for an operator (even a credited one: its money is disputed).
pub async fn hold_for_review(conn: &mut PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query!("update payment_intent set status = 'admin_review', updated_at = now() where intent_id = $1", id)
        .execute(conn)
        .await?;
    Ok(())
}
