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
