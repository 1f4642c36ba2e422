//! The servers registry's rows (`crate::servers` manages them).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgExecutor;

#[derive(Debug, Clone, Serialize)]
pub struct ServerRow {
    pub server_id: String,
    pub name: String,
    pub region: String,
    pub country: Option<String>,
    pub city: Option<String>,
    pub datacenter: Option<String>,
    pub is_enabled: bool,
    pub is_free: bool,
    pub cores: i32,
    pub ram_mb: i64,
    pub disk_gb: i64,
    pub lxd_endpoint: String,
    pub server_fingerprint: Option<String>,
    pub price_per_day_cents: Option<i64>,
    pub rental_days: Vec<i32>,
    /// Prespawned containers a user may keep on it.
    pub prespawn_count: i32,
    /// The containers a renter may keep on it (`quota::server_room`; free servers: unused).
    pub max_containers: i32,
    /// Since when it takes no new containers (`servers drain`); null when it takes them.
    pub draining_since: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub client_cert: Option<String>,
    #[serde(skip)]
    pub client_key_sealed: Option<Vec<u8>>,
    #[serde(skip)]
    pub server_cert: Option<String>,
}

/// The rows of `ids`, in that order (the one place their select is written).
pub async fn by_ids(db: impl PgExecutor<'_>, ids: &[String]) -> sqlx::Result<Vec<ServerRow>> {
    sqlx::query_as!(
        ServerRow,
        "select server_id, name, region, country, city, datacenter, is_enabled, is_free, cores, ram_mb, disk_gb, \
         lxd_endpoint, server_fingerprint, price_per_day_cents, rental_days, prespawn_count, max_containers, \
         draining_since, client_cert, client_key_sealed, server_cert from server where server_id = any($1) \
         order by array_position($1, server_id)",
        ids
    )
    .fetch_all(db)
    .await
}

pub async fn by_id(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<Option<ServerRow>> {
    Ok(by_ids(db, &[server_id.to_owned()]).await?.pop())
}

/// Every server id, by region and name.
pub async fn ids(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select server_id from server order by region, name").fetch_all(db).await
}

/// Every server id, by id (the reconciler's order).
pub async fn ids_by_id(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!("select server_id from server order by server_id").fetch_all(db).await
}

pub async fn id_named(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!("select server_id from server where name = $1", name).fetch_optional(db).await
}

/// A free, enabled server's id that is not draining, preferring `region`.
pub async fn free_id(db: impl PgExecutor<'_>, region: Option<&str>) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select server_id from server where is_enabled and is_free and draining_since is null \
         order by (region = $1) desc nulls last, name limit 1",
        region
    )
    .fetch_optional(db)
    .await
}

/// The servers a new container of `owner`'s may be placed on, by name: enabled, not draining,
/// in `region` when given, and free or (unless `free_only`) rented by `owner` or by a pool they
/// joined (the rule of `rentals::rents`).
pub async fn placeable(
    db: impl PgExecutor<'_>,
    owner: &str,
    region: Option<&str>,
    free_only: bool,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select s.server_id from server s where s.is_enabled and s.draining_since is null \
           and ($2::text is null or s.region = $2) \
           and (s.is_free or (not $3 and exists (select 1 from rental r where r.server_id = s.server_id \
                 and r.status = 'active' and r.rental_end > now() \
                 and (r.user_id = $1 or exists (select 1 from pool_member m where m.pool_id = r.pool_id \
                                                 and m.user_id = $1 and m.joined_at is not null))))) \
         order by s.name",
        owner,
        region,
        free_only
    )
    .fetch_all(db)
    .await
}

/// Whether any server (enabled or not) is registered in `region`.
pub async fn region_known(db: impl PgExecutor<'_>, region: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(r#"select exists (select 1 from server where region = $1) as "known!""#, region)
        .fetch_one(db)
        .await
}

/// What holds room on a server: every container not failed or being deleted, and every
/// instance of its warm pools (launching, ready or being removed).
#[derive(Debug, Clone, Copy, Default)]
pub struct Load {
    pub containers: i64,
    /// Of those, the ones recorded after `since` (a host reading that cannot show them yet).
    pub newer: i64,
}

