//! The server command catalogue, its run log and the confirmations high-risk commands need
//! (`crate::api::server_commands` serves them).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// A command of the catalogue.
#[derive(Debug, Clone)]
pub struct CommandRow {
    pub command_id: String,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    pub category: Option<String>,
    pub risk_level: String,
    pub requires_confirmation: bool,
    /// The argv template: an element `{name}` is the parameter `name`.
    pub argv: Vec<String>,
    pub parameter_schema: Value,
    pub example_parameters: Option<Value>,
    pub default_timeout: i32,
    pub max_timeout: i32,
    pub cooldown_seconds: Option<i32>,
    pub rate_limit_per_hour: Option<i32>,
    pub rate_limit_per_day: Option<i32>,
    pub created_by: Option<String>,
    pub execution_count: i64,
}

/// The enabled commands, filtered by `category` and the most risk (`1` low … `4` critical).
pub async fn list(
    db: impl PgExecutor<'_>,
    category: Option<&str>,
    max_rank: Option<i16>,
) -> sqlx::Result<Vec<CommandRow>> {
    sqlx::query_as!(
        CommandRow,
        r#"select command_id, slug, name, description, category, risk_level, requires_confirmation, argv,
                  parameter_schema, example_parameters, default_timeout, max_timeout, cooldown_seconds,
                  rate_limit_per_hour, rate_limit_per_day, created_by, execution_count
             from server_command
            where is_enabled and ($1::text is null or lower(category) = lower($1))
              and ($2::smallint is null or risk_rank <= $2)
            order by risk_rank, category nulls last, slug"#,
        category,
        max_rank
    )
    .fetch_all(db)
    .await
}

/// An enabled command by id or by slug (exactly one given).
pub async fn find(db: impl PgExecutor<'_>, id: Option<&str>, slug: Option<&str>) -> sqlx::Result<Option<CommandRow>> {
    sqlx::query_as!(
        CommandRow,
        r#"select command_id, slug, name, description, category, risk_level, requires_confirmation, argv,
                  parameter_schema, example_parameters, default_timeout, max_timeout, cooldown_seconds,
                  rate_limit_per_hour, rate_limit_per_day, created_by, execution_count
             from server_command
            where is_enabled and (command_id = $1 or slug = $2)"#,
        id,
        slug
    )
    .fetch_optional(db)
    .await
}

/// The positions (0-based) of the `values` that do not match their `patterns` (PostgreSQL
/// regular expressions, the catalogue's own).
pub async fn pattern_misses(db: impl PgExecutor<'_>, values: &[String], patterns: &[String]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar!(
        r#"select (t.i - 1) as "i!" from unnest($1::text[], $2::text[]) with ordinality as t(v, p, i)
            where not (t.v ~ t.p) order by t.i"#,
        values,
        patterns
    )
    .fetch_all(db)
    .await
}

/// The caller's rental of the server (theirs, or one for a pool they are a member of) as
/// `server_info` shows it: the running one's status, else the latest one's.
pub async fn rental_status(db: impl PgExecutor<'_>, user_id: &str, server_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select case when status = 'active' and rental_end <= now() then 'expired' else status end as \"s!\" \
         from rental r where server_id = $2 and (user_id = $1 or exists (select 1 from pool_member m \
           where m.pool_id = r.pool_id and m.user_id = $1 and m.joined_at is not null)) \
         order by (status = 'active' and rental_end > now()) desc, created_at desc limit 1",
        user_id,
        server_id
    )
    .fetch_optional(db)
    .await
}

/// A run as the execute answer shows it.
#[derive(Debug, Clone)]
pub struct LogRow {
    pub command_log_id: String,
    pub command_id: String,
    pub status: String,
    pub stdout: Option<String>,
    pub stderr: Option<String>,
    pub output_truncated: bool,
    pub exit_code: Option<i32>,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    pub execution_time_ms: Option<i64>,
}

