//! `pool` and `pool_member`. A pool is visible to its accepted members (the owner has a member
//! row with role `owner`); an invitation is a member row not joined yet.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// A user is an accepted member of at most this many pools (owned ones included): a create or an
/// accept beyond it is refused, so the list of one's pools is always whole.
pub const MEMBERSHIPS_MAX: i64 = 500;
/// At most this many pools are listed: every pool of a user at the limit, and the default pool a
/// first list may make for them.
pub const LIST_MAX: i64 = MEMBERSHIPS_MAX + 1;
/// The name of each account's default pool.
pub const DEFAULT_NAME: &str = "Default";

/// A pool and the caller's role in it.
#[derive(Debug, Clone)]
pub struct PoolRow {
    pub pool_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: Value,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// `owner`, `admin` or `user`.
    pub role: String,
}

/// A pool in the caller's list, with its counts.
#[derive(Debug, Clone)]
pub struct PoolListRow {
    pub pool_id: String,
    pub owner_id: String,
    pub name: String,
    pub description: Option<String>,
    pub settings: Value,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub role: String,
    /// Accepted members, the owner among them.
    pub member_count: i64,
    /// Servers rented for the pool now.
    pub server_count: i64,
}

/// A member (or an invitation, `joined_at` null) with the user's names.
#[derive(Debug, Clone)]
pub struct MemberRow {
    pub member_id: String,
    pub pool_id: String,
    pub user_id: String,
    pub username: String,
    pub alias: Option<String>,
    pub role: String,
    pub invited_at: DateTime<Utc>,
    pub joined_at: Option<DateTime<Utc>>,
}

/// A server rented for a pool.
#[derive(Debug, Clone)]
pub struct PoolServerRow {
    pub server_id: String,
    pub name: String,
    pub rental_status: String,
    pub is_ready: bool,
}

/// An invitation as its invitee sees it.
#[derive(Debug, Clone)]
pub struct InvitationRow {
    pub member_id: String,
    pub pool_id: String,
    pub pool_name: String,
    pub pool_description: Option<String>,
    pub role: String,
    pub invited_at: DateTime<Utc>,
    pub inviter_id: Option<String>,
    pub inviter_username: Option<String>,
    pub inviter_alias: Option<String>,
}

