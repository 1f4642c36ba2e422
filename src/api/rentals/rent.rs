//! Renting a server and extending a rental: the debit, the rental and its end in one
//! transaction, through the ledger (`crate::ledger`), once per idempotency key.

use axum::{extract::State, http::HeaderMap};
use chrono::{DateTime, Utc};
use serde_json::json;

use super::{
    dto::{prices, ExtendIn, ExtendOut, ExtendedOut, RentIn, RentOut, RentTxnOut, RentedOut},
    remaining_days, rental_id, rental_not_found, server_id,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{self, rentals},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    events::{Event, EventKind, ResourceType},
    extract::{Json, Path},
    ledger::{self, Account, Key, Movement, Paid},
    money,
    state::AppState,
};

pub(super) fn days_of(field: &str, n: i64) -> Result<i32> {
    match i32::try_from(n).ok().filter(|d| (1..=3650).contains(d)) {
        Some(d) => Ok(d),
        None => Err(ApiError::invalid(field, "must be whole days between 1 and 3650")),
    }
}

pub(super) fn max_charge(n: Option<i64>) -> Result<Option<i64>> {
    match n {
        Some(c) if c < 0 => Err(ApiError::invalid("max_charge_cents", "must be 0 or more")),
        other => Ok(other),
    }
}

/// The caller's cap against the total: below it, nothing is charged.
pub(super) fn within(cap: Option<i64>, total: i64) -> Result<()> {
    match cap {
        Some(c) if c < total => Err(ApiError::validation(vec![FieldError::new(
            "max_charge_cents",
            format!("is {c}, below the total of {total} cents; nothing was charged"),
        )])),
        _ => Ok(()),
    }
}

/// The price of `days` at `per_day` plus `fee`: (price, total), refused (409) when it cannot be
/// charged (no price, or beyond what cents can count).
pub(super) fn cost(per_day: i64, days: i32, fee: i64) -> Result<(i64, i64)> {
    let price = per_day.checked_mul(i64::from(days));
    match price.and_then(|p| p.checked_add(fee).map(|t| (p, t))) {
        Some((p, t)) if p > 0 && t > 0 => Ok((p, t)),
        _ => Err(ApiError::conflict("price_unavailable", "This has no price that can be charged; ask the operator")),
    }
}

fn not_available() -> ApiError {
    ApiError::conflict("server_not_available", "This server is rented by someone else")
}

fn server_missing() -> ApiError {
    ApiError::not_found("server_not_found", "No such server in the marketplace")
}

