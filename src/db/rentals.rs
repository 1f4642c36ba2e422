//! Rentals of whole servers, the marketplace's view of servers, offers and reservations
//! (`crate::api::rentals` serves them).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{PgConnection, PgExecutor};

/// Whether `user_id` may use `server_id` as its renter: they hold an active, unexpired rental of
/// it, or it is rented for a pool they are an accepted member of ([`right_on`] is some).
pub async fn rents(db: impl PgExecutor<'_>, user_id: &str, server_id: &str) -> sqlx::Result<bool> {
    Ok(right_on(db, user_id, server_id).await?.is_some())
}

/// What `user_id` holds on `server_id` through its active, unexpired rentals: `renter` (one of
/// their own), else their highest role (`owner`, `admin`, `user`) in a pool it is rented for,
/// else None.
pub async fn right_on(db: impl PgExecutor<'_>, user_id: &str, server_id: &str) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar!(
        "select case when bool_or(r.user_id = $2) then 'renter' \
                     else (array_agg(m.role order by case m.role when 'owner' then 0 when 'admin' then 1 else 2 end))[1] \
                end \
           from rental r left join pool_member m on m.pool_id = r.pool_id and m.user_id = $2 and m.joined_at is not null \
          where r.server_id = $1 and r.status = 'active' and r.rental_end > now() \
            and (r.user_id = $2 or m.user_id is not null)",
        server_id,
        user_id
    )
    .fetch_one(db)
    .await
}

/// Whether `server_id` has an active rental (anyone's).
pub async fn active_on(db: impl PgExecutor<'_>, server_id: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar!(
        "select exists(select 1 from rental where server_id = $1 and status = 'active') as \"found!\"",
        server_id
    )
    .fetch_one(db)
    .await
}

/// What the marketplace and a rental show of a server.
#[derive(Debug, Clone)]
pub struct SpecRow {
    pub server_id: String,
    pub name: String,
    pub country: Option<String>,
    pub region: String,
    pub city: Option<String>,
    pub datacenter: Option<String>,
    pub model: Option<String>,
    pub is_vm: bool,
    pub category: Option<String>,
    pub featured: bool,
    pub popularity_rank: Option<i32>,
    pub setup_time_minutes: Option<i32>,
    pub setup_fee_cents: i64,
    pub hold_days: i32,
    pub price_per_day_cents: Option<i64>,
    pub rental_days: Vec<i32>,
    pub cores: i32,
    pub cpu_model: Option<String>,
    pub cpu_threads: Option<i32>,
    pub cpu_score: Option<i32>,
    pub cpu_score_type: Option<String>,
    pub ram_mb: i64,
    pub ram_type: Option<String>,
    pub ram_speed_mhz: Option<i32>,
    pub disks: Value,
    pub disk_gb: i64,
    pub bandwidth_mbps: Option<i32>,
    pub traffic_tb: Option<i32>,
    pub traffic_unlimited: bool,
    pub ipv4_count: i32,
    pub ipv6_enabled: bool,
    pub max_containers: i32,
    /// Containers on it now (not deleted).
    pub containers: i64,
}

/// The marketplace's filters; `None` filters nothing.
#[derive(Debug, Default)]
pub struct MarketFilter {
    pub country: Option<String>,
    pub region: Option<String>,
    pub max_price_per_day_cents: Option<i64>,
    pub durations: Option<Vec<i32>>,
    pub min_cpu_cores: Option<i32>,
    pub min_cpu_score: Option<i32>,
    pub cpu_score_type: Option<String>,
    pub min_ram_mb: Option<i64>,
    pub ram_types: Option<Vec<String>>,
    pub min_total_storage_gb: Option<i64>,
    pub disk_types: Option<Vec<String>>,
    pub min_bandwidth_mbps: Option<i32>,
    pub min_traffic_tb: Option<i32>,
    pub unlimited_traffic_only: bool,
    pub category: Option<String>,
    pub featured_only: bool,
}