/// Make the account's default pool if it has none (and no pool of that name); the new pool's
/// id when one was made now.
pub async fn ensure_default(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<Option<String>> {
    let id = super::new_id();
    let made = sqlx::query_scalar!(
        "insert into pool (pool_id, owner_id, name, is_default) \
         select $1, $2, $3, true where not exists (select 1 from pool where owner_id = $2 and is_default) \
         on conflict do nothing returning pool_id",
        id,
        user_id,
        DEFAULT_NAME
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(id) = &made {
        add_owner(conn, id, user_id).await?;
    }
    Ok(made)
}

async fn add_owner(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into pool_member (member_id, pool_id, user_id, role, invited_by, joined_at) \
         values ($1, $2, $3, 'owner', $3, now())",
        super::new_id(),
        pool_id,
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// A new pool of `owner_id` (and its owner's member row); `pool_owner_name_key` on a taken name.
pub async fn insert(
    conn: &mut PgConnection,
    owner_id: &str,
    name: &str,
    description: Option<&str>,
    settings: &Value,
) -> sqlx::Result<PoolRow> {
    let id = super::new_id();
    let row = sqlx::query_as!(
        PoolRow,
        r#"insert into pool (pool_id, owner_id, name, description, settings) values ($1, $2, $3, $4, $5)
           returning pool_id, owner_id, name, description, settings, is_default, created_at, updated_at,
                     'owner' as "role!""#,
        id,
        owner_id,
        name,
        description,
        settings
    )
    .fetch_one(&mut *conn)
    .await?;
    add_owner(conn, &id, owner_id).await?;
    Ok(row)
}

/// The pool as `user_id` may see it: they are an accepted member (or its owner).
pub async fn visible(db: impl PgExecutor<'_>, pool_id: &str, user_id: &str) -> sqlx::Result<Option<PoolRow>> {
    sqlx::query_as!(
        PoolRow,
        "select p.pool_id, p.owner_id, p.name, p.description, p.settings, p.is_default, p.created_at, p.updated_at, \
                m.role from pool p join pool_member m on m.pool_id = p.pool_id \
          where p.pool_id = $1 and m.user_id = $2 and m.joined_at is not null",
        pool_id,
        user_id
    )
    .fetch_optional(db)
    .await
}

/// The pools `user_id` owns or is an accepted member of, oldest first.
pub async fn list_for(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<PoolListRow>> {
    sqlx::query_as!(
        PoolListRow,
        r#"select p.pool_id, p.owner_id, p.name, p.description, p.settings, p.is_default, p.created_at, p.updated_at,
                  m.role,
                  (select count(*) from pool_member a where a.pool_id = p.pool_id and a.joined_at is not null)
                    as "member_count!",
                  (select count(*) from rental r where r.pool_id = p.pool_id and r.status = 'active'
                      and r.rental_end > now()) as "server_count!"
             from pool p join pool_member m on m.pool_id = p.pool_id
            where m.user_id = $1 and m.joined_at is not null
            order by p.is_default desc, p.created_at, p.pool_id
            limit $2"#,
        user_id,
        LIST_MAX
    )
    .fetch_all(db)
    .await
}

/// Change a pool's description (`Some(None)` clears it) and settings; the row after.
pub async fn update(
    conn: &mut PgConnection,
    pool_id: &str,
    description: Option<Option<&str>>,
    settings: Option<&Value>,
) -> sqlx::Result<()> {
    sqlx::query!(
        "update pool set description = case when $2 then $3 else description end, \
         settings = coalesce($4, settings) where pool_id = $1",
        pool_id,
        description.is_some(),
        description.flatten(),
        settings
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Delete a pool that is not a default one; its members (and invitees) as (user, joined), or
/// None when there was no such deletable pool.
pub async fn delete(conn: &mut PgConnection, pool_id: &str) -> sqlx::Result<Option<Vec<(String, bool)>>> {
    let rows = sqlx::query!(
        r#"select user_id, joined_at is not null as "joined!" from pool_member where pool_id = $1
            order by invited_at, user_id for update"#,
        pool_id
    )
    .fetch_all(&mut *conn)
    .await?;
    end_use(&mut *conn, pool_id, None).await?;
    let gone = sqlx::query!("delete from pool where pool_id = $1 and not is_default", pool_id).execute(conn).await?;
    Ok((gone.rows_affected() == 1).then(|| rows.into_iter().map(|r| (r.user_id, r.joined)).collect()))
}

/// A pool's members and invitations: the owner first, then by invitation time.
pub async fn members(db: impl PgExecutor<'_>, pool_id: &str) -> sqlx::Result<Vec<MemberRow>> {
    sqlx::query_as!(
        MemberRow,
        "select m.member_id, m.pool_id, m.user_id, u.username, u.alias, m.role, m.invited_at, m.joined_at \
           from pool_member m join app_user u on u.user_id = m.user_id \
          where m.pool_id = $1 order by (m.role = 'owner') desc, m.invited_at, m.member_id",
        pool_id
    )
    .fetch_all(db)
    .await
}

/// One member row (or invitation) of a pool, locked.
pub async fn member(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<Option<MemberRow>> {
    sqlx::query_as!(
        MemberRow,
        "select m.member_id, m.pool_id, m.user_id, u.username, u.alias, m.role, m.invited_at, m.joined_at \
           from pool_member m join app_user u on u.user_id = m.user_id \
          where m.pool_id = $1 and m.user_id = $2 for update of m",
        pool_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// The servers rented for the pool now.
pub async fn servers(db: impl PgExecutor<'_>, pool_id: &str) -> sqlx::Result<Vec<PoolServerRow>> {
    sqlx::query_as!(
        PoolServerRow,
        r#"select s.server_id, s.name, r.status as rental_status, s.is_enabled as "is_ready!"
             from rental r join server s on s.server_id = r.server_id
            where r.pool_id = $1 and r.status = 'active' and r.rental_end > now()
            order by r.created_at, s.server_id"#,
        pool_id
    )
    .fetch_all(db)
    .await
}

/// The id of the (unbanned) user with this username.
pub async fn user_by_username(db: impl PgExecutor<'_>, username: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select user_id from app_user where username = $1 and not is_banned", username)
        .fetch_optional(db)
        .await
}

/// A new invitation; `pool_member_user_key` when the user has a row already.
pub async fn invite(
    conn: &mut PgConnection,
    pool_id: &str,
    user_id: &str,
    role: &str,
    invited_by: &str,
) -> sqlx::Result<MemberRow> {
    let id = super::new_id();
    sqlx::query!(
        "insert into pool_member (member_id, pool_id, user_id, role, invited_by) values ($1, $2, $3, $4, $5)",
        id,
        pool_id,
        user_id,
        role,
        invited_by
    )
    .execute(&mut *conn)
    .await?;
    member(conn, pool_id, user_id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Set a (non-owner) member's role.
pub async fn set_role(conn: &mut PgConnection, pool_id: &str, user_id: &str, role: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update pool_member set role = $3 where pool_id = $1 and user_id = $2 and role <> 'owner'",
        pool_id,
        user_id,
        role
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Note that `user_id` (if an accepted member) no longer uses the servers rented for the pool by
/// someone else: the rental sweeper stops their containers there.
async fn end_use(conn: &mut PgConnection, pool_id: &str, user_id: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into pool_use_ended (user_id, server_id) \
         select m.user_id, r.server_id from pool_member m join rental r on r.pool_id = m.pool_id \
          where m.pool_id = $1 and ($2::text is null or m.user_id = $2) and m.joined_at is not null \
            and r.status = 'active' and r.user_id <> m.user_id \
         on conflict (user_id, server_id) do update set ended_at = now()",
        pool_id,
        user_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// How many pools `user_id` is an accepted member of (owned ones included).
pub async fn memberships(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from pool_member where user_id = $1 and joined_at is not null"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// The role `user_id` holds in the pool as an accepted member, with their member row locked until
/// the transaction ends: a change or removal of that row waits for it, and it waits for them.
/// The pool's row is locked first: the writes under a pool role take their turns per pool, so
/// the member rows they lock next (the caller's, a target's, all of them for a delete) never
/// deadlock.
pub async fn lock_role(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query!("select 1 as one from pool where pool_id = $1 for no key update", pool_id)
        .fetch_optional(&mut *conn)
        .await?;
    sqlx::query_scalar!(
        "select role from pool_member where pool_id = $1 and user_id = $2 and joined_at is not null for update",
        pool_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// The servers `user_id` rented or ordered for the pool serve it no more (they are no longer in
/// it): its other members stop using them (`pool_use_ended`) and the rentals and orders are the
/// renter's alone.
async fn detach_rentals(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<()> {
    // The orders first: a delivery in flight (it holds its order) commits its rental before the
    // rentals are read, and the rental it made for the pool is detached with the others.
    sqlx::query!("update reservation set pool_id = null where pool_id = $1 and user_id = $2", pool_id, user_id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!(
        "insert into pool_use_ended (user_id, server_id) \
         select m.user_id, r.server_id from rental r join pool_member m on m.pool_id = r.pool_id \
          where r.pool_id = $1 and r.user_id = $2 and r.status = 'active' \
            and m.user_id <> $2 and m.joined_at is not null \
         on conflict (user_id, server_id) do update set ended_at = now()",
        pool_id,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("update rental set pool_id = null where pool_id = $1 and user_id = $2", pool_id, user_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Delete a (non-owner) member row or invitation; what the member rented for the pool is theirs
/// alone from now on.
pub async fn remove(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<bool> {
    // Their row first: a rent for the pool or an invitation of theirs in flight (which hold it)
    // commits before the rest is read.
    sqlx::query!("select 1 as one from pool_member where pool_id = $1 and user_id = $2 for update", pool_id, user_id)
        .fetch_optional(&mut *conn)
        .await?;
    end_use(&mut *conn, pool_id, Some(user_id)).await?;
    detach_rentals(&mut *conn, pool_id, user_id).await?;
    let r = sqlx::query!(
        "delete from pool_member where pool_id = $1 and user_id = $2 and role <> 'owner'",
        pool_id,
        user_id
    )
    .execute(conn)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Accept the user's invitation to the pool, once: the member row, or None when there is no
/// pending invitation (none, or accepted already: a concurrent accept waits and finds none).
pub async fn accept(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update pool_member set joined_at = now() where pool_id = $1 and user_id = $2 and joined_at is null \
         returning role",
        pool_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// Reject (delete) the user's pending invitation to the pool: its role, or None when there is none.
pub async fn reject(conn: &mut PgConnection, pool_id: &str, user_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "delete from pool_member where pool_id = $1 and user_id = $2 and joined_at is null returning role",
        pool_id,
        user_id
    )
    .fetch_optional(conn)
    .await
}

/// Whether the user is an accepted member of the pool.
pub async fn is_member(db: impl PgExecutor<'_>, pool_id: &str, user_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from pool_member where pool_id = $1 and user_id = $2 and joined_at is not null)
           as "found!""#,
        pool_id,
        user_id
    )
    .fetch_one(db)
    .await
}

/// The user's pending invitations, newest first.
pub async fn pending(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Vec<InvitationRow>> {
    sqlx::query_as!(
        InvitationRow,
        r#"select m.member_id, m.pool_id, p.name as pool_name, p.description as pool_description, m.role, m.invited_at,
                  i.user_id as "inviter_id?", i.username as "inviter_username?", i.alias as "inviter_alias?"
             from pool_member m join pool p on p.pool_id = m.pool_id
             left join app_user i on i.user_id = m.invited_by
            where m.user_id = $1 and m.joined_at is null
            order by m.invited_at desc, m.member_id
            limit $2"#,
        user_id,
        LIST_MAX
    )
    .fetch_all(db)
    .await
}

/// The pool's accepted members (with `managers`: only the owner and admins).
pub async fn audience(conn: &mut PgConnection, pool_id: &str, managers: bool) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select user_id from pool_member where pool_id = $1 and joined_at is not null \
           and (not $2 or role in ('owner', 'admin')) order by user_id",
        pool_id,
        managers
    )
    .fetch_all(conn)
    .await
}
