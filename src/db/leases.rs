//! Worker leases (`worker_lease`): which replica does a piece of background work now.

use sqlx::PgExecutor;

/// Take or renew the leases `names` for `holder` for `secs`: those `holder` holds now (each was
/// free, lapsed, or already `holder`'s). `taken_at` moves only when the holder changes.
pub async fn hold_many(
    db: impl PgExecutor<'_>,
    names: &[String],
    holder: &str,
    secs: f64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        r#"insert into worker_lease (name, holder, until)
        select n, $2, now() + make_interval(secs => $3) from unnest($1::text[]) as n order by n
        on conflict (name) do update set holder = excluded.holder, until = excluded.until,
            taken_at = case when worker_lease.holder = excluded.holder then worker_lease.taken_at else now() end
        where worker_lease.holder = excluded.holder or worker_lease.until < now()
        returning name"#,
        names,
        holder,
        secs
    )
    .fetch_all(db)
    .await
}

/// Give back every lease `holder` has (a replica stopping cleanly), so others need not wait for
/// them to lapse.
pub async fn release_all(db: impl PgExecutor<'_>, holder: &str) -> sqlx::Result<u64> {
    Ok(sqlx::query!("delete from worker_lease where holder = $1", holder).execute(db).await?.rows_affected())
}