/// The servers one can rent now: listed, enabled, priced, not free and not rented.
pub async fn market(db: impl PgExecutor<'_>, f: &MarketFilter) -> sqlx::Result<Vec<SpecRow>> {
    sqlx::query_as!(
        SpecRow,
        r#"select s.server_id, s.name, s.country, s.region, s.city, s.datacenter, s.model, s.is_vm, s.category,
                  s.featured, s.popularity_rank, s.setup_time_minutes, s.setup_fee_cents, s.hold_days,
                  s.price_per_day_cents, s.rental_days, s.cores, s.cpu_model, s.cpu_threads, s.cpu_score,
                  s.cpu_score_type, s.ram_mb, s.ram_type, s.ram_speed_mhz, s.disks, s.disk_gb, s.bandwidth_mbps,
                  s.traffic_tb, s.traffic_unlimited, s.ipv4_count, s.ipv6_enabled, s.max_containers,
                  0::bigint as "containers!"
             from server s
            where s.listed and s.is_enabled and not s.is_free and s.price_per_day_cents > 0
              and cardinality(s.rental_days) > 0
              and not exists (select 1 from rental r where r.server_id = s.server_id and r.status = 'active')
              and ($1::text is null or upper(s.country) = upper($1))
              and ($2::text is null or lower(s.region) = lower($2))
              and ($3::bigint is null or s.price_per_day_cents <= $3)
              and ($4::int[] is null or s.rental_days @> $4)
              and ($5::int is null or s.cores >= $5)
              and ($6::int is null or s.cpu_score >= $6)
              and ($7::text is null or s.cpu_score_type = $7)
              and ($8::bigint is null or s.ram_mb >= $8)
              and ($9::text[] is null or s.ram_type = any($9))
              and ($10::bigint is null or case when jsonb_array_length(s.disks) = 0 then s.disk_gb
                   else (select coalesce(sum((d ->> 'count')::bigint * (d ->> 'capacity_gb')::bigint), 0)
                           from jsonb_array_elements(s.disks) d) end >= $10)
              and ($11::text[] is null
                   or exists (select 1 from jsonb_array_elements(s.disks) d where d ->> 'type' = any($11)))
              and ($12::int is null or s.bandwidth_mbps >= $12)
              and ($13::int is null or s.traffic_unlimited or s.traffic_tb >= $13)
              and (not $14 or s.traffic_unlimited)
              and ($15::text is null or s.category = $15)
              and (not $16 or s.featured)
            order by s.featured desc, s.popularity_rank nulls last, s.price_per_day_cents, s.name"#,
        f.country,
        f.region,
        f.max_price_per_day_cents,
        f.durations.as_deref(),
        f.min_cpu_cores,
        f.min_cpu_score,
        f.cpu_score_type,
        f.min_ram_mb,
        f.ram_types.as_deref(),
        f.min_total_storage_gb,
        f.disk_types.as_deref(),
        f.min_bandwidth_mbps,
        f.min_traffic_tb,
        f.unlimited_traffic_only,
        f.category,
        f.featured_only,
    )
    .fetch_all(db)
    .await
}