pub async fn log(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<Option<LogRow>> {
    sqlx::query_as!(
        LogRow,
        "select command_log_id, command_id, status, stdout, stderr, output_truncated, exit_code, start_time, end_time, \
         execution_time_ms from server_command_log where command_log_id = $1",
        id
    )
    .fetch_optional(db)
    .await
}

pub struct NewLog<'a> {
    pub command_log_id: &'a str,
    pub command_id: &'a str,
    pub server_id: &'a str,
    pub user_id: &'a str,
    pub parameters: &'a Value,
    pub argv: &'a [String],
    pub timeout_seconds: i32,
    /// `running` (started now) or `awaiting_confirmation`.
    pub status: &'a str,
}

pub async fn insert_log(db: impl PgExecutor<'_>, n: &NewLog<'_>) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into server_command_log (command_log_id, command_id, server_id, user_id, parameters, argv, \
         timeout_seconds, status, start_time) \
         values ($1, $2, $3, $4, $5, $6, $7, $8, case when $8 = 'running' then now() end)",
        n.command_log_id,
        n.command_id,
        n.server_id,
        n.user_id,
        n.parameters,
        n.argv,
        n.timeout_seconds,
        n.status
    )
    .execute(db)
    .await?;
    Ok(())
}

pub struct NewConfirmation<'a> {
    pub token_hash: &'a [u8],
    pub command_log_id: &'a str,
    pub user_id: &'a str,
    pub server_id: &'a str,
    pub command_id: &'a str,
    pub argv_hash: &'a [u8],
}

/// Store a confirmation valid for 5 minutes; its expiry.
pub async fn insert_confirmation(db: impl PgExecutor<'_>, n: &NewConfirmation<'_>) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(
        "insert into server_command_confirmation (token_hash, command_log_id, user_id, server_id, command_id, \
         argv_hash, expires_at) values ($1, $2, $3, $4, $5, $6, now() + interval '5 minutes') returning expires_at",
        n.token_hash,
        n.command_log_id,
        n.user_id,
        n.server_id,
        n.command_id,
        n.argv_hash
    )
    .fetch_one(db)
    .await
}

/// Use a confirmation: once, before it expires, by the user it was issued to, for the same
/// server, command and argv. The run it confirms (`None`: no such usable confirmation).
pub async fn consume_confirmation(
    conn: &mut PgConnection,
    token_hash: &[u8],
    user_id: &str,
    server_id: &str,
    command_id: &str,
    argv_hash: &[u8],
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update server_command_confirmation set used_at = now() \
         where token_hash = $1 and used_at is null and expires_at > now() \
           and user_id = $2 and server_id = $3 and command_id = $4 and argv_hash = $5 \
         returning command_log_id",
        token_hash,
        user_id,
        server_id,
        command_id,
        argv_hash
    )
    .fetch_optional(conn)
    .await
}

/// The runs awaiting a confirmation that can no longer come, of `user_id`: `expired`.
pub async fn expire_unconfirmed(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update server_command_log l set status = 'expired', end_time = c.expires_at \
           from server_command_confirmation c \
          where c.command_log_id = l.command_log_id and c.user_id = $1 and c.used_at is null \
            and c.expires_at <= now() and l.status = 'awaiting_confirmation'",
        user_id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Serialise the starts of one command by one user on one server until the transaction ends,
/// so the cooldown and the rate limits count every run.
pub async fn lock_runs(conn: &mut PgConnection, user_id: &str, server_id: &str, command_id: &str) -> sqlx::Result<()> {
    let key = format!("server_command:{user_id}:{server_id}:{command_id}");
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended($1, 0))", key).execute(conn).await?;
    Ok(())
}

/// The runs so far of a command by a user on a server: the last start, and the starts in the
/// past hour and day.
pub struct Recent {
    pub last_start: Option<DateTime<Utc>>,
    pub last_hour: i64,
    pub last_day: i64,
    /// When the oldest start of the past hour and of the past day leave their windows.
    pub hour_frees_at: Option<DateTime<Utc>>,
    pub day_frees_at: Option<DateTime<Utc>>,
}