/// The load of each of `ids`, with `since[i]` the time of the reading of `ids[i]`; a server
/// without containers is left out.
pub async fn loads(
    db: impl PgExecutor<'_>,
    ids: &[String],
    since: &[DateTime<Utc>],
) -> sqlx::Result<Vec<(String, Load)>> {
    let rows = sqlx::query!(
        r#"select t.server_id as "server_id!", count(*) as "containers!",
                  count(*) filter (where x.created_at > t.since) as "newer!"
           from unnest($1::text[], $2::timestamptz[]) as t(server_id, since)
           join (select c.server_id, c.created_at from container c where c.status not in ('failed', 'deleting')
                 union all
                 select w.server_id, w.created_at from warm_instance w) x on x.server_id = t.server_id
           group by t.server_id"#,
        ids,
        since
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.server_id, Load { containers: r.containers, newer: r.newer })).collect())
}

/// Start (`true`) or stop draining the server named `name`; its row, `None` when there is no
/// such server. Draining again keeps the first time.
pub async fn set_draining(db: impl PgExecutor<'_>, name: &str, on: bool) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "update server set draining_since = case when $2 then coalesce(draining_since, now()) end \
         where name = $1 returning server_id",
        name,
        on
    )
    .fetch_optional(db)
    .await
}

/// A container on a server, as `servers drain` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct OnServer {
    pub container_id: String,
    pub name: String,
    pub status: String,
    pub project_id: String,
    pub prespawn: bool,
}

/// Every container recorded on `server_id`, by status and id.
pub async fn containers_on(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<Vec<OnServer>> {
    sqlx::query_as!(
        OnServer,
        "select container_id, name, status, project_id, prespawn from container where server_id = $1 \
         order by status, container_id",
        server_id
    )
    .fetch_all(db)
    .await
}

/// A new server with its defaults (a taken name is a `server_name_key` violation).
pub async fn insert(db: impl PgExecutor<'_>, id: &str, name: &str, region: &str) -> sqlx::Result<()> {
    sqlx::query!("insert into server (server_id, name, region) values ($1, $2, $3)", id, name, region)
        .execute(db)
        .await?;
    Ok(())
}

/// The fields a server update sets; `None` keeps the stored value.
#[derive(Debug, Default)]
pub struct Changes<'a> {
    pub region: Option<&'a str>,
    pub country: Option<&'a str>,
    pub city: Option<&'a str>,
    pub datacenter: Option<&'a str>,
    pub is_enabled: Option<bool>,
    pub is_free: Option<bool>,
    pub cores: Option<i32>,
    pub ram_mb: Option<i64>,
    pub disk_gb: Option<i64>,
    pub lxd_endpoint: Option<&'a str>,
    pub client_cert: Option<&'a str>,
    pub client_key_sealed: Option<&'a [u8]>,
    pub server_fingerprint: Option<&'a str>,
    pub price_per_day_cents: Option<i64>,
    pub rental_days: Option<&'a [i32]>,
    pub server_cert: Option<&'a str>,
}

/// Change the fields given; false when there is no such server.
pub async fn update(db: impl PgExecutor<'_>, id: &str, c: &Changes<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update server set region = coalesce($2, region), country = coalesce($3, country), city = coalesce($4, city), \
         datacenter = coalesce($5, datacenter), is_enabled = coalesce($6, is_enabled), is_free = coalesce($7, is_free), \
         cores = coalesce($8, cores), ram_mb = coalesce($9, ram_mb), disk_gb = coalesce($10, disk_gb), \
         lxd_endpoint = coalesce($11, lxd_endpoint), client_cert = coalesce($12, client_cert), \
         client_key_sealed = coalesce($13, client_key_sealed), server_fingerprint = coalesce($14, server_fingerprint), \
         price_per_day_cents = coalesce($15, price_per_day_cents), rental_days = coalesce($16, rental_days), \
         server_cert = coalesce($17, server_cert) where server_id = $1",
        id,
        c.region,
        c.country,
        c.city,
        c.datacenter,
        c.is_enabled,
        c.is_free,
        c.cores,
        c.ram_mb,
        c.disk_gb,
        c.lxd_endpoint,
        c.client_cert,
        c.client_key_sealed,
        c.server_fingerprint,
        c.price_per_day_cents,
        c.rental_days,
        c.server_cert,
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Remove the server named `name`; false when there is none.
pub async fn delete_named(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!("delete from server where name = $1", name).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

/// Register the local LXD (`endpoint`) as the free server `local`, only while the registry is
/// empty; whether it did.
pub async fn insert_local(db: impl PgExecutor<'_>, id: &str, cores: i32, endpoint: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into server (server_id, name, region, country, city, datacenter, is_free, cores, lxd_endpoint) \
         select $1, 'local', 'local', null, null, 'this machine', true, $2, $3 \
         where not exists (select 1 from server)",
        id,
        cores,
        endpoint
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
