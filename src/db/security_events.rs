//! The account's security history: `login_event` (every sign-in) and `security_event` (rejected
//! sign-ins, 2FA and password changes, bans), both kept for the audit retention.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

pub async fn record(
    db: impl PgExecutor<'_>,
    user_id: &str,
    kind: &str,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into security_event (user_id, kind, ip, user_agent) values ($1, $2, $3, $4)",
        user_id,
        kind,
        ip,
        user_agent
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A sign-in, and the client it came through when named (`cli` for the device flow). True when
/// the account had signed in before, never from this address (within the kept history).
pub async fn record_login(
    db: impl PgExecutor<'_>,
    user_id: &str,
    ip: &str,
    user_agent: Option<&str>,
    client: Option<&str>,
) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"with prior as (select exists (select 1 from login_event where user_id = $1) as signed_in,
                                 exists (select 1 from login_event where user_id = $1 and ip = $2) as seen),
                added as (insert into login_event (user_id, ip, user_agent, client) values ($1, $2, $3, $4))
           select (signed_in and not seen) as "new_address!" from prior"#,
        user_id,
        ip,
        user_agent,
        client
    )
    .fetch_one(db)
    .await
}

/// The last five distinct sign-in addresses, newest first.
pub async fn recent_login_ips(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<(String, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        r#"select ip as "ip!", max(created_at) as "last!" from
             (select ip, created_at from login_event where user_id = $1 order by created_at desc limit 50) recent
           group by ip order by 2 desc limit 5"#,
        user_id
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.ip, r.last)).collect())
}

/// One entry of the history, with the total of the list it is part of.
pub struct HistoryRow {
    pub total: i64,
    pub id: String,
    pub event: String,
    pub ip: Option<String>,
    pub client: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of the user's sign-ins within `retention`, newest first; `failed` adds rejected
/// sign-ins, `security` the other security events.
pub async fn history(
    db: impl PgExecutor<'_>,
    user_id: &str,
    failed: bool,
    security: bool,
    retention: chrono::Duration,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<HistoryRow>> {
    sqlx::query_as!(
        HistoryRow,
        r#"select count(*) over () as "total!", id as "id!", event as "event!", ip, client,
             created_at as "created_at!"
           from (select 'login-' || login_event_id as id, 'login' as event, ip, client, created_at
                   from login_event where user_id = $1 and created_at > now() - $4::interval
                 union all
                 select 'security-' || security_event_id, kind, ip, null, created_at
                   from security_event where user_id = $1 and created_at > now() - $4::interval
                   and ((kind = 'login.failed' and $2) or (kind <> 'login.failed' and $3))) h
           order by created_at desc, id desc limit $5 offset $6"#,
        user_id,
        failed,
        security,
        super::interval(retention)?,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

/// Forget sign-ins and security events older than the audit retention.
pub async fn prune(db: &sqlx::PgPool, retention_days: i64) -> sqlx::Result<()> {
    let keep = super::interval(chrono::Duration::days(retention_days))?;
    sqlx::query!("delete from login_event where created_at < now() - $1::interval", keep).execute(db).await?;
    sqlx::query!("delete from security_event where created_at < now() - $1::interval", keep).execute(db).await?;
    Ok(())
}
