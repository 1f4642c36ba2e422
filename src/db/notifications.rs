//! `notification` (operators' notices and security signals) and `notification_read` (read state,
//! per account). A notification is for an account when it is global or targets it, and is shown
//! until it expires.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// At most this many notifications are listed (the newest).
pub const LIST_MAX: i64 = 200;

#[derive(Debug, sqlx::FromRow)]
pub struct NotificationRow {
    pub notification_id: String,
    pub title: String,
    pub message: String,
    pub r#type: String,
    pub severity: String,
    pub is_public: bool,
    pub is_global: bool,
    pub target_user_ids: Option<Vec<String>>,
    pub expires_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When the account read it (the inbox list only).
    pub read_at: Option<DateTime<Utc>>,
}

pub struct NewNotification<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub r#type: &'a str,
    pub severity: &'a str,
    pub is_public: bool,
    /// None: global.
    pub target_user_ids: Option<&'a [String]>,
    pub signal: Option<&'a str>,
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, n: &NewNotification<'_>) -> sqlx::Result<String> {
    let id = super::new_id();
    sqlx::query!(
        "insert into notification (notification_id, title, message, type, severity, is_public, is_global, \
                                   target_user_ids, signal, expires_at) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        id,
        n.title,
        n.message,
        n.r#type,
        n.severity,
        n.is_public,
        n.target_user_ids.is_none(),
        n.target_user_ids,
        n.signal,
        n.expires_at
    )
    .execute(db)
    .await?;
    Ok(id)
}

/// The account's notifications (global and targeted at it, unexpired), newest first, with its
/// read state.
pub async fn for_user(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as!(
        NotificationRow,
        r#"select n.notification_id, n.title, n.message, n.type as "type", n.severity, n.is_public, n.is_global,
                  n.target_user_ids, n.expires_at, n.created_at, n.updated_at, r.read_at as "read_at?"
             from notification n
             left join notification_read r on r.notification_id = n.notification_id and r.user_id = $1
            where (n.is_global or n.target_user_ids @> array[$1::text]) and (n.expires_at is null or n.expires_at > now())
            order by n.created_at desc, n.notification_id desc
            limit $2"#,
        user_id,
        LIST_MAX
    )
    .fetch_all(db)
    .await
}

/// The public notifications (unexpired), newest first.
pub async fn public(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as!(
        NotificationRow,
        r#"select notification_id, title, message, type as "type", severity, is_public, is_global, target_user_ids,
                  expires_at, created_at, updated_at, null::timestamptz as "read_at?"
             from notification
            where is_public and (expires_at is null or expires_at > now())
            order by created_at desc, notification_id desc
            limit $1"#,
        LIST_MAX
    )
    .fetch_all(db)
    .await
}

/// Mark one of the account's notifications read. None when it is not the account's (or expired);
/// else when it was read (the first time: a repeat keeps it) and whether it was read just now.
pub async fn mark_read(
    conn: &mut PgConnection,
    user_id: &str,
    id: &str,
) -> sqlx::Result<Option<(DateTime<Utc>, bool)>> {
    // On a conflict the row is locked and updated to itself, so a read made meanwhile by a
    // concurrent request is returned (committed), not missed.
    let row = sqlx::query!(
        r#"insert into notification_read (notification_id, user_id)
           select notification_id, $1 from notification
            where notification_id = $2 and (is_global or target_user_ids @> array[$1::text])
              and (expires_at is null or expires_at > now())
           on conflict (user_id, notification_id) do update set read_at = notification_read.read_at
           returning read_at, (xmax = 0) as "fresh!""#,
        user_id,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.read_at, r.fresh)))
}

/// Mark every unread notification of the account read; the ids marked now.
pub async fn mark_all_read(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"insert into notification_read (notification_id, user_id)
           select notification_id, $1 from notification
            where (is_global or target_user_ids @> array[$1::text]) and (expires_at is null or expires_at > now())
           on conflict do nothing
           returning notification_id"#,
        user_id
    )
    .fetch_all(conn)
    .await
}

/// The notifications an operator published (not the security signals), newest first.
pub async fn published(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<NotificationRow>> {
    sqlx::query_as!(
        NotificationRow,
        r#"select notification_id, title, message, type as "type", severity, is_public, is_global, target_user_ids,
                  expires_at, created_at, updated_at, null::timestamptz as "read_at?"
             from notification where signal is null
            order by created_at desc, notification_id desc limit $1"#,
        limit
    )
    .fetch_all(db)
    .await
}

/// Delete the notifications that expired more than `days` ago (their read state goes with them).
pub async fn prune(db: impl PgExecutor<'_>, days: i64) -> sqlx::Result<u64> {
    let r =
        sqlx::query!("delete from notification where expires_at < now() - make_interval(days => $1::int)", days as i32)
            .execute(db)
            .await?;
    Ok(r.rows_affected())
}

/// Remove a published notification: None when there is none, else the accounts it targeted
/// (empty for a global one).
pub async fn remove(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<Vec<String>>> {
    let row = sqlx::query!(
        "delete from notification where notification_id = $1 and signal is null returning target_user_ids",
        id
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| r.target_user_ids.unwrap_or_default()))
}

/// A use of an auth token from an address it had not been used from.
pub struct NewTokenAddress {
    pub token_id: String,
    pub alias: String,
    pub user_id: String,
    pub ip: String,
}

/// Record the addresses auth tokens were used from; the uses from an address that is new for a
/// token that had been used from another one before (its first address is no news). A token
/// being deleted is skipped, not waited for.
pub async fn token_addresses(
    conn: &mut PgConnection,
    token_ids: &[String],
    ips: &[String],
) -> sqlx::Result<Vec<NewTokenAddress>> {
    let rows = sqlx::query!(
        r#"with used as (select * from unnest($1::text[], $2::text[]) as u (token_id, ip)),
                known as (select distinct token_id from auth_token_ip where token_id = any($1)),
                added as (insert into auth_token_ip (token_id, ip)
                          select u.token_id, u.ip from used u join auth_token t on t.token_id = u.token_id
                             for key share of t skip locked
                          on conflict do nothing returning token_id, ip)
           select a.token_id as "token_id!", a.ip as "ip!", t.user_id as "user_id!", t.alias as "alias!"
             from added a join known k on k.token_id = a.token_id join auth_token t on t.token_id = a.token_id"#,
        token_ids,
        ips
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| NewTokenAddress { token_id: r.token_id, alias: r.alias, user_id: r.user_id, ip: r.ip })
        .collect())
}
