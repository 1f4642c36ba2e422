//! `activity_log`: one record per authenticated request, written in batches with `COPY` (see
//! `writeback::activity`) and read by the account.

use chrono::{DateTime, Utc};
use sqlx::{postgres::PgPoolCopyExt, PgExecutor, PgPool};

/// Which records a list shows (every filter optional but the status range).
pub struct Filters<'a> {
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub min_status: i16,
    pub max_status: i16,
    pub method: Option<&'a str>,
    pub realm_id: Option<&'a str>,
}

/// One record, with the total of the list it is part of.
pub struct ActivityRow {
    pub total: i64,
    pub activity_id: String,
    pub user_id: String,
    pub realm_id: Option<String>,
    pub token_id: Option<String>,
    pub method: String,
    pub path: String,
    pub route: Option<String>,
    pub status_code: i16,
    pub duration_ms: f32,
    pub ip_address: String,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A page of the user's records, newest first.
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: &str,
    f: &Filters<'_>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<ActivityRow>> {
    sqlx::query_as!(
        ActivityRow,
        r#"select count(*) over () as "total!", activity_id, user_id, realm_id, token_id, method, path, route,
             status_code, duration_ms, ip_address, user_agent, created_at
           from activity_log
           where user_id = $1 and ($2::timestamptz is null or created_at >= $2)
             and ($3::timestamptz is null or created_at <= $3) and status_code between $4 and $5
             and ($6::text is null or method = $6) and ($7::text is null or realm_id = $7)
           order by created_at desc, id desc limit $8 offset $9"#,
        user_id,
        f.start,
        f.end,
        f.min_status,
        f.max_status,
        f.method,
        f.realm_id,
        limit,
        offset
    )
    .fetch_all(db)
    .await
}

pub struct Stats {
    pub size_bytes: i64,
    pub records: i64,
    pub oldest: Option<DateTime<Utc>>,
    pub newest: Option<DateTime<Utc>>,
}

/// How much of the log is the user's: bytes, records, the oldest and newest.
pub async fn stats(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Stats> {
    sqlx::query_as!(
        Stats,
        r#"select coalesce(sum(pg_column_size(a.*)), 0)::bigint as "size_bytes!", count(*) as "records!",
             min(created_at) as oldest, max(created_at) as newest
           from activity_log a where user_id = $1"#,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Append a batch: `data` is `COPY`'s text format, one line per record with the columns
/// activity_id, user_id, token_id, realm_id, method, route, path, status_code, duration_ms,
/// ip_address, user_agent, created_at. Runtime SQL: `COPY … FROM STDIN` is not a statement that
/// can be prepared (and so checked); its column list is fixed here.
pub async fn copy_in(db: &PgPool, data: Vec<u8>) -> sqlx::Result<u64> {
    let mut copy = db
        .copy_in_raw(
            "copy activity_log (activity_id, user_id, token_id, realm_id, method, route, path, status_code, duration_ms, \
             ip_address, user_agent, created_at) from stdin",
        )
        .await?;
    copy.send(data).await?;
    copy.finish().await
}

/// Drop records older than `retention_days`.
pub async fn prune(db: impl PgExecutor<'_>, retention_days: i64) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "delete from activity_log where created_at < now() - make_interval(days => $1::int)",
        retention_days as i32
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
