//! `payment_method`: a user's saved payment methods, at most one the default (a partial unique
//! index). Changes to a user's default take the user's advisory lock first, so two at once
//! cannot both clear the old default and both set a new one.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MethodRow {
    pub payment_method_id: String,
    pub user_id: String,
    pub r#type: String,
    pub name: String,
    pub status: String,
    pub details: serde_json::Value,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Serialise changes to one user's payment methods (until the transaction ends).
pub async fn lock_user(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('payment_method:' || $1, 0))", user_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<MethodRow>> {
    sqlx::query_as!(
        MethodRow,
        r#"select payment_method_id, user_id, type as "type", name, status, details, is_default, created_at, updated_at
             from payment_method where user_id = $1 order by created_at, payment_method_id"#,
        user_id
    )
    .fetch_all(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> sqlx::Result<Option<MethodRow>> {
    sqlx::query_as!(
        MethodRow,
        r#"select payment_method_id, user_id, type as "type", name, status, details, is_default, created_at, updated_at
             from payment_method where user_id = $1 and payment_method_id = $2"#,
        user_id,
        id
    )
    .fetch_optional(db)
    .await
}

/// Whether the user has a default (active) payment method.
pub async fn has_default(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from payment_method where user_id = $1 and is_default and status = 'active') as "e!""#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Clear the user's default (call with the user's lock held).
pub async fn clear_default(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_method set is_default = false, updated_at = now() where user_id = $1 and is_default",
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub struct NewMethod<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub r#type: &'a str,
    pub name: &'a str,
    pub details: &'a serde_json::Value,
    pub is_default: bool,
}

pub async fn insert(conn: &mut PgConnection, m: &NewMethod<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into payment_method (payment_method_id, user_id, type, name, details, is_default) \
         values ($1, $2, $3, $4, $5, $6)",
        m.id,
        m.user_id,
        m.r#type,
        m.name,
        m.details,
        m.is_default
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Write a method's changeable fields.
pub async fn update(
    conn: &mut PgConnection,
    user_id: &str,
    id: &str,
    details: &serde_json::Value,
    r#type: &str,
    status: &str,
    is_default: bool,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update payment_method set details = $3, type = $4, status = $5, is_default = $6, updated_at = now() \
          where user_id = $1 and payment_method_id = $2",
        user_id,
        id,
        details,
        r#type,
        status,
        is_default
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete one; whether it was the default (`None`: there was no such method).
pub async fn delete(conn: &mut PgConnection, user_id: &str, id: &str) -> sqlx::Result<Option<bool>> {
    sqlx::query_scalar!(
        "delete from payment_method where user_id = $1 and payment_method_id = $2 returning is_default",
        user_id,
        id
    )
    .fetch_optional(conn)
    .await
}