/// Rent server
///
/// Rents a server from the marketplace for `rental_days` (one of its `available_durations`),
/// paid at once from your general balance: the price of the days plus, on a first rental, the
/// server's setup fee; with a setup fee, `max_charge_cents` must confirm the total. Needs a
/// saved default payment method (412 `payment_method_required`) and a balance that covers it
/// (402 `insufficient_funds`); a server rented by someone else is 409. Once rented, your
/// containers may go on it (`server_id` in a container create) until the rental ends; with
/// `pool_id` (a pool you own or administer: else 404, or 403 for a member with role `user`),
/// so may the pool's accepted members' while they are members. With an `Idempotency-Key`, a
/// repeat gets the first answer and pays nothing.
#[utoipa::path(post, path = "/servers/{id}/rent", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Server ID"), crate::idempotency::LedgerKeyHeader), request_body = RentIn,
    responses((status = 200, body = Envelope<RentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.rent_servers"))))]
pub async fn rent_server(
    State(st): State<AppState>,
    me: Require<perm::RentServers>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<RentIn>,
) -> Result<ApiOk<RentOut>> {
    let id = server_id(&id, server_missing)?;
    let days = days_of("rental_days", input.rental_days)?;
    let cap = max_charge(input.max_charge_cents)?;
    let pool = match input.pool_id.as_deref() {
        Some(raw) => Some(crate::api::pools::for_rental(&st, &me, raw).await?),
        None => None,
    };
    let pool = pool.as_deref();
    let user = &me.user.user_id;
    let what = format!("rent\n{id}\n{days}\n{}\n{}", cap.unwrap_or(-1), pool.unwrap_or(""));
    let key = ledger::key_of(&headers, None)?.map(|k| Key::client(k, &what));
    let key = &key;
    let (out, replayed) = ledger::once(&st.db, user, key.as_ref(), |mut owned| async move {
        let tx = &mut owned;
        if let Some(pool) = pool {
            // The role read before, again under the caller's member row: a demotion or removal
            // meanwhile is seen, and none lands before this rental does.
            crate::api::pools::confirm(tx, pool, user, "admin").await?;
        }
        if !db::payment_methods::has_default(&mut **tx, user).await? {
            return Err(ApiError::precondition(
                "payment_method_required",
                "Add a payment method (POST /wallet/payment-methods/) before renting",
            ));
        }
        let (spec, rentable) = rentals::spec_for_rent(tx, id).await?.ok_or_else(server_missing)?;
        if !rentable {
            // A server rented now is still in the marketplace's terms: say it is taken.
            return Err(server_missing());
        }
        if !spec.rental_days.contains(&days) {
            return Err(ApiError::invalid(
                "rental_days",
                format!("must be one of this server's durations: {:?}", spec.rental_days),
            ));
        }
        let per_day = spec.price_per_day_cents.unwrap_or(0);
        let fee = spec.setup_fee_cents;
        let (price, total) = cost(per_day, days, fee)?;
        if fee > 0 && cap.is_none() {
            return Err(ApiError::invalid(
                "max_charge_cents",
                format!("is required: this server has a setup fee; the total is {total} cents"),
            ));
        }
        within(cap, total)?;
        if rentals::active_on(&mut **tx, id).await? {
            return Err(not_available());
        }
        let m = Movement {
            user_id: user.clone(),
            kind: "rent",
            amount_cents: total,
            reason: format!("Rental of {} for {days} days", spec.name),
            key: key.clone(),
            postings: vec![(Account::General, -total), (Account::Platform(db::ledger::REVENUE), total)],
            meta: json!({"server_id": id, "days": days, "price_cents": price, "setup_fee_cents": fee}),
        };
        let txn_id = ledger::record(tx, &m).await?.new_id()?;
        let (prices, _) = prices(per_day, &spec.rental_days);
        let frozen = json!({"price_per_day_cents": per_day, "rental_days": spec.rental_days, "prices": prices});
        let rental_id = db::new_id();
        let n = rentals::NewRental {
            rental_id: &rental_id,
            user_id: user,
            server_id: id,
            days,
            hold_days: spec.hold_days,
            amount_cents: price,
            setup_fee_cents: fee,
            frozen: &frozen,
            txn_id: &txn_id,
            reservation_id: None,
            pool_id: pool,
        };
        if !rentals::insert(tx, &n).await? {
            return Err(not_available());
        }
        let r = rentals::of_user(&mut **tx, user, Some(&rental_id)).await?.pop().ok_or(sqlx::Error::RowNotFound)?;
        let out = RentOut {
            rental: RentedOut {
                id: r.rental_id.clone(),
                server_id: r.server_id.clone(),
                rental_start: db::ts(r.rental_start),
                rental_end: db::ts(r.rental_end),
                hold_days: r.hold_days,
                actual_usage_days: 0,
                status: r.status.clone(),
                setup_fee_cents: r.setup_fee_cents,
                total_paid_cents: r.total_paid_cents,
                renewal_pricing_frozen: Some(r.renewal_pricing_frozen.clone()),
            },
            transaction: RentTxnOut {
                id: txn_id.clone(),
                amount: money::dollars_number(total),
                currency: "USD".into(),
            },
        };
        let data = json!({"rental_id": rental_id, "days": days, "rental_end": out.rental.rental_end, "pool_id": pool});
        let events = vec![Event::new(EventKind::ServerRented, ResourceType::Server, id, user, data)];
        Ok((owned, Paid { txn_id, meta: m.meta, out, events }))
    })
    .await?;
    Ok(ApiOk::new(if replayed { "Server already rented (replayed)" } else { "Server rented" }, out))
}

fn parse_end(s: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s.trim())
        .map(|d| d.with_timezone(&Utc))
        .map_err(|_| ApiError::invalid("expected_rental_end", "must be an RFC 3339 time, as rental_end was given"))
}

/// Extend rental
///
/// Adds `additional_days` (one of the durations frozen when the server was rented, at the
/// prices frozen then; no setup fee) to an active rental of yours, paid at once from your
/// general balance (402 `insufficient_funds`). `expected_rental_end` is the `rental_end` you
/// last read: if the rental moved since (another extension), 409 `rental_changed` and nothing is
/// paid, so two clients extending at once cannot both pay for one intent. With an
/// `Idempotency-Key`, a repeat gets the first answer and pays nothing.
#[utoipa::path(post, path = "/rentals/{id}/extend", tag = "rentals", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rental ID"), crate::idempotency::LedgerKeyHeader), request_body = ExtendIn,
    responses((status = 200, body = Envelope<ExtendOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.extend_rentals"))))]
pub async fn extend_rental(
    State(st): State<AppState>,
    me: Require<perm::ExtendRentals>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<ExtendIn>,
) -> Result<ApiOk<ExtendOut>> {
    let id = rental_id(&id)?;
    let expected = parse_end(&input.expected_rental_end)?;
    let days = days_of("additional_days", input.additional_days)?;
    let cap = max_charge(input.max_charge_cents)?;
    let user = &me.user.user_id;
    let what = format!("extend\n{id}\n{days}\n{}\n{}", expected.timestamp_millis(), cap.unwrap_or(-1));
    let key = ledger::key_of(&headers, None)?.map(|k| Key::client(k, &what));
    let key = &key;
    let (out, replayed) = ledger::once(&st.db, user, key.as_ref(), |mut owned| async move {
        let tx = &mut owned;
        let r = rentals::lock(tx, user, id).await?.ok_or_else(rental_not_found)?;
        if r.status != "active" || r.rental_end <= Utc::now() {
            return Err(ApiError::conflict("rental_not_active", format!("This rental is {}: rent again", r.status)));
        }
        if r.rental_end.timestamp_millis() != expected.timestamp_millis() {
            return Err(ApiError::conflict(
                "rental_changed",
                format!("The rental now ends at {}; read it again; nothing was charged", db::ts(r.rental_end)),
            ));
        }
        let frozen = &r.renewal_pricing_frozen;
        let allowed: Vec<i32> = serde_json::from_value(frozen["rental_days"].clone()).unwrap_or_default();
        if !allowed.contains(&days) {
            return Err(ApiError::invalid(
                "additional_days",
                format!("must be one of this rental's durations: {allowed:?}"),
            ));
        }
        let per_day = frozen["price_per_day_cents"].as_i64().unwrap_or(0);
        let (cost, _) = cost(per_day, days, 0)?;
        within(cap, cost)?;
        let m = Movement {
            user_id: user.clone(),
            kind: "rent_extend",
            amount_cents: cost,
            reason: format!("Rental extended by {days} days"),
            key: key.clone(),
            postings: vec![(Account::General, -cost), (Account::Platform(db::ledger::REVENUE), cost)],
            meta: json!({"rental_id": id, "server_id": r.server_id, "days": days, "price_cents": cost}),
        };
        let txn_id = ledger::record(tx, &m).await?.new_id()?;
        let end = rentals::extend(tx, id, days, cost).await?;
        let out = ExtendOut {
            rental: ExtendedOut {
                id: id.to_owned(),
                rental_end: db::ts(end),
                status: r.status.clone(),
                amount: money::dollars(r.amount_cents + cost),
                setup_fee_cents: r.setup_fee_cents,
                total_paid_cents: r.total_paid_cents + cost,
                renewal_pricing_frozen: Some(r.renewal_pricing_frozen.clone()),
                remaining_days: remaining_days(&r.status, end),
            },
            transaction: RentTxnOut { id: txn_id.clone(), amount: money::dollars_number(cost), currency: "USD".into() },
        };
        let data = json!({"rental_id": id, "additional_days": days, "rental_end": out.rental.rental_end});
        let events = vec![Event::new(EventKind::ServerRentalExtended, ResourceType::Server, &r.server_id, user, data)];
        Ok((owned, Paid { txn_id, meta: m.meta, out, events }))
    })
    .await?;
    Ok(ApiOk::new(if replayed { "Rental already extended (replayed)" } else { "Rental extended" }, out))
}
