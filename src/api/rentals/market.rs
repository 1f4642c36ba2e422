//! The marketplace: servers one can rent now.

use axum::{extract::State, http::Uri};

use super::dto::{MarketQuery, MarketServerOut};
use crate::{
    auth::{access::Require, permissions::perm},
    db::rentals::{self, MarketFilter},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    state::AppState,
};

pub const RAM_TYPES: &[&str] = &["DDR3", "DDR4", "DDR5", "ECC DDR4", "ECC DDR5"];
pub const DISK_TYPES: &[&str] = &["HDD", "SSD", "NVMe", "SAS"];
pub const SCORE_TYPES: &[&str] = &["passmark", "geekbench_single", "geekbench_multi"];
pub const CATEGORIES: &[&str] = &["compute", "memory", "storage", "general", "gpu"];

/// The query's filters, each checked; every bad one is named in one 422.
pub fn filter(query: &str) -> Result<MarketFilter> {
    let mut f = MarketFilter::default();
    let mut errors = Vec::new();
    let mut bad = |name: &str, msg: &str| errors.push(FieldError::new(name, msg));
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let (k, v) = (k.as_ref(), v.trim());
        // `key[]=` is how some clients repeat a key.
        let k = k.strip_suffix("[]").unwrap_or(k);
        let items = || v.split(',').map(str::trim).filter(|x| !x.is_empty());
        let int = |max: i64| v.parse::<i64>().ok().filter(|n| (0..=max).contains(n));
        let num = || v.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0 && *n <= 1e9);
        let flag = || match v {
            "true" | "1" => Some(true),
            "false" | "0" | "" => Some(false),
            _ => None,
        };
        let one_of = |set: &[&str]| set.iter().find(|x| x.eq_ignore_ascii_case(v)).map(|x| (*x).to_owned());
        match k {
            "country" if !v.is_empty() => f.country = Some(v.to_owned()),
            "region" if !v.is_empty() => f.region = Some(v.to_owned()),
            "max_price_per_day" => match num() {
                Some(d) => f.max_price_per_day_cents = Some((d * 100.0).round() as i64),
                None => bad(k, "must be a number of dollars, 0 or more"),
            },
            "available_durations" => {
                for d in items() {
                    match d.parse::<i32>().ok().filter(|d| (1..=3650).contains(d)) {
                        Some(d) => f.durations.get_or_insert_with(Vec::new).push(d),
                        None => bad(k, "must be whole days between 1 and 3650"),
                    }
                }
            }
            "min_cpu_cores" | "min_cpu_score" | "min_bandwidth_mbps" | "min_traffic_tb" => {
                match int(i64::from(i32::MAX)).map(|n| n as i32) {
                    Some(n) => match k {
                        "min_cpu_cores" => f.min_cpu_cores = Some(n),
                        "min_cpu_score" => f.min_cpu_score = Some(n),
                        "min_bandwidth_mbps" => f.min_bandwidth_mbps = Some(n),
                        _ => f.min_traffic_tb = Some(n),
                    },
                    None => bad(k, "must be a whole number, 0 or more"),
                }
            }
            "min_total_storage_gb" => match int(1 << 40) {
                Some(n) => f.min_total_storage_gb = Some(n),
                None => bad(k, "must be a whole number of GB, 0 or more"),
            },
            "min_ram_gb" => match num() {
                Some(g) => f.min_ram_mb = Some((g * 1024.0).ceil() as i64),
                None => bad(k, "must be a number of GB, 0 or more"),
            },
            "cpu_score_type" => match one_of(SCORE_TYPES) {
                Some(t) => f.cpu_score_type = Some(t),
                None => bad(k, "must be passmark, geekbench_single or geekbench_multi"),
            },
            "category" => match one_of(CATEGORIES) {
                Some(c) => f.category = Some(c),
                None => bad(k, "must be compute, memory, storage, general or gpu"),
            },
            "ram_types" | "disk_types" => {
                let set = if k == "ram_types" { RAM_TYPES } else { DISK_TYPES };
                for t in items() {
                    match set.iter().find(|x| x.eq_ignore_ascii_case(t)) {
                        Some(t) => {
                            let list = if k == "ram_types" { &mut f.ram_types } else { &mut f.disk_types };
                            list.get_or_insert_with(Vec::new).push((*t).to_owned());
                        }
                        None => bad(k, &format!("must be among {}", set.join(", "))),
                    }
                }
            }
            "unlimited_traffic_only" | "featured_only" => match flag() {
                Some(b) if k == "featured_only" => f.featured_only = b,
                Some(b) => f.unlimited_traffic_only = b,
                None => bad(k, "must be true or false"),
            },
            _ => {}
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    Ok(f)
}

/// Browse rental marketplace
///
/// The servers you can rent now (listed, enabled, not rented), featured first, then by rank and
/// price; every filter narrows. Prices are per duration (`pricing.prices`, dollars); a server
/// with a setup fee charges it once, on the first payment.
#[utoipa::path(get, path = "/servers/available", tag = "serverRental", security(("bearer" = [])),
    params(MarketQuery),
    responses((status = 200, body = Envelope<Vec<MarketServerOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn browse_servers(
    State(st): State<AppState>,
    _me: Require<perm::ViewMarketplace>,
    uri: Uri,
) -> Result<ApiOk<Vec<MarketServerOut>>> {
    let f = filter(uri.query().unwrap_or(""))?;
    let rows = rentals::market(&st.db, &f).await?;
    Ok(ApiOk::new("Available servers", rows.into_iter().map(MarketServerOut::from).collect()))
}
