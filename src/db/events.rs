//! Event rows: written inside the change's transaction, numbered (`seq`) after they commit, read
//! in number order. `crate::events` says why.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

use super::new_id;

/// What an event row holds besides its ids and times.
pub struct NewEvent<'a> {
    pub user_id: &'a str,
    pub event_type: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub project_id: Option<&'a str>,
    pub container_id: Option<&'a str>,
    pub realm_ids: &'a [String],
    pub data: &'a Value,
}

pub async fn insert(db: impl PgExecutor<'_>, e: &NewEvent<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into event (event_id, user_id, event_type, resource_type, resource_id, project_id, container_id, \
         realm_ids, data) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        new_id(),
        e.user_id,
        e.event_type,
        e.resource_type,
        e.resource_id,
        e.project_id,
        e.container_id,
        e.realm_ids,
        e.data,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Insert `events` in one statement, in their order.
pub async fn insert_all(db: impl PgExecutor<'_>, events: &[NewEvent<'_>]) -> sqlx::Result<()> {
    let ids: Vec<String> = events.iter().map(|_| new_id()).collect();
    let users: Vec<&str> = events.iter().map(|e| e.user_id).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let resource_types: Vec<&str> = events.iter().map(|e| e.resource_type).collect();
    let resource_ids: Vec<&str> = events.iter().map(|e| e.resource_id).collect();
    let projects: Vec<Option<&str>> = events.iter().map(|e| e.project_id).collect();
    let containers: Vec<Option<&str>> = events.iter().map(|e| e.container_id).collect();
    let realms: Vec<Value> = events.iter().map(|e| Value::from(e.realm_ids.to_vec())).collect();
    let data: Vec<Value> = events.iter().map(|e| e.data.clone()).collect();
    sqlx::query!(
        "insert into event (event_id, user_id, event_type, resource_type, resource_id, project_id, container_id, \
         realm_ids, data) \
         select e.id, e.u, e.t, e.rt, e.ri, e.p, e.c, array(select jsonb_array_elements_text(e.r)), e.d \
           from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                       $8::jsonb[], $9::jsonb[]) with ordinality as e (id, u, t, rt, ri, p, c, r, d, n) \
          order by e.n",
        &ids,
        &users as &[&str],
        &types as &[&str],
        &resource_types as &[&str],
        &resource_ids as &[&str],
        &projects as &[Option<&str>],
        &containers as &[Option<&str>],
        &realms,
        &data,
    )
    .execute(db)
    .await?;
    Ok(())
}

/// `pg_notify(channel, payload)`: delivered when (and only if) the transaction commits.
pub async fn notify(db: impl PgExecutor<'_>, channel: &str, payload: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_notify($1, $2)", channel, payload).execute(db).await?;
    Ok(())
}

/// Take the numbering lock (one numbering transaction at a time, across replicas) until the
/// transaction ends.
pub async fn lock_numbering(conn: &mut PgConnection) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtext('hoody.events.numbering'))").execute(conn).await?;
    Ok(())
}

/// Number up to 10 000 committed, unnumbered rows in id order; the highest number given.
pub async fn number(conn: &mut PgConnection) -> sqlx::Result<Option<i64>> {
    // `nextval` is evaluated row by row over the id-ordered subquery: numbers follow ids
    // within one numbering, and every later numbering gives higher ones.
    sqlx::query_scalar!(
        "with numbered as (update event e set seq = n.seq \
           from (select id, nextval('event_seq_numbers') as seq \
                 from (select id from event where seq is null order by id limit 10000) pending) n \
           where e.id = n.id returning e.seq) \
         select max(seq) from numbered"
    )
    .fetch_one(conn)
    .await
}

/// One numbered event, as readers get it.
#[derive(Debug, Clone)]
pub struct EventRow {
    pub seq: i64,
    pub event_id: String,
    pub user_id: String,
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: String,
    pub project_id: Option<String>,
    pub container_id: Option<String>,
    pub realm_ids: Vec<String>,
    pub data: Value,
    pub created_at: DateTime<Utc>,
}

