//! What the rental routes take and answer.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::{db::rentals::SpecRow, money};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rental_days": 30, "max_charge_cents": 4500}))]
pub struct RentIn {
    /// A pool you own or administer (24 hex): its accepted members may use the server too.
    pub pool_id: Option<String>,
    /// Days to rent: one of the server's `available_durations`.
    #[schema(minimum = 1, maximum = 3650)]
    pub rental_days: i64,
    /// The most you agree to pay, in cents; required when the server has a setup fee, and never
    /// below the total (price of the days + setup fee).
    #[schema(minimum = 0)]
    pub max_charge_cents: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "expected_rental_end": "2027-01-01T00:00:00.000Z",
    "additional_days": 30,
    "max_charge_cents": 4500
}))]
pub struct ExtendIn {
    /// The rental's `rental_end` as you last read it; when it moved meanwhile: 409, nothing paid.
    #[schema(example = "2027-01-01T00:00:00.000Z")]
    pub expected_rental_end: String,
    /// Days to add: one of the durations frozen when the server was rented.
    #[schema(minimum = 1, maximum = 3650)]
    pub additional_days: i64,
    /// The most you agree to pay, in cents (never below the extension's price).
    #[schema(minimum = 0)]
    pub max_charge_cents: Option<i64>,
}

/// `?…` of `GET /servers/available`; lists take repeated keys or commas (`ram_types=DDR4,DDR5`).
/// (Documentation only: `market::filter` reads the query.)
#[derive(Debug, IntoParams)]
#[allow(dead_code)]
#[into_params(parameter_in = Query)]
pub struct MarketQuery {
    /// Country code, e.g. `DE` (case-insensitive).
    pub country: Option<String>,
    /// Region, e.g. `eu-central`.
    pub region: Option<String>,
    /// Most dollars per day.
    pub max_price_per_day: Option<f64>,
    /// Durations (days) the server must offer, all of them.
    pub available_durations: Option<Vec<i32>>,
    /// Fewest CPU cores (a whole number, 0 or more).
    pub min_cpu_cores: Option<i32>,
    /// Lowest CPU benchmark score (a whole number, 0 or more), of `cpu_score_type`.
    pub min_cpu_score: Option<i32>,
    /// The benchmark `min_cpu_score` is in: passmark, geekbench_single or geekbench_multi.
    #[param(value_type = Option<String>, pattern = "^(passmark|geekbench_single|geekbench_multi)$")]
    pub cpu_score_type: Option<String>,
    /// Least RAM in GB (a number, 0 or more).
    pub min_ram_gb: Option<f64>,
    /// Any of DDR3, DDR4, DDR5, ECC DDR4, ECC DDR5.
    pub ram_types: Option<Vec<String>>,
    /// Least disk space in GB, all disks together (a whole number, 0 or more).
    pub min_total_storage_gb: Option<i64>,
    /// Any of HDD, SSD, NVMe, SAS: servers with at least one such disk.
    pub disk_types: Option<Vec<String>>,
    /// Least port speed in Mbit/s (a whole number, 0 or more).
    pub min_bandwidth_mbps: Option<i32>,
    /// Servers with unlimited traffic pass any minimum.
    pub min_traffic_tb: Option<i32>,
    /// `true`: only servers with unlimited traffic.
    pub unlimited_traffic_only: Option<bool>,
    /// compute, memory, storage, general or gpu (case-insensitive).
    #[param(value_type = Option<String>, pattern = "^(compute|memory|storage|general|gpu)$")]
    pub category: Option<String>,
    /// `true`: only featured servers.
    pub featured_only: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CpuOut {
    pub model: Option<String>,
    pub cores: Option<i32>,
    pub threads: Option<i32>,
    pub score: Option<i32>,
    pub score_type: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RamOut {
    pub capacity_gb: f64,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub speed_mhz: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DisksOut {
    #[schema(value_type = Vec<Object>)]
    pub config: Vec<Value>,
    pub total_gb: i64,
    pub summary: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServerNetworkOut {
    pub bandwidth_mbps: Option<i32>,
    pub bandwidth_formatted: Option<String>,
    pub traffic_tb: Option<i32>,
    pub traffic_unlimited: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdditionalOut {
    pub ipv4_count: i32,
    pub ipv6_enabled: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SpecsOut {
    pub cpu: Option<CpuOut>,
    pub ram: Option<RamOut>,
    pub disks: Option<DisksOut>,
    pub network: Option<ServerNetworkOut>,
    pub additional: AdditionalOut,
}

impl From<&SpecRow> for SpecsOut {
    fn from(s: &SpecRow) -> Self {
        let config: Vec<Value> = s.disks.as_array().cloned().unwrap_or_default();
        let total_gb = if config.is_empty() {
            s.disk_gb
        } else {
            config.iter().map(|d| d["count"].as_i64().unwrap_or(1) * d["capacity_gb"].as_i64().unwrap_or(0)).sum()
        };
        let summary = if config.is_empty() {
            format!("{total_gb} GB")
        } else {
            config
                .iter()
                .map(|d| {
                    format!(
                        "{}x {} GB {}",
                        d["count"].as_i64().unwrap_or(1),
                        d["capacity_gb"].as_i64().unwrap_or(0),
                        d["type"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(" + ")
        };
        let network =
            (s.bandwidth_mbps.is_some() || s.traffic_tb.is_some() || s.traffic_unlimited).then(|| ServerNetworkOut {
                bandwidth_mbps: s.bandwidth_mbps,
                bandwidth_formatted: s.bandwidth_mbps.map(|b| match b {
                    b if b >= 1000 && b % 1000 == 0 => format!("{} Gbps", b / 1000),
                    b => format!("{b} Mbps"),
                }),
                traffic_tb: s.traffic_tb,
                traffic_unlimited: s.traffic_unlimited,
            });
        SpecsOut {
            cpu: Some(CpuOut {
                model: s.cpu_model.clone(),
                cores: Some(s.cores),
                threads: s.cpu_threads,
                score: s.cpu_score,
                score_type: s.cpu_score_type.clone(),
            }),
            ram: Some(RamOut {
                capacity_gb: (s.ram_mb as f64 / 1024.0 * 100.0).round() / 100.0,
                kind: s.ram_type.clone(),
                speed_mhz: s.ram_speed_mhz,
            }),
            disks: (total_gb > 0).then_some(DisksOut { config, total_gb, summary }),
            network,
            additional: AdditionalOut { ipv4_count: s.ipv4_count, ipv6_enabled: s.ipv6_enabled },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PricingOut {
    /// Duration in days → its price in dollars (`{"30": "90.00"}`).
    #[schema(value_type = Object)]
    pub prices: Map<String, Value>,
    pub setup_fee: String,
    pub setup_fee_cents: i64,
    /// Duration in days → `{price, price_cents, per_day}`.
    #[schema(value_type = Object)]
    pub price_tiers: Map<String, Value>,
}

/// The prices of a server's durations (`per_day` × days), for the marketplace and as frozen at
/// renting time.
pub fn prices(per_day_cents: i64, days: &[i32]) -> (Map<String, Value>, Map<String, Value>) {
    let mut prices = Map::new();
    let mut tiers = Map::new();
    for d in days {
        let cents = per_day_cents * i64::from(*d);
        prices.insert(d.to_string(), Value::String(money::dollars(cents)));
        tiers.insert(
            d.to_string(),
            json!({"price": money::dollars(cents), "price_cents": cents, "per_day": money::dollars(per_day_cents)}),
        );
    }
    (prices, tiers)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MarketServerOut {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub country: Option<String>,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub datacenter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub model: Option<String>,
    pub is_vm: bool,
    pub category: Option<String>,
    pub featured: bool,
    pub popularity_rank: Option<i32>,
    pub setup_time_minutes: Option<i32>,
    /// In stock: 0 (ordered machines are `GET /offers`).
    pub delivery_hours: i32,
    /// Durations one may rent it for, in days.
    pub available_durations: Vec<i32>,
    pub hold_days: i32,
    pub pricing: PricingOut,
    pub specs: SpecsOut,
}

impl From<SpecRow> for MarketServerOut {
    fn from(s: SpecRow) -> Self {
        let (prices, price_tiers) = prices(s.price_per_day_cents.unwrap_or(0), &s.rental_days);
        let specs = SpecsOut::from(&s);
        Self {
            id: s.server_id,
            name: s.name,
            country: s.country,
            region: s.region,
            city: s.city,
            datacenter: s.datacenter,
            model: s.model,
            is_vm: s.is_vm,
            category: s.category,
            featured: s.featured,
            popularity_rank: s.popularity_rank,
            setup_time_minutes: s.setup_time_minutes,
            delivery_hours: 0,
            available_durations: s.rental_days,
            hold_days: s.hold_days,
            pricing: PricingOut {
                prices,
                setup_fee: money::dollars(s.setup_fee_cents),
                setup_fee_cents: s.setup_fee_cents,
                price_tiers,
            },
            specs,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CapacityOut {
    pub used: i64,
    pub max: i64,
}

/// A rented server as its rental shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct RentedServerOut {
    pub container_capacity: CapacityOut,
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub country: Option<String>,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub city: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub datacenter: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub model: Option<String>,
    pub is_vm: bool,
    pub specs: SpecsOut,
}

impl From<SpecRow> for RentedServerOut {
    fn from(s: SpecRow) -> Self {
        let specs = SpecsOut::from(&s);
        Self {
            container_capacity: CapacityOut { used: s.containers, max: i64::from(s.max_containers) },
            id: s.server_id,
            name: s.name,
            country: s.country,
            region: s.region,
            city: s.city,
            datacenter: s.datacenter,
            model: s.model,
            is_vm: s.is_vm,
            specs,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RentalTxnOut {
    pub id: String,
    /// Dollars.
    #[schema(value_type = f64)]
    pub amount: serde_json::Number,
    pub currency: String,
    pub created_at: String,
}

/// A rental (`GET /rentals`, `GET /rentals/{id}`).
#[derive(Debug, Serialize, ToSchema)]
pub struct RentalOut {
    pub id: String,
    pub rental_start: String,
    pub rental_end: String,
    pub hold_days: i32,
    /// `active`, `expired` or `cancelled`.
    pub status: String,
    /// Dollars paid for the rental's days (the setup fee apart).
    pub amount: String,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    #[schema(value_type = Option<Object>)]
    pub renewal_pricing_frozen: Option<Value>,
    /// Whole days left (0 once ended).
    pub remaining_days: i64,
    /// Whole days since it started (up to its end).
    pub usage_days: i64,
    pub server_id: Option<String>,
    pub pool_id: Option<String>,
    pub is_free_tier: bool,
    pub server: Option<RentedServerOut>,
    pub transaction: Option<RentalTxnOut>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RentTxnOut {
    pub id: String,
    /// Dollars.
    #[schema(value_type = f64)]
    pub amount: serde_json::Number,
    pub currency: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RentedOut {
    pub id: String,
    pub server_id: String,
    pub rental_start: String,
    pub rental_end: String,
    pub hold_days: i32,
    pub actual_usage_days: i64,
    pub status: String,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    #[schema(value_type = Option<Object>)]
    pub renewal_pricing_frozen: Option<Value>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RentOut {
    pub rental: RentedOut,
    pub transaction: RentTxnOut,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExtendedOut {
    pub id: String,
    pub rental_end: String,
    pub status: String,
    pub amount: String,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    #[schema(value_type = Option<Object>)]
    pub renewal_pricing_frozen: Option<Value>,
    pub remaining_days: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExtendOut {
    pub rental: ExtendedOut,
    pub transaction: RentTxnOut,
}

/// A machine to order (`GET /offers`).
#[derive(Debug, Serialize, ToSchema)]
pub struct OfferOut {
    pub id: String,
    pub name: String,
    pub country: String,
    pub region: Option<String>,
    pub city: Option<String>,
    pub datacenter: Option<String>,
    pub cpu_model: Option<String>,
    pub cpu_cores: Option<i32>,
    pub cpu_threads: Option<i32>,
    pub ram_gb: Option<i32>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub disks: Option<Value>,
    pub bandwidth_mbps: Option<i32>,
    pub traffic_tb: Option<i32>,
    pub traffic_unlimited: bool,
    pub ipv4_count: i32,
    /// `{price_per_day_cents, rental_days, prices}` (prices by duration, dollars).
    #[schema(value_type = Option<Object>)]
    pub pricing_rules: Option<Value>,
    /// `{hold_days}`.
    #[schema(value_type = Option<Object>)]
    pub hold_rules: Option<Value>,
    pub setup_fee_cents: i64,
    /// `{charged: "first_payment_only"}`.
    #[schema(value_type = Option<Object>)]
    pub setup_fee_rules: Option<Value>,
    /// Hours until the machine is delivered, 1–720.
    pub delivery_hours: i32,
    pub setup_time_minutes: i32,
    /// Machines left; null when made to order.
    pub stock: Option<i32>,
}

impl From<crate::db::rentals::OfferRow> for OfferOut {
    fn from(o: crate::db::rentals::OfferRow) -> Self {
        let (prices, _) = prices(o.price_per_day_cents, &o.rental_days);
        Self {
            pricing_rules: Some(
                json!({"price_per_day_cents": o.price_per_day_cents, "rental_days": o.rental_days, "prices": prices}),
            ),
            hold_rules: Some(json!({"hold_days": o.hold_days})),
            setup_fee_rules: Some(json!({"charged": "first_payment_only"})),
            id: o.offer_id,
            name: o.name,
            country: o.country,
            region: o.region,
            city: o.city,
            datacenter: o.datacenter,
            cpu_model: o.cpu_model,
            cpu_cores: o.cpu_cores,
            cpu_threads: o.cpu_threads,
            ram_gb: o.ram_gb,
            disks: Some(o.disks),
            bandwidth_mbps: o.bandwidth_mbps,
            traffic_tb: o.traffic_tb,
            traffic_unlimited: o.traffic_unlimited,
            ipv4_count: o.ipv4_count,
            setup_fee_cents: o.setup_fee_cents,
            delivery_hours: o.delivery_hours,
            setup_time_minutes: o.setup_time_minutes,
            stock: o.stock,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"days": 30, "idempotency_key": "reserve-2026-12-03-1"}))]
pub struct ReserveIn {
    /// Days to rent once delivered: one of the offer's durations.
    #[schema(minimum = 1, maximum = 3650)]
    pub days: i64,
    /// The most you agree to pay, in cents; required when the offer has a setup fee.
    #[schema(minimum = 0)]
    pub max_charge_cents: Option<i64>,
    /// Makes the order once-only (1–255 visible ASCII characters).
    pub idempotency_key: String,
    /// A pool you own or administer (24 hex): its accepted members may use the server too.
    pub pool_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReservationOut {
    pub id: String,
    pub offer_id: String,
    pub days: i32,
    /// `pending` until an operator delivers the server, then `fulfilled` (or `refunded`).
    #[schema(pattern = "^(pending|fulfilled|refunded)$")]
    pub state: String,
    pub ready_by: String,
    pub delivery_hours_quoted: i32,
    pub setup_time_minutes_quoted: i32,
    pub hold_days_quoted: i32,
    pub server_id: Option<String>,
    pub rental_id: Option<String>,
    pub created_at: String,
    pub rental_cents: i64,
    pub setup_fee_cents: i64,
    pub total_paid_cents: i64,
    #[schema(value_type = Object)]
    pub offer_snapshot: Value,
}

impl From<crate::db::rentals::ReservationRow> for ReservationOut {
    fn from(r: crate::db::rentals::ReservationRow) -> Self {
        Self {
            id: r.reservation_id,
            offer_id: r.offer_id,
            days: r.days,
            state: r.state,
            ready_by: crate::db::ts(r.ready_by),
            delivery_hours_quoted: r.delivery_hours_quoted,
            setup_time_minutes_quoted: r.setup_time_minutes_quoted,
            hold_days_quoted: r.hold_days_quoted,
            server_id: r.server_id,
            rental_id: r.rental_id,
            created_at: crate::db::ts(r.created_at),
            rental_cents: r.rental_cents,
            setup_fee_cents: r.setup_fee_cents,
            total_paid_cents: r.total_paid_cents,
            offer_snapshot: r.offer_snapshot,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReserveOut {
    pub reservation: ReservationOut,
    /// True when this is the answer to an earlier request with the same idempotency key.
    pub replayed: bool,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReservationsQuery {
    /// Reservations per page (1–200; default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// Reservations to skip (0–1000000; default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// `GET /reservations`: the page, with `total`, `limit` and `offset` beside `data`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReservationsOut {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    pub data: Vec<ReservationOut>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

/// A rented server's live figures (scope `server`: the whole machine).
#[derive(Debug, Serialize, ToSchema)]
pub struct RuntimeOut {
    #[schema(value_type = String, pattern = "^server$")]
    pub scope: &'static str,
    pub ts: String,
    pub cache_age_ms: i64,
    pub stale: bool,
    pub uptime_s: Option<i64>,
    pub cores: Option<i64>,
    /// `{"1", "5", "15"}`: null (LXD does not report load).
    #[schema(value_type = Object)]
    pub load: Value,
    #[schema(value_type = Object)]
    pub cpu: Value,
    /// `{used_bytes, total_bytes, pct}`.
    #[schema(value_type = Object)]
    pub mem: Value,
    #[schema(value_type = Object)]
    pub swap: Value,
    /// `{used_bytes, total_bytes, pct}` of the host's storage pool.
    #[schema(value_type = Object)]
    pub storage: Value,
}
