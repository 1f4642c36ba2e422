//! The counts and locks `crate::quota` checks limits with, each inside the transaction that adds
//! the row. One checked query per count.

use sqlx::PgExecutor;

use crate::events::Tx;

/// Take `owner_id`'s lock for `kind` rows (until `tx` ends).
pub async fn lock(tx: &mut Tx, kind: &str, owner_id: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext($1 || ':' || $2))", kind, owner_id).execute(&mut **tx).await?;
    Ok(())
}

/// The account's tier and whether it is an administrator's (from `app_user`).
pub async fn tier(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Option<(String, bool)>> {
    let row =
        sqlx::query!("select tier, is_admin from app_user where user_id = $1", user_id).fetch_optional(db).await?;
    Ok(row.map(|r| (r.tier, r.is_admin)))
}

pub async fn projects(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from project where user_id = $1"#, owner_id).fetch_one(db).await
}

/// Containers that hold something: not prespawned, not failed or being deleted.
pub async fn containers(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from container c join project p on p.project_id = c.project_id
        where p.user_id = $1 and not c.prespawn and c.status not in ('failed', 'deleting')"#,
        owner_id
    )
    .fetch_one(db)
    .await
}

pub async fn snapshots(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from container_snapshot s join container c on c.container_id = s.container_id
        join project p on p.project_id = c.project_id where p.user_id = $1"#,
        owner_id
    )
    .fetch_one(db)
    .await
}

/// API tokens (from `auth_token`).
pub async fn tokens(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select count(*) as "n!" from auth_token where user_id = $1"#, owner_id).fetch_one(db).await
}

/// Proxy aliases of the containers in `owner_id`'s projects.
pub async fn aliases(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from proxy_alias a join container c on c.container_id = a.container_id
        join project p on p.project_id = c.project_id where p.user_id = $1"#,
        owner_id
    )
    .fetch_one(db)
    .await
}

/// `owner_id`'s prespawned containers on `server_id`.
pub async fn prespawned(db: impl PgExecutor<'_>, owner_id: &str, server_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from container c join project p on p.project_id = c.project_id
        where p.user_id = $1 and c.server_id = $2 and c.prespawn"#,
        owner_id,
        server_id
    )
    .fetch_one(db)
    .await
}

/// A project's `max_containers` (`None`: no such project; `Some(None)`: unlimited).
pub async fn project_max(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<Option<Option<i32>>> {
    sqlx::query_scalar!("select max_containers from project where project_id = $1", project_id).fetch_optional(db).await
}

/// A project's containers that hold something (not prespawned, not failed or being deleted).
pub async fn in_project(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select count(*) as "n!" from container where project_id = $1 and not prespawn
        and status not in ('failed', 'deleting')"#,
        project_id
    )
    .fetch_one(db)
    .await
}

/// Firewall rules, both directions, over every container of `owner_id`'s projects.
pub async fn firewall_rules(db: impl PgExecutor<'_>, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(f.rule_count), 0)::bigint as "n!" from container_firewall f
        join container c on c.container_id = f.container_id
        join project p on p.project_id = c.project_id where p.user_id = $1"#,
        owner_id
    )
    .fetch_one(db)
    .await
}

/// A server that is not free: its `max_containers` (the container capacity its renter gets),
/// with its row held until `tx` ends so that creates on it count one at a time; `None` for a
/// free server (whose containers the account and project limits bound).
pub async fn rented_capacity(tx: &mut Tx, server_id: &str) -> sqlx::Result<Option<i32>> {
    sqlx::query_scalar!(
        "select max_containers from server where server_id = $1 and not is_free for no key update",
        server_id
    )
    .fetch_optional(&mut **tx)
    .await
}

/// The containers on a server that use `owner_id`'s capacity there: every one not failed or
/// being deleted (prespawned too) of theirs, and, when the server's rental is a pool's that
/// they share (as its renter or an accepted member), those of the renter and every accepted
/// member too: one capacity for the pool. (What another renter left there, stopped, is theirs,
/// not this capacity's.)
pub async fn on_server(db: impl PgExecutor<'_>, server_id: &str, owner_id: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"with r as (select user_id, pool_id from rental
                       where server_id = $1 and status = 'active' and rental_end > now() and pool_id is not null
                         and (user_id = $2 or exists (select 1 from pool_member m where m.pool_id = rental.pool_id
                                                       and m.user_id = $2 and m.joined_at is not null))),
                users as (select $2::text as u
                          union select user_id from r
                          union select m.user_id from r join pool_member m on m.pool_id = r.pool_id
                                 where m.joined_at is not null)
           select count(*) as "n!" from container c join project p on p.project_id = c.project_id
            where c.server_id = $1 and p.user_id in (select u from users) and c.status not in ('failed', 'deleting')"#,
        server_id,
        owner_id
    )
    .fetch_one(db)
    .await
}
