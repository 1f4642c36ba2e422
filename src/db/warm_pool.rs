//! `warm_pool` (how many ready instances an operator wants per server and image) and
//! `warm_instance` (the instances: launching, ready, removing). Nothing here is a container:
//! a claim turns one ready instance into a container row ([`take_ready`], then the container's
//! insert in the same transaction).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgExecutor, PgPool};

use crate::events::Tx;

/// The advisory-lock class of a pool's refill (the two-key form: apart from every one-key lock).
const REFILL_LOCK_CLASS: i32 = 0x5741_524d; // "WARM"

/// Set the size of `server_id`'s pool of `image`; 0 removes the pool (its idle instances are
/// removed by the refill loop). A new size clears the launch backoff.
pub async fn set_size(db: impl PgExecutor<'_>, server_id: &str, image: &str, size: i32) -> sqlx::Result<()> {
    if size == 0 {
        sqlx::query!("delete from warm_pool where server_id = $1 and image = $2", server_id, image).execute(db).await?;
        return Ok(());
    }
    sqlx::query!(
        "insert into warm_pool (server_id, image, size) values ($1, $2, $3) on conflict (server_id, image) \
         do update set size = excluded.size, failures = 0, retry_at = null",
        server_id,
        image,
        size
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A pool as operators see it: its size and how full it is.
#[derive(Debug, Clone, Serialize)]
pub struct PoolFill {
    pub server_id: String,
    pub server_name: String,
    pub image: String,
    /// 0 for instances of a pool removed, still being cleared.
    pub size: i32,
    pub ready: i64,
    pub launching: i64,
    pub removing: i64,
    /// Launches that failed in a row (the refill backs off).
    pub failures: i32,
}

/// Every pool, and every server and image that still has instances without a pool.
pub async fn fills(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<PoolFill>> {
    sqlx::query_as!(
        PoolFill,
        r#"with g as (select server_id, image from warm_pool union select server_id, image from warm_instance)
        select g.server_id as "server_id!", s.name as server_name, g.image as "image!",
            coalesce(p.size, 0) as "size!", coalesce(p.failures, 0) as "failures!",
            count(i.instance_id) filter (where i.state = 'ready') as "ready!",
            count(i.instance_id) filter (where i.state = 'launching') as "launching!",
            count(i.instance_id) filter (where i.state = 'removing') as "removing!"
        from g join server s on s.server_id = g.server_id
        left join warm_pool p on p.server_id = g.server_id and p.image = g.image
        left join warm_instance i on i.server_id = g.server_id and i.image = g.image
        group by g.server_id, s.name, g.image, p.size, p.failures order by s.name, g.image"#
    )
    .fetch_all(db)
    .await
}

/// One pool (or a server and image with instances left) for the refill loop.
#[derive(Debug, Clone)]
pub struct Group {
    pub server_id: String,
    pub image: String,
    pub size: i32,
    /// The server takes new containers, and the pool is not backing off after failures.
    pub may_launch: bool,
}

/// What the refill loop looks at this pass.
pub async fn groups(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<Group>> {
    sqlx::query_as!(
        Group,
        r#"with g as (select server_id, image from warm_pool union select server_id, image from warm_instance)
        select g.server_id as "server_id!", g.image as "image!", coalesce(p.size, 0) as "size!",
            (s.is_enabled and coalesce(p.retry_at <= now(), true)) as "may_launch!"
        from g join server s on s.server_id = g.server_id
        left join warm_pool p on p.server_id = g.server_id and p.image = g.image
        order by g.server_id, g.image"#
    )
    .fetch_all(db)
    .await
}

/// This pool's refill, for the length of `tx`, unless another replica holds it now (`false`).
pub async fn try_lock_group(tx: &mut Tx, server_id: &str, image: &str) -> sqlx::Result<bool> {
    let key = format!("{server_id}/{image}");
    sqlx::query_scalar!(r#"select pg_try_advisory_xact_lock($1, hashtext($2)) as "got!""#, REFILL_LOCK_CLASS, key)
        .fetch_one(&mut **tx)
        .await
}

/// A pool's size now (0 when it was removed) and how many of its instances are ready and
/// launching.
pub async fn counts(tx: &mut Tx, server_id: &str, image: &str) -> sqlx::Result<(i64, i64, i64)> {
    let r = sqlx::query!(
        r#"select coalesce((select size from warm_pool where server_id = $1 and image = $2), 0)::int8 as "size!",
            count(*) filter (where state = 'ready') as "ready!",
            count(*) filter (where state = 'launching') as "launching!"
        from warm_instance where server_id = $1 and image = $2"#,
        server_id,
        image
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok((r.size, r.ready, r.launching))
}

/// Record new instances as `launching` (the intent: they count towards the pool from now on).
pub async fn insert_launching(tx: &mut Tx, ids: &[String], server_id: &str, image: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into warm_instance (instance_id, server_id, image, state) \
         select id, $2, $3, 'launching' from unnest($1::text[]) as id",
        ids,
        server_id,
        image
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Mark at most `n` of a pool's ready instances (the newest first) `removing`; one a claim holds
/// is skipped. Returns their ids.
pub async fn trim(tx: &mut Tx, server_id: &str, image: &str, n: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "with t as (select instance_id from warm_instance where server_id = $1 and image = $2 and state = 'ready' \
         order by created_at desc limit $3 for update skip locked) \
         update warm_instance w set state = 'removing', state_changed_at = now() from t \
         where w.instance_id = t.instance_id returning w.instance_id",
        server_id,
        image,
        n
    )
    .fetch_all(&mut **tx)
    .await
}

/// One ready instance of the pool, the oldest, taken out of it for `tx`'s claim (one another
/// claim holds is skipped: two claims never get the same instance). Its row is gone once `tx`
/// commits; the caller inserts the container with this id in the same transaction.
pub async fn take_ready(tx: &mut Tx, server_id: &str, image: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "with t as (select instance_id from warm_instance where server_id = $1 and image = $2 and state = 'ready' \
         order by created_at limit 1 for update skip locked) \
         delete from warm_instance w using t where w.instance_id = t.instance_id returning w.instance_id",
        server_id,
        image
    )
    .fetch_optional(&mut **tx)
    .await
}

/// Whether a server has a pool of `image` with an instance ready (the quick look before a claim).
pub async fn any_ready(db: impl PgExecutor<'_>, server_id: &str, image: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from warm_instance where server_id = $1 and image = $2 and state = 'ready')
            as "any!""#,
        server_id,
        image
    )
    .fetch_one(db)
    .await
}

/// An instance's state, its row locked for `tx`.
pub async fn state_for_update(tx: &mut Tx, id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select state from warm_instance where instance_id = $1 for update", id)
        .fetch_optional(&mut **tx)
        .await
}

/// Stamp the instance's state as changed now (its state unchanged).
pub async fn touch(tx: &mut Tx, id: &str) -> sqlx::Result<()> {
    sqlx::query!("update warm_instance set state_changed_at = now() where instance_id = $1", id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Move an instance from `from` to `to`; whether it was in `from`.
pub async fn set_state(db: impl PgExecutor<'_>, id: &str, from: &str, to: &str) -> sqlx::Result<bool> {
    let r = sqlx::query!(
        "update warm_instance set state = $3, state_changed_at = now() where instance_id = $1 and state = $2",
        id,
        from,
        to
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn delete(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from warm_instance where instance_id = $1", id).execute(db).await?;
    Ok(())
}

/// A launch of this pool failed: back off (2, 4, 8 … s, at most 5 min) before the next.
pub async fn launch_failed(db: impl PgExecutor<'_>, server_id: &str, image: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update warm_pool set failures = failures + 1, \
         retry_at = now() + make_interval(secs => least(300, power(2, least(failures + 1, 9)))::float8) \
         where server_id = $1 and image = $2",
        server_id,
        image
    )
    .execute(db)
    .await?;
    Ok(())
}

/// A launch of this pool worked: no backoff.
pub async fn launch_worked(db: impl PgExecutor<'_>, server_id: &str, image: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update warm_pool set failures = 0, retry_at = null where server_id = $1 and image = $2 and failures > 0",
        server_id,
        image
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Launches older than `secs`: the process doing them died. They become `removing`.
pub async fn expire_launching(db: &PgPool, secs: i64) -> sqlx::Result<u64> {
    let r = sqlx::query!(
        "update warm_instance set state = 'removing', state_changed_at = now() where state = 'launching' \
         and state_changed_at < now() - make_interval(secs => $1::float8)",
        secs as f64
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}

/// The instances to remove from their hosts now: `(instance_id, server_id)`, at most 100.
pub async fn removing(db: &PgPool) -> sqlx::Result<Vec<(String, String)>> {
    let rows = sqlx::query!(
        "select instance_id, server_id from warm_instance where state = 'removing' order by state_changed_at limit 100"
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.instance_id, r.server_id)).collect())
}

/// The database's clock now (to compare with rows it stamps).
pub async fn now(db: &PgPool) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(r#"select now() as "now!""#).fetch_one(db).await
}

/// A server's instances: `(instance_id, state, since)`.
pub async fn of_server(db: &PgPool, server_id: &str) -> sqlx::Result<Vec<(String, String, DateTime<Utc>)>> {
    let rows =
        sqlx::query!("select instance_id, state, state_changed_at from warm_instance where server_id = $1", server_id)
            .fetch_all(db)
            .await?;
    Ok(rows.into_iter().map(|r| (r.instance_id, r.state, r.state_changed_at)).collect())
}

/// The pools and instances the server named `name` still has (a removal waits for none).
pub async fn left_on(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar!(
        r#"select (select count(*) from warm_pool p join server s on s.server_id = p.server_id where s.name = $1)
                + (select count(*) from warm_instance w join server s on s.server_id = w.server_id where s.name = $1)
                as "n!""#,
        name
    )
    .fetch_one(db)
    .await
}
