//! `waitlist`: one row per address, enriched later by `PATCH /waitlist`.

use sqlx::PgExecutor;

/// Add the address (or note the new client address of a repeat); true for its first signup.
pub async fn join(db: impl PgExecutor<'_>, email: &str, ip: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"insert into waitlist (email, ip) values ($1, $2)
           on conflict (email) do update set ip = excluded.ip, updated_at = now() returning (xmax = 0) as "first!""#,
        email,
        ip
    )
    .fetch_one(db)
    .await
}

pub async fn mark_confirmation_sent(db: impl PgExecutor<'_>, email: &str) -> sqlx::Result<()> {
    sqlx::query!("update waitlist set confirmation_sent_at = now() where email = $1", email).execute(db).await?;
    Ok(())
}

/// Set the answers given (`None` keeps a value); false when the address never joined.
pub async fn enrich(
    db: impl PgExecutor<'_>,
    email: &str,
    interest: Option<&str>,
    context: Option<&str>,
    industry: Option<&str>,
    role: Option<&str>,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update waitlist set interest = coalesce($2, interest), context = coalesce($3, context), \
         industry = coalesce($4, industry), role = coalesce($5, role) where email = $1",
        email,
        interest,
        context,
        industry,
        role
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() > 0)
}