/// Numbered events after `after`, in order (at most `limit`).
pub async fn after(db: impl PgExecutor<'_>, after: i64, limit: i64) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"select seq as "seq!", event_id, user_id, event_type, resource_type, resource_id, project_id, container_id,
            realm_ids, data, created_at from event where seq > $1 order by seq limit $2"#,
        after,
        limit
    )
    .fetch_all(db)
    .await
}

/// Which events a reader may see: their own and those of the projects shared with them, in the
/// request's realm when it has one. `$1` the reader, `$2` the realm (or null).
const VISIBLE: &str =
    "(e.user_id = $1 or e.project_id = any(array(select project_id from project_permission where user_id = $1))) \
     and ($2::text is null or $2 = any(e.realm_ids))";

/// The history's filters (all optional).
#[derive(Debug, Default)]
pub struct Filters<'a> {
    pub event_type: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub project_id: Option<&'a str>,
    pub container_id: Option<&'a str>,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    /// Only numbered events after this number, in number order.
    pub after: Option<i64>,
}

/// An event row as the history lists it (numbered or not yet), with the list's total.
#[derive(Debug, sqlx::FromRow)]
pub struct HistoryRow {
    pub seq: Option<i64>,
    pub event_id: String,
    pub user_id: String,
    pub event_type: String,
    pub resource_type: String,
    pub resource_id: String,
    pub realm_ids: Vec<String>,
    pub data: Value,
    pub created_at: DateTime<Utc>,
    pub total: i64,
}

const FILTERS: &str = "($3::text is null or e.event_type = $3) and ($4::text is null or e.resource_type = $4) \
     and ($5::text is null or e.resource_id = $5) and ($6::text is null or e.project_id = $6) \
     and ($7::text is null or e.container_id = $7) and ($8::timestamptz is null or e.created_at >= $8) \
     and ($9::timestamptz is null or e.created_at <= $9) and ($10::bigint is null or e.seq > $10)";