/// The server's row as the marketplace shows it, locked for a rent (its price and durations are
/// read under the lock). `None`: no such server.
pub async fn spec_for_rent(conn: &mut PgConnection, server_id: &str) -> sqlx::Result<Option<(SpecRow, bool)>> {
    let r = sqlx::query!(
        "select listed and is_enabled and not is_free and coalesce(price_per_day_cents > 0, false) \
         and cardinality(rental_days) > 0 as \"rentable!\" from server where server_id = $1 for update",
        server_id
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(r) = r else { return Ok(None) };
    let spec = specs(&mut *conn, &[server_id.to_owned()], None).await?.pop().ok_or(sqlx::Error::RowNotFound)?;
    Ok(Some((spec, r.rentable)))
}

/// The servers of `ids` as the marketplace shows them, with their container counts: the
/// containers that use them (not failed or being deleted), `user_id`'s only when given (a
/// renter's `container_capacity.used`, as `crate::quota::server_room` counts it).
pub async fn specs(db: impl PgExecutor<'_>, ids: &[String], user_id: Option<&str>) -> sqlx::Result<Vec<SpecRow>> {
    sqlx::query_as!(
        SpecRow,
        r#"select s.server_id, s.name, s.country, s.region, s.city, s.datacenter, s.model, s.is_vm, s.category,
                  s.featured, s.popularity_rank, s.setup_time_minutes, s.setup_fee_cents, s.hold_days,
                  s.price_per_day_cents, s.rental_days, s.cores, s.cpu_model, s.cpu_threads, s.cpu_score,
                  s.cpu_score_type, s.ram_mb, s.ram_type, s.ram_speed_mhz, s.disks, s.disk_gb, s.bandwidth_mbps,
                  s.traffic_tb, s.traffic_unlimited, s.ipv4_count, s.ipv6_enabled, s.max_containers,
                  (select count(*) from container c join project p on p.project_id = c.project_id
                    where c.server_id = s.server_id and c.status not in ('failed', 'deleting')
                      and ($2::text is null or p.user_id = $2)) as "containers!"
             from server s where s.server_id = any($1)"#,
        ids,
        user_id
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone)]
pub struct RentalRow {
    pub rental_id: String,
    pub user_id: String,
    pub server_id: String,
    pub pool_id: Option<String>,
    pub rental_start: DateTime<Utc>,
    pub rental_end: DateTime<Utc>,
    pub hold_days: i32,
    pub status: String,
    pub amount_cents: i64,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    pub renewal_pricing_frozen: Value,
    pub txn_id: Option<String>,
    pub ended_at: Option<DateTime<Utc>>,
    pub txn_amount_cents: Option<i64>,
    pub txn_created_at: Option<DateTime<Utc>>,
}

pub struct NewRental<'a> {
    pub rental_id: &'a str,
    pub user_id: &'a str,
    pub server_id: &'a str,
    pub days: i32,
    pub hold_days: i32,
    pub amount_cents: i64,
    pub setup_fee_cents: i64,
    pub frozen: &'a Value,
    pub txn_id: &'a str,
    pub reservation_id: Option<&'a str>,
    /// The pool it is rented for (a reservation's delivery takes the reservation's).
    pub pool_id: Option<&'a str>,
}

/// A new active rental from now for `days`; false when the server has an active rental
/// (`rental_active_server`).
pub async fn insert(conn: &mut PgConnection, n: &NewRental<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "insert into rental (rental_id, user_id, server_id, rental_end, hold_days, amount_cents, setup_fee_cents, \
         total_paid_cents, renewal_pricing_frozen, txn_id, reservation_id, pool_id) \
         values ($1, $2, $3, now() + make_interval(days => $4::int), $5, $6::bigint, $7::bigint, $6::bigint + $7::bigint, $8, $9, $10, \
                 coalesce($11::text, (select pool_id from reservation where reservation_id = $10))) \
         on conflict (server_id) where status = 'active' do nothing",
        n.rental_id,
        n.user_id,
        n.server_id,
        n.days,
        n.hold_days,
        n.amount_cents,
        n.setup_fee_cents,
        n.frozen,
        n.txn_id,
        n.reservation_id,
        n.pool_id,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A user's rentals, newest first (or the one of `id`).
pub async fn of_user(db: impl PgExecutor<'_>, user_id: &str, id: Option<&str>) -> sqlx::Result<Vec<RentalRow>> {
    sqlx::query_as!(
        RentalRow,
        r#"select r.rental_id, r.user_id, r.server_id, r.pool_id, r.rental_start, r.rental_end, r.hold_days,
                  r.status, r.amount_cents, r.setup_fee_cents, r.total_paid_cents, r.renewal_pricing_frozen,
                  r.txn_id, r.ended_at, t.amount_cents as "txn_amount_cents?", t.created_at as "txn_created_at?"
             from rental r left join ledger_txn t on t.txn_id = r.txn_id
            where r.user_id = $1 and ($2::text is null or r.rental_id = $2)
            order by r.created_at desc, r.rental_id"#,
        user_id,
        id
    )
    .fetch_all(db)
    .await
}

/// A user's rental, locked for an extension.
pub async fn lock(conn: &mut PgConnection, user_id: &str, id: &str) -> sqlx::Result<Option<RentalRow>> {
    sqlx::query_as!(
        RentalRow,
        r#"select r.rental_id, r.user_id, r.server_id, r.pool_id, r.rental_start, r.rental_end, r.hold_days,
                  r.status, r.amount_cents, r.setup_fee_cents, r.total_paid_cents, r.renewal_pricing_frozen,
                  r.txn_id, r.ended_at, null::bigint as "txn_amount_cents?", null::timestamptz as "txn_created_at?"
             from rental r where r.user_id = $1 and r.rental_id = $2 for update"#,
        user_id,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Add `days` paid with `cents` to a rental; its new end.
pub async fn extend(conn: &mut PgConnection, id: &str, days: i32, cents: i64) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar!(
        "update rental set rental_end = rental_end + make_interval(days => $2), amount_cents = amount_cents + $3, \
         total_paid_cents = total_paid_cents + $3, expiring_noted = false, updated_at = now() \
         where rental_id = $1 returning rental_end",
        id,
        days,
        cents
    )
    .fetch_one(conn)
    .await
}

/// Active rentals that end within `hours` and were not announced yet for that end, marked
/// announced and returned as (rental, user, server, end); rows another sweeper holds are skipped.
pub async fn note_expiring(
    conn: &mut PgConnection,
    hours: i32,
    limit: i64,
) -> sqlx::Result<Vec<(String, String, String, DateTime<Utc>)>> {
    let rows = sqlx::query!(
        "with due as (
           select rental_id from rental where status = 'active' and not expiring_noted and rental_end > now()
              and rental_end <= now() + make_interval(hours => $1) order by rental_end limit $2 for update skip locked)
         update rental r set expiring_noted = true, updated_at = now() from due where r.rental_id = due.rental_id
         returning r.rental_id, r.user_id, r.server_id, r.rental_end",
        hours,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| (r.rental_id, r.user_id, r.server_id, r.rental_end)).collect())
}

