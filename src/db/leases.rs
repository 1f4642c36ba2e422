//! Worker leases (`worker_lease`): which replica does a piece of background work now.

use sqlx::PgExecutor;

/// Take or renew the lease `name` for `holder` for `secs`: true when `holder` holds it now
/// (it was free, lapsed, or already `holder`'s). `taken_at` moves only when the holder changes.
pub async fn hold(db: impl PgExecutor<'_>, name: &str, holder: &str, secs: f64) -> sqlx::Result<bool> {
    let got = sqlx::query_scalar!(
        r#"insert into worker_lease (name, holder, until) values ($1, $2, now() + make_interval(secs => $3))
        on conflict (name) do update set holder = excluded.holder, until = excluded.until,
            taken_at = case when worker_lease.holder = excluded.holder then worker_lease.taken_at else now() end
        where worker_lease.holder = excluded.holder or worker_lease.until < now()
        returning holder"#,
        name,
        holder,
        secs
    )
    .fetch_optional(db)
    .await?;
    Ok(got.is_some())
}

/// [`hold`] for several leases at once: those of `names` that `holder` holds now.
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