/// One page of the events `reader` may see. `order` is a whitelisted `order by` list (never
/// built from input); with `after`, the order is the numbering's.
pub async fn history(
    db: impl PgExecutor<'_>,
    reader: &str,
    realm: Option<&str>,
    f: &Filters<'_>,
    order: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<HistoryRow>> {
    let order = if f.after.is_some() { "e.seq asc" } else { order };
    let sql = format!(
        "select e.seq, e.event_id, e.user_id, e.event_type, e.resource_type, e.resource_id, e.realm_ids, e.data, \
                e.created_at, count(*) over () as total \
           from event e where {VISIBLE} and {FILTERS} order by {order} limit $11 offset $12"
    );
    sqlx::query_as::<_, HistoryRow>(&sql)
        .bind(reader)
        .bind(realm)
        .bind(f.event_type)
        .bind(f.resource_type)
        .bind(f.resource_id)
        .bind(f.project_id)
        .bind(f.container_id)
        .bind(f.start)
        .bind(f.end)
        .bind(f.after)
        .bind(limit)
        .bind(offset)
        .fetch_all(db)
        .await
}

/// One event `reader` may see.
pub async fn visible_one(
    db: impl PgExecutor<'_>,
    reader: &str,
    realm: Option<&str>,
    event_id: &str,
) -> sqlx::Result<Option<HistoryRow>> {
    let sql = format!(
        "select e.seq, e.event_id, e.user_id, e.event_type, e.resource_type, e.resource_id, e.realm_ids, e.data, \
                e.created_at, 1::bigint as total from event e where {VISIBLE} and e.event_id = $3"
    );
    sqlx::query_as::<_, HistoryRow>(&sql).bind(reader).bind(realm).bind(event_id).fetch_optional(db).await
}

/// Counts by type and resource type of the events `reader` may see between `start` and `end`.
pub struct StatsRow {
    pub event_type: String,
    pub resource_type: String,
    pub count: i64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

pub async fn stats(
    db: impl PgExecutor<'_>,
    reader: &str,
    realm: Option<&str>,
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> sqlx::Result<Vec<StatsRow>> {
    sqlx::query_as!(
        StatsRow,
        r#"select e.event_type, e.resource_type, count(*) as "count!", min(e.created_at) as oldest,
                  max(e.created_at) as newest
             from event e
            where (e.user_id = $1 or e.project_id = any(array(select project_id from project_permission where user_id = $1)))
              and ($2::text is null or $2 = any(e.realm_ids))
              and ($3::timestamptz is null or e.created_at >= $3) and ($4::timestamptz is null or e.created_at <= $4)
            group by e.event_type, e.resource_type"#,
        reader,
        realm,
        start,
        end,
    )
    .fetch_all(db)
    .await
}

/// Delete one of `owner`'s events (in `realm` when given); whether it was there.
pub async fn delete_own(
    db: impl PgExecutor<'_>,
    owner: &str,
    realm: Option<&str>,
    event_id: &str,
) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "delete from event where event_id = $1 and user_id = $2 and ($3::text is null or $3 = any(realm_ids))",
        event_id,
        owner,
        realm,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// What a bulk delete removes of the owner's events (every given filter must match).
#[derive(Debug, Default)]
pub struct DeleteFilters<'a> {
    pub event_type: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub resource_id: Option<&'a str>,
    pub before: Option<DateTime<Utc>>,
    /// The body's realm.
    pub realm_id: Option<&'a str>,
}

/// Delete `owner`'s events matching `f` (and in the request's `realm` when it has one); how many.
pub async fn delete_matching(
    db: impl PgExecutor<'_>,
    owner: &str,
    realm: Option<&str>,
    f: &DeleteFilters<'_>,
) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from event where user_id = $1 and ($2::text is null or $2 = any(realm_ids)) \
           and ($3::text is null or event_type = $3) and ($4::text is null or resource_type = $4) \
           and ($5::text is null or resource_id = $5) and ($6::timestamptz is null or created_at < $6) \
           and ($7::text is null or $7 = any(realm_ids))",
        owner,
        realm,
        f.event_type,
        f.resource_type,
        f.resource_id,
        f.before,
        f.realm_id,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The numbered events after `after` that `reader` may see (in `realm` when given), in order.
pub async fn visible_after(
    db: impl PgExecutor<'_>,
    reader: &str,
    realm: Option<&str>,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as!(
        EventRow,
        r#"select seq as "seq!", event_id, user_id, event_type, resource_type, resource_id, project_id, container_id,
                  realm_ids, data, created_at
             from event e
            where (e.user_id = $1 or e.project_id = any(array(select project_id from project_permission where user_id = $1)))
              and ($2::text is null or $2 = any(e.realm_ids)) and e.seq > $3
            order by e.seq limit $4"#,
        reader,
        realm,
        after,
        limit,
    )
    .fetch_all(db)
    .await
}

/// The number of an event `reader` may see, by its id (where a reconnecting stream resumes).
pub async fn seq_of(
    db: impl PgExecutor<'_>,
    reader: &str,
    realm: Option<&str>,
    event_id: &str,
) -> sqlx::Result<Option<i64>> {
    Ok(sqlx::query_scalar!(
        "select seq from event e where e.event_id = $3 \
            and (e.user_id = $1 or e.project_id = any(array(select project_id from project_permission where user_id = $1))) \
            and ($2::text is null or $2 = any(e.realm_ids))",
        reader,
        realm,
        event_id
    )
    .fetch_optional(db)
    .await?
    .flatten())
}

/// The highest number given so far (0 for none).
pub async fn last_seq(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar!(r#"select coalesce(max(seq), 0) as "seq!" from event"#).fetch_one(db).await
}

/// The users a project is shared with.
pub async fn grantees(db: impl PgExecutor<'_>, project_id: &str) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select user_id from project_permission where project_id = $1", project_id).fetch_all(db).await
}
