//! The host-operation journal (`host_op`: one row per op, its keys, and how it ended) and the
//! lock leases (`host_lock`: one row per key held, lapsing at `until`) that serialise host work
//! on a resource across replicas.

use sqlx::PgExecutor;

/// Record an op as running.
pub async fn begin(db: impl PgExecutor<'_>, op_id: &str, kind: &str, keys: &[&str], by: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into host_op (op_id, kind, keys, triggered_by) values ($1, $2, $3, $4)",
        op_id,
        kind,
        keys as &[&str],
        by
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Record how an op ended (`done` or `failed`, with a short reason).
pub async fn finish(db: impl PgExecutor<'_>, op_id: &str, state: &str, reason: Option<&str>) -> sqlx::Result<()> {
    sqlx::query!(
        "update host_op set state = $2, reason = $3, finished_at = now() where op_id = $1",
        op_id,
        state,
        reason
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Lease every key in `keys` that is free or lapsed to `op_id` for `secs`; the keys it got.
/// Rows are taken in the order given (sorted by the caller), so two takers cannot deadlock.
pub async fn lease(db: impl PgExecutor<'_>, keys: &[&str], op_id: &str, secs: f64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"insert into host_lock (key, op_id, until) select k, $2, now() + make_interval(secs => $3)
        from unnest($1::text[]) as k on conflict (key) do update set op_id = excluded.op_id, until = excluded.until
        where host_lock.until < now() returning key"#,
        keys as &[&str],
        op_id,
        secs
    )
    .fetch_all(db)
    .await
}

/// Give back every lease of `op_id`.
pub async fn release(db: impl PgExecutor<'_>, op_id: &str) -> sqlx::Result<()> {
    sqlx::query!("delete from host_lock where op_id = $1", op_id).execute(db).await?;
    Ok(())
}
