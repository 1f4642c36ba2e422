//! The operator's side of rental: a server's marketplace listing, offers, and delivering a
//! reservation by registering its server (`hoody-api servers add … --reservation <id>`).

use serde_json::{json, Value};
use sqlx::PgPool;

use crate::{
    db::{self, rentals},
    ledger::{self, Account, Key, Movement, Recorded},
};

/// The marketplace fields `--listing` may set, with what each must be.
const LISTING: &[&str] = &[
    "listed",
    "model",
    "is_vm",
    "category",
    "featured",
    "popularity_rank",
    "setup_time_minutes",
    "setup_fee_cents",
    "hold_days",
    "cpu_model",
    "cpu_threads",
    "cpu_score",
    "cpu_score_type",
    "ram_type",
    "ram_speed_mhz",
    "disks",
    "bandwidth_mbps",
    "traffic_tb",
    "traffic_unlimited",
    "ipv4_count",
    "ipv6_enabled",
    "max_containers",
];

const OFFER: &[&str] = &[
    "country",
    "region",
    "city",
    "datacenter",
    "cpu_model",
    "cpu_cores",
    "cpu_threads",
    "ram_gb",
    "disks",
    "bandwidth_mbps",
    "traffic_tb",
    "traffic_unlimited",
    "ipv4_count",
    "price_per_day_cents",
    "rental_days",
    "hold_days",
    "setup_fee_cents",
    "delivery_hours",
    "setup_time_minutes",
    "stock",
];

/// A JSON object whose keys are all in `known`, and whose `disks` (if any) are
/// `[{count, capacity_gb, type: HDD|SSD|NVMe|SAS, …}]`.
fn object(what: &str, raw: &str, known: &[&str]) -> anyhow::Result<Value> {
    let v: Value = serde_json::from_str(raw).map_err(|e| anyhow::anyhow!("{what} is not JSON: {e}"))?;
    let obj = v.as_object().ok_or_else(|| anyhow::anyhow!("{what} must be a JSON object"))?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        anyhow::bail!("{what}: unknown field {k}; known: {}", known.join(", "));
    }
    if let Some(disks) = obj.get("disks") {
        let list = disks.as_array().ok_or_else(|| anyhow::anyhow!("{what}: disks must be an array"))?;
        for d in list {
            let ok = d["count"].as_i64().is_some_and(|n| n > 0)
                && d["capacity_gb"].as_i64().is_some_and(|n| n > 0)
                && d["type"].as_str().is_some_and(|t| ["HDD", "SSD", "NVMe", "SAS"].contains(&t));
            anyhow::ensure!(ok, "{what}: each disk is {{count > 0, capacity_gb > 0, type: HDD|SSD|NVMe|SAS}}");
        }
    }
    Ok(v)
}

/// Set a server's marketplace fields from `--listing` JSON.
pub async fn set_listing(db: &PgPool, server_id: &str, raw: &str) -> anyhow::Result<()> {
    let v = object("--listing", raw, LISTING)?;
    anyhow::ensure!(rentals::set_listing(db, server_id, &v).await?, "no such server");
    Ok(())
}

/// Add an offer from `--json`; its id.
pub async fn add_offer(db: &PgPool, name: &str, raw: &str) -> anyhow::Result<String> {
    let v = object("--json", raw, OFFER)?;
    for k in ["country", "price_per_day_cents", "rental_days", "delivery_hours"] {
        anyhow::ensure!(v.get(k).is_some_and(|x| !x.is_null()), "--json needs {k}");
    }
    let id = db::new_id();
    rentals::insert_offer(db, &id, name, &v).await?;
    Ok(id)
}

/// Refuse early (before a server is registered for it) a reservation that is not pending.
pub async fn check_pending(db: &PgPool, reservation_id: &str) -> anyhow::Result<()> {
    let mut conn = db.acquire().await?;
    rentals::lock_pending(&mut conn, reservation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pending reservation {reservation_id}"))?;
    Ok(())
}

/// Deliver a pending reservation on the newly registered `server_id`: the rental (from now, for
/// the reserved days, paid by the reservation) and the reservation fulfilled, in one transaction.
/// Returns the rental id.
pub async fn deliver(db: &PgPool, server_id: &str, reservation_id: &str) -> anyhow::Result<String> {
    let mut tx = db.begin().await?;
    let r = rentals::lock_pending(&mut tx, reservation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pending reservation {reservation_id}"))?;
    let snap = &r.offer_snapshot;
    let frozen = json!({
        "price_per_day_cents": snap["price_per_day_cents"],
        "rental_days": snap["rental_days"],
    });
    let rental_id = db::new_id();
    let n = rentals::NewRental {
        rental_id: &rental_id,
        user_id: &r.user_id,
        server_id,
        days: r.days,
        hold_days: r.hold_days_quoted,
        amount_cents: r.rental_cents,
        setup_fee_cents: r.setup_fee_cents,
        frozen: &frozen,
        txn_id: &r.txn_id,
        reservation_id: Some(reservation_id),
        // The reservation's pool, if any (taken by the insert).
        pool_id: None,
    };
    anyhow::ensure!(rentals::insert(&mut tx, &n).await?, "the server already has an active rental");
    rentals::fulfil(&mut tx, reservation_id, server_id, &rental_id).await?;
    tx.commit().await?;
    Ok(rental_id)
}

/// Refund a pending reservation (one that will not be delivered): what it paid goes back to the
/// buyer's general balance, once (the movement's key is the reservation's), it becomes
/// `refunded`, and with `restock` its unit returns to the offer's stock (not by default: the
/// machine may not exist), in one transaction. The movement's id.
pub async fn refund(db: &PgPool, reservation_id: &str, reason: &str, restock: bool) -> anyhow::Result<String> {
    let mut tx = db.begin().await?;
    let r = rentals::lock_pending(&mut tx, reservation_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no pending reservation {reservation_id}"))?;
    rentals::refunded(&mut tx, reservation_id, &r.offer_id, restock).await?;
    let total = r.total_paid_cents;
    let m = Movement {
        user_id: r.user_id.clone(),
        kind: "refund",
        amount_cents: total,
        reason: reason.to_owned(),
        key: Some(Key::new(format!("reservation-refund:{reservation_id}"), "reservation refund")),
        postings: vec![(Account::Platform(db::ledger::REVENUE), -total), (Account::General, total)],
        meta: json!({"reservation_id": reservation_id, "by": "operator"}),
    };
    let txn_id = match ledger::record(&mut tx, &m).await.map_err(|e| anyhow::anyhow!("the refund failed: {e}"))? {
        Recorded::New { txn_id, .. } => txn_id,
        Recorded::Replay(_) => anyhow::bail!("reservation {reservation_id} was refunded already"),
    };
    tx.commit().await?;
    Ok(txn_id)
}