/// Active rentals whose end has passed, ended now (`expired`) and returned; rows another
/// sweeper holds are skipped.
pub async fn expire_due(conn: &mut PgConnection, limit: i64) -> sqlx::Result<Vec<RentalRow>> {
    sqlx::query_as!(
        RentalRow,
        r#"with due as (
             select rental_id from rental where status = 'active' and rental_end <= now()
              order by rental_end limit $1 for update skip locked)
           update rental r set status = 'expired', ended_at = now(), updated_at = now()
             from due where r.rental_id = due.rental_id
           returning r.rental_id, r.user_id, r.server_id, r.pool_id, r.rental_start, r.rental_end, r.hold_days,
                     r.status, r.amount_cents, r.setup_fee_cents, r.total_paid_cents, r.renewal_pricing_frozen,
                     r.txn_id, r.ended_at, null::bigint as "txn_amount_cents?", null::timestamptz as "txn_created_at?""#,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Forget pool uses that ended over a week ago (their containers were stopped long since).
pub async fn prune_pool_use_ended(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let r = sqlx::query!("delete from pool_use_ended where ended_at < now() - interval '7 days'").execute(db).await?;
    Ok(r.rows_affected())
}

/// Containers that run (or are paused) on a rented server their owner may use no more: the ones
/// an ended rental of their owner's leaves to stop, and those of a pool's members once they left
/// the pool (or the pool went) while someone else rented the server for it (`pool_use_ended`);
/// found again on every pass, so a stop that failed, or a container that came up while its use
/// ended, is stopped on a later one. Containers placed by anyone else are left alone.
pub async fn left_running(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar!(
        "select c.container_id from container c join project p on p.project_id = c.project_id \
         join server s on s.server_id = c.server_id \
         where c.status in ('running', 'paused') and not s.is_free \
           and (exists (select 1 from rental r where r.server_id = c.server_id and r.user_id = p.user_id \
                        and r.status <> 'active') \
                or exists (select 1 from pool_use_ended e where e.user_id = p.user_id and e.server_id = c.server_id)) \
           and not exists (select 1 from rental r where r.server_id = c.server_id \
                           and r.status = 'active' and r.rental_end > now() \
                           and (r.user_id = p.user_id or exists (select 1 from pool_member m \
                                where m.pool_id = r.pool_id and m.user_id = p.user_id and m.joined_at is not null))) \
         order by c.container_id limit $1",
        limit
    )
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct OfferRow {
    pub offer_id: String,
    pub name: String,
    pub country: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub datacenter: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<i32>,
    pub cpu_threads: Option<i32>,
    pub ram_gb: Option<i32>,
    pub disks: Value,
    pub bandwidth_mbps: Option<i32>,
    pub traffic_tb: Option<i32>,
    pub traffic_unlimited: bool,
    pub ipv4_count: i32,
    pub price_per_day_cents: i64,
    pub rental_days: Vec<i32>,
    pub hold_days: i32,
    pub setup_fee_cents: i64,
    pub delivery_hours: i32,
    pub setup_time_minutes: i32,
    pub stock: Option<i32>,
    pub is_active: bool,
}

/// Active offers (or every offer, for operators), by name.
pub async fn offers(db: impl PgExecutor<'_>, all: bool) -> sqlx::Result<Vec<OfferRow>> {
    sqlx::query_as!(
        OfferRow,
        "select offer_id, name, country, region, city, datacenter, cpu_model, cpu_cores, cpu_threads, ram_gb, disks, \
         bandwidth_mbps, traffic_tb, traffic_unlimited, ipv4_count, price_per_day_cents, rental_days, hold_days, \
         setup_fee_cents, delivery_hours, setup_time_minutes, stock, is_active \
         from server_offer where is_active or $1 order by name",
        all
    )
    .fetch_all(db)
    .await
}

/// One active offer, locked for a reservation.
pub async fn lock_offer(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<OfferRow>> {
    sqlx::query_as!(
        OfferRow,
        "select offer_id, name, country, region, city, datacenter, cpu_model, cpu_cores, cpu_threads, ram_gb, disks, \
         bandwidth_mbps, traffic_tb, traffic_unlimited, ipv4_count, price_per_day_cents, rental_days, hold_days, \
         setup_fee_cents, delivery_hours, setup_time_minutes, stock, is_active \
         from server_offer where offer_id = $1 and is_active for update",
        id
    )
    .fetch_optional(conn)
    .await
}

/// One fewer in stock (offers made to order have no count).
pub async fn take_stock(conn: &mut PgConnection, id: &str) -> sqlx::Result<()> {
    sqlx::query!("update server_offer set stock = stock - 1 where offer_id = $1 and stock is not null", id)
        .execute(conn)
        .await?;
    Ok(())
}

/// An operator's new offer from its JSON (checked by the table's constraints).
pub async fn insert_offer(db: impl PgExecutor<'_>, id: &str, name: &str, spec: &Value) -> sqlx::Result<()> {
    sqlx::query!(
        "insert into server_offer (offer_id, name, country, region, city, datacenter, cpu_model, cpu_cores, cpu_threads, \
         ram_gb, disks, bandwidth_mbps, traffic_tb, traffic_unlimited, ipv4_count, price_per_day_cents, rental_days, \
         hold_days, setup_fee_cents, delivery_hours, setup_time_minutes, stock) \
         select $1, $2, s.country, s.region, s.city, s.datacenter, s.cpu_model, s.cpu_cores, s.cpu_threads, s.ram_gb, \
         coalesce(s.disks, '[]'), s.bandwidth_mbps, s.traffic_tb, coalesce(s.traffic_unlimited, false), \
         coalesce(s.ipv4_count, 1), s.price_per_day_cents, s.rental_days, coalesce(s.hold_days, 0), \
         coalesce(s.setup_fee_cents, 0), s.delivery_hours, coalesce(s.setup_time_minutes, 0), s.stock \
         from jsonb_to_record($3) as s(country text, region text, city text, datacenter text, cpu_model text, \
         cpu_cores int, cpu_threads int, ram_gb int, disks jsonb, bandwidth_mbps int, traffic_tb int, \
         traffic_unlimited bool, ipv4_count int, price_per_day_cents bigint, rental_days int[], hold_days int, \
         setup_fee_cents bigint, delivery_hours int, setup_time_minutes int, stock int)",
        id,
        name,
        spec
    )
    .execute(db)
    .await?;
    Ok(())
}

/// Withdraw an offer (kept for its reservations); false when there is none of that name.
pub async fn deactivate_offer(db: impl PgExecutor<'_>, name: &str) -> sqlx::Result<bool> {
    let done = sqlx::query!("update server_offer set is_active = false where name = $1", name).execute(db).await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone)]
pub struct ReservationRow {
    pub reservation_id: String,
    pub user_id: String,
    pub offer_id: String,
    pub days: i32,
    pub state: String,
    pub ready_by: DateTime<Utc>,
    pub delivery_hours_quoted: i32,
    pub setup_time_minutes_quoted: i32,
    pub hold_days_quoted: i32,
    pub rental_cents: i64,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    pub offer_snapshot: Value,
    pub server_id: Option<String>,
    pub rental_id: Option<String>,
    pub txn_id: String,
    pub created_at: DateTime<Utc>,
}

pub struct NewReservation<'a> {
    pub reservation_id: &'a str,
    pub user_id: &'a str,
    pub offer: &'a OfferRow,
    pub days: i32,
    pub rental_cents: i64,
    pub snapshot: &'a Value,
    pub txn_id: &'a str,
    /// The pool the server is ordered for.
    pub pool_id: Option<&'a str>,
}

pub async fn insert_reservation(conn: &mut PgConnection, n: &NewReservation<'_>) -> sqlx::Result<ReservationRow> {
    sqlx::query_as!(
        ReservationRow,
        "insert into reservation (reservation_id, user_id, offer_id, days, ready_by, delivery_hours_quoted, \
         setup_time_minutes_quoted, hold_days_quoted, rental_cents, setup_fee_cents, total_paid_cents, offer_snapshot, txn_id, \
         pool_id) \
         values ($1, $2, $3, $4, now() + make_interval(hours => $5::int, mins => $6::int), $5, $6, $7, $8, $9, \
         $8::bigint + $9::bigint, $10, $11, $12) \
         returning reservation_id, user_id, offer_id, days, state, ready_by, delivery_hours_quoted, \
         setup_time_minutes_quoted, hold_days_quoted, rental_cents, setup_fee_cents, total_paid_cents, offer_snapshot, \
         server_id, rental_id, txn_id, created_at",
        n.reservation_id,
        n.user_id,
        n.offer.offer_id,
        n.days,
        n.offer.delivery_hours,
        n.offer.setup_time_minutes,
        n.offer.hold_days,
        n.rental_cents,
        n.offer.setup_fee_cents,
        n.snapshot,
        n.txn_id,
        n.pool_id,
    )
    .fetch_one(conn)
    .await
}

/// A user's reservations, newest first, a page of them, with the total.
pub async fn reservations(
    db: impl PgExecutor<'_> + Copy,
    user_id: &str,
    id: Option<&str>,
    limit: i64,
    offset: i64,
) -> sqlx::Result<(Vec<ReservationRow>, i64)> {
    let rows = sqlx::query_as!(
        ReservationRow,
        "select reservation_id, user_id, offer_id, days, state, ready_by, delivery_hours_quoted, \
         setup_time_minutes_quoted, hold_days_quoted, rental_cents, setup_fee_cents, total_paid_cents, offer_snapshot, \
         server_id, rental_id, txn_id, created_at from reservation \
         where user_id = $1 and ($2::text is null or reservation_id = $2) \
         order by created_at desc, reservation_id limit $3 offset $4",
        user_id,
        id,
        limit,
        offset
    )
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar!("select count(*) as \"n!\" from reservation where user_id = $1", user_id)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// A pending reservation, locked for its delivery.
pub async fn lock_pending(conn: &mut PgConnection, id: &str) -> sqlx::Result<Option<ReservationRow>> {
    sqlx::query_as!(
        ReservationRow,
        "select reservation_id, user_id, offer_id, days, state, ready_by, delivery_hours_quoted, \
         setup_time_minutes_quoted, hold_days_quoted, rental_cents, setup_fee_cents, total_paid_cents, offer_snapshot, \
         server_id, rental_id, txn_id, created_at from reservation where reservation_id = $1 and state = 'pending' \
         for update",
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn fulfil(conn: &mut PgConnection, id: &str, server_id: &str, rental_id: &str) -> sqlx::Result<()> {
    sqlx::query!(
        "update reservation set state = 'fulfilled', server_id = $2, rental_id = $3, updated_at = now() \
         where reservation_id = $1",
        id,
        server_id,
        rental_id
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Set the marketplace fields an operator gives as JSON (absent ones are kept); false when
/// there is no such server. The table's checks refuse bad values.
pub async fn set_listing(db: impl PgExecutor<'_>, server_id: &str, l: &Value) -> sqlx::Result<bool> {
    let done = sqlx::query!(
        "update server s set listed = coalesce(l.listed, s.listed), model = coalesce(l.model, s.model), \
         is_vm = coalesce(l.is_vm, s.is_vm), category = coalesce(l.category, s.category), \
         featured = coalesce(l.featured, s.featured), popularity_rank = coalesce(l.popularity_rank, s.popularity_rank), \
         setup_time_minutes = coalesce(l.setup_time_minutes, s.setup_time_minutes), \
         setup_fee_cents = coalesce(l.setup_fee_cents, s.setup_fee_cents), hold_days = coalesce(l.hold_days, s.hold_days), \
         cpu_model = coalesce(l.cpu_model, s.cpu_model), cpu_threads = coalesce(l.cpu_threads, s.cpu_threads), \
         cpu_score = coalesce(l.cpu_score, s.cpu_score), cpu_score_type = coalesce(l.cpu_score_type, s.cpu_score_type), \
         ram_type = coalesce(l.ram_type, s.ram_type), ram_speed_mhz = coalesce(l.ram_speed_mhz, s.ram_speed_mhz), \
         disks = coalesce(l.disks, s.disks), bandwidth_mbps = coalesce(l.bandwidth_mbps, s.bandwidth_mbps), \
         traffic_tb = coalesce(l.traffic_tb, s.traffic_tb), \
         traffic_unlimited = coalesce(l.traffic_unlimited, s.traffic_unlimited), \
         ipv4_count = coalesce(l.ipv4_count, s.ipv4_count), ipv6_enabled = coalesce(l.ipv6_enabled, s.ipv6_enabled), \
         max_containers = coalesce(l.max_containers, s.max_containers) \
         from jsonb_to_record($2) as l(listed bool, model text, is_vm bool, category text, featured bool, \
         popularity_rank int, setup_time_minutes int, setup_fee_cents bigint, hold_days int, cpu_model text, \
         cpu_threads int, cpu_score int, cpu_score_type text, ram_type text, ram_speed_mhz int, disks jsonb, \
         bandwidth_mbps int, traffic_tb int, traffic_unlimited bool, ipv4_count int, ipv6_enabled bool, \
         max_containers int) where s.server_id = $1",
        server_id,
        l
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A reservation refunded, and with `restock` its unit back in its offer's stock (the offer's
/// row is locked here, before any account: a reservation's order, so the two never deadlock).
pub async fn refunded(conn: &mut PgConnection, id: &str, offer_id: &str, restock: bool) -> sqlx::Result<()> {
    sqlx::query!(
        "update server_offer set stock = stock + case when $2 then 1 else 0 end where offer_id = $1 and stock is not null",
        offer_id,
        restock
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query!("update reservation set state = 'refunded', updated_at = now() where reservation_id = $1", id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Every pending reservation, oldest first (what operators have to deliver).
pub async fn pending(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<ReservationRow>> {
    sqlx::query_as!(
        ReservationRow,
        "select reservation_id, user_id, offer_id, days, state, ready_by, delivery_hours_quoted, \
         setup_time_minutes_quoted, hold_days_quoted, rental_cents, setup_fee_cents, total_paid_cents, offer_snapshot, \
         server_id, rental_id, txn_id, created_at from reservation where state = 'pending' \
         order by created_at, reservation_id"
    )
    .fetch_all(db)
    .await
}