pub async fn recent(conn: &mut PgConnection, user_id: &str, server_id: &str, command_id: &str) -> sqlx::Result<Recent> {
    let r = sqlx::query!(
        r#"select max(start_time) as last_start,
                  count(*) filter (where start_time > now() - interval '1 hour') as "last_hour!",
                  count(*) as "last_day!",
                  min(start_time) filter (where start_time > now() - interval '1 hour') + interval '1 hour'
                    as hour_frees_at,
                  min(start_time) + interval '1 day' as day_frees_at
             from server_command_log
            where user_id = $1 and server_id = $2 and command_id = $3 and start_time > now() - interval '1 day'"#,
        user_id,
        server_id,
        command_id
    )
    .fetch_one(conn)
    .await?;
    Ok(Recent {
        last_start: r.last_start,
        last_hour: r.last_hour,
        last_day: r.last_day,
        hour_frees_at: r.hour_frees_at,
        day_frees_at: r.day_frees_at,
    })
}

/// A confirmed run starts: `awaiting_confirmation` → `running` with the confirming request's
/// timeout. False when it was not awaiting.
pub async fn start_confirmed(conn: &mut PgConnection, id: &str, timeout_seconds: i32) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update server_command_log set status = 'running', start_time = now(), timeout_seconds = $2 \
         where command_log_id = $1 and status = 'awaiting_confirmation'",
        id,
        timeout_seconds
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn count_execution(conn: &mut PgConnection, command_id: &str) -> sqlx::Result<()> {
    sqlx::query!("update server_command set execution_count = execution_count + 1 where command_id = $1", command_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The command is handed to the host now (after its helper was made ready).
pub async fn mark_sent(db: impl PgExecutor<'_>, id: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update server_command_log set start_time = now(), sent_at = now() \
          where command_log_id = $1 and status = 'running'",
        id
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a run ended.
pub struct Finish<'a> {
    /// `completed`, `failed` or `timed_out`.
    pub status: &'a str,
    pub stdout: Option<&'a str>,
    pub stderr: Option<&'a str>,
    pub output_truncated: bool,
    pub exit_code: Option<i32>,
    /// Our reason when the host failed.
    pub error: Option<&'a str>,
}

/// Record the end of a running run (once); the row as it is then.
pub async fn finish(db: impl PgExecutor<'_>, id: &str, f: &Finish<'_>) -> sqlx::Result<Option<LogRow>> {
    sqlx::query_as!(
        LogRow,
        r#"update server_command_log
              set status = $2, stdout = $3, stderr = $4, output_truncated = $5, exit_code = $6, error = $7,
                  end_time = now(),
                  execution_time_ms = greatest(0, (extract(epoch from now() - start_time) * 1000)::bigint)
            where command_log_id = $1 and status = 'running'
        returning command_log_id, command_id, status, stdout, stderr, output_truncated, exit_code, start_time,
                  end_time, execution_time_ms"#,
        id,
        f.status,
        f.stdout,
        f.stderr,
        f.output_truncated,
        f.exit_code,
        f.error
    )
    .fetch_optional(db)
    .await
}

/// Runs still `running` that no process will end: sent to the host and a minute past the end
/// their timeout sets, or never sent an hour after they began (the helper is made ready within
/// minutes). The process that ran them stopped (a crash, a restart); each becomes `failed` with
/// error `abandoned`, once; how many.
pub async fn close_abandoned(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query!(
        "update server_command_log set status = 'failed', error = 'abandoned', end_time = now(), \
                execution_time_ms = greatest(0, (extract(epoch from now() - start_time) * 1000)::bigint) \
          where status = 'running' and start_time < now() - interval '1 minute' \
            and case when sent_at is null then start_time < now() - interval '1 hour' \
                     else sent_at < now() - make_interval(secs => timeout_seconds + 60) end"
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
