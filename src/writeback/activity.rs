//! The activity log: one record per authenticated request (who, which token and realm, what,
//! how it ended, how long it took, from where), written in batches.

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::Queue;

pub struct Activity {
    pub user_id: String,
    pub token_id: Option<String>,
    pub realm_id: Option<String>,
    pub method: String,
    pub route: Option<String>,
    pub path: String,
    pub status: u16,
    pub duration_ms: f32,
    pub ip: String,
    pub user_agent: Option<String>,
    pub at: DateTime<Utc>,
}

pub type ActivityQueue = Queue<Activity>;

/// The batch as one array per column, for `unnest`.
#[derive(Default)]
struct Columns {
    id: Vec<String>,
    user_id: Vec<String>,
    token_id: Vec<Option<String>>,
    realm_id: Vec<Option<String>>,
    method: Vec<String>,
    route: Vec<Option<String>>,
    path: Vec<String>,
    status: Vec<i16>,
    duration_ms: Vec<f32>,
    ip: Vec<String>,
    user_agent: Vec<Option<String>>,
    at: Vec<DateTime<Utc>>,
}

pub async fn flush(db: &PgPool, rows: Vec<Activity>) {
    let n = rows.len();
    let mut c = Columns::default();
    for r in rows {
        c.id.push(crate::db::new_id());
        c.user_id.push(r.user_id);
        c.token_id.push(r.token_id);
        c.realm_id.push(r.realm_id);
        c.method.push(r.method);
        c.route.push(r.route);
        c.path.push(r.path);
        c.status.push(i16::try_from(r.status).unwrap_or(i16::MAX));
        c.duration_ms.push(r.duration_ms);
        c.ip.push(r.ip);
        c.user_agent.push(r.user_agent);
        c.at.push(r.at);
    }
    let done = sqlx::query(
        "insert into activity_log (id, user_id, token_id, realm_id, method, route, path, status_code, duration_ms, \
         ip_address, user_agent, created_at) \
         select a.* from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
         $8::smallint[], $9::real[], $10::text[], $11::text[], $12::timestamptz[]) \
         as a(id, user_id, token_id, realm_id, method, route, path, status_code, duration_ms, ip_address, user_agent, \
         created_at) \
         where exists (select 1 from app_user u where u.user_id = a.user_id)",
    )
    .bind(&c.id)
    .bind(&c.user_id)
    .bind(&c.token_id)
    .bind(&c.realm_id)
    .bind(&c.method)
    .bind(&c.route)
    .bind(&c.path)
    .bind(&c.status)
    .bind(&c.duration_ms)
    .bind(&c.ip)
    .bind(&c.user_agent)
    .bind(&c.at)
    .execute(db)
    .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, rows = n, "activity log write failed");
    }
}

/// Drop records older than the retention period.
pub async fn prune(db: &PgPool, retention_days: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("delete from activity_log where created_at < now() - make_interval(days => $1::int)")
        .bind(retention_days as i32)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}
