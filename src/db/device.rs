//! `device_authorization`: the device flow (`hoody login --web`). The device code, the user code,
//! the verification page's ticket and its browser cookie are stored as SHA-256.

use sqlx::PgExecutor;

pub struct NewDevice<'a> {
    pub device_id: &'a str,
    pub device_code_hash: &'a [u8],
    pub user_code_hash: &'a [u8],
    pub client_name: Option<&'a str>,
    pub client: Option<&'a str>,
    pub code_challenge: Option<&'a str>,
    pub ttl: chrono::Duration,
}

/// Start a device authorization; false when its user code collides with a pending one.
pub async fn insert(db: impl PgExecutor<'_>, d: &NewDevice<'_>) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "insert into device_authorization (device_id, device_code_hash, user_code_hash, client_name, client, \
         code_challenge, expires_at) values ($1, $2, $3, $4, $5, $6, now() + $7) \
         on conflict (user_code_hash) where status = 'pending' do nothing",
        d.device_id,
        d.device_code_hash,
        d.user_code_hash,
        d.client_name,
        d.client,
        d.code_challenge,
        super::interval(d.ttl)?
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A pending device's user code was typed on the verification page: bind the page's ticket and
/// browser to it. Its client name and the seconds it has left.
pub async fn open_by_user_code(
    db: impl PgExecutor<'_>,
    user_code_hash: &[u8],
    ticket_hash: &[u8],
    cookie_hash: &[u8],
) -> sqlx::Result<Option<(Option<String>, i64)>> {
    let row = sqlx::query!(
        r#"update device_authorization set ticket_hash = $2, cookie_hash = $3
           where user_code_hash = $1 and status = 'pending' and expires_at > now()
           returning client_name, ceil(extract(epoch from expires_at - now()))::bigint as "expires_in!""#,
        user_code_hash,
        ticket_hash,
        cookie_hash
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.client_name, r.expires_in)))
}

/// The pending device a page's ticket and browser cookie open together.
pub async fn by_ticket(
    db: impl PgExecutor<'_>,
    ticket_hash: &[u8],
    cookie_hash: &[u8],
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select device_id from device_authorization where ticket_hash = $1 and cookie_hash = $2 \
         and status = 'pending' and expires_at > now()",
        ticket_hash,
        cookie_hash
    )
    .fetch_optional(db)
    .await
}

/// Spend the page's ticket of a pending device: its id.
pub async fn spend_ticket(
    db: impl PgExecutor<'_>,
    ticket_hash: &[u8],
    cookie_hash: &[u8],
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update device_authorization set ticket_hash = null, cookie_hash = null \
         where ticket_hash = $1 and cookie_hash = $2 and status = 'pending' and expires_at > now() \
         returning device_id",
        ticket_hash,
        cookie_hash
    )
    .fetch_optional(db)
    .await
}

pub async fn is_pending(db: impl PgExecutor<'_>, device_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from device_authorization where device_id = $1 and status = 'pending'
             and expires_at > now()) as "exists!""#,
        device_id
    )
    .fetch_one(db)
    .await
}

/// Approve a pending device for the user at `generation` (and, when given, only while
/// `ticket_hash` is still its ticket); false when it is no longer pending.
pub async fn approve(
    db: impl PgExecutor<'_>,
    device_id: &str,
    user_id: &str,
    generation: i64,
    ticket_hash: Option<&[u8]>,
) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update device_authorization set status = 'approved', user_id = $2, approved_generation = $3, \
         decided_at = now(), ticket_hash = null, cookie_hash = null \
         where device_id = $1 and status = 'pending' and expires_at > now() \
         and ($4::bytea is null or ticket_hash = $4)",
        device_id,
        user_id,
        generation,
        ticket_hash
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Refuse a pending device whose ticket this is; false when it is not.
pub async fn deny(db: impl PgExecutor<'_>, device_id: &str, ticket_hash: &[u8]) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update device_authorization set status = 'denied', decided_at = now(), ticket_hash = null, \
         cookie_hash = null where device_id = $1 and ticket_hash = $2 and status = 'pending'",
        device_id,
        ticket_hash
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// A device as its poll sees it.
pub struct Polled {
    pub device_id: String,
    pub status: String,
    pub user_id: Option<String>,
    pub approved_generation: Option<i64>,
    pub code_challenge: Option<String>,
    pub client: Option<String>,
    pub expired: bool,
    /// Polled again within `interval`.
    pub too_fast: bool,
}

/// The device of a device code, locked (concurrent polls of one device queue here).
pub async fn lock_for_poll(
    db: impl PgExecutor<'_>,
    device_code_hash: &[u8],
    interval: chrono::Duration,
) -> sqlx::Result<Option<Polled>> {
    sqlx::query_as!(
        Polled,
        r#"select device_id, status, user_id, approved_generation, code_challenge, client,
             expires_at <= now() as "expired!", coalesce(last_polled_at > now() - $2::interval, false) as "too_fast!"
           from device_authorization where device_code_hash = $1 for update"#,
        device_code_hash,
        super::interval(interval)?
    )
    .fetch_optional(db)
    .await
}

pub async fn mark_polled(db: impl PgExecutor<'_>, device_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update device_authorization set last_polled_at = now() where device_id = $1", device_id)
        .execute(db)
        .await?;
    Ok(())
}

/// The approval is void (its approver signed out everywhere, or was banned).
pub async fn void(db: impl PgExecutor<'_>, device_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update device_authorization set status = 'void' where device_id = $1", device_id).execute(db).await?;
    Ok(())
}

/// The tokens of an approved device are delivered (once).
pub async fn consume(db: impl PgExecutor<'_>, device_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update device_authorization set status = 'consumed' where device_id = $1 and status = 'approved'",
        device_id
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Forget device authorizations a day past their expiry.
pub async fn prune(db: impl PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query!("delete from device_authorization where expires_at < now() - interval '1 day'").execute(db).await?;
    Ok(())
}
