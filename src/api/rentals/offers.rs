//! Machines to order: the offers, reserving one (paid at once from the general balance, through
//! the ledger, once per idempotency key), and your reservations. An operator delivers a
//! reservation by registering its server: `hoody-api servers add <name> --reservation <id> …`
//! makes the server and the rental in one transaction.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use serde_json::json;

use super::{
    dto::{OfferOut, ReservationOut, ReservationsOut, ReservationsQuery, ReserveIn, ReserveOut},
    rent::{cost, days_of, max_charge, within},
};
use crate::{
    api::fields::path_id,
    auth::{access::Require, permissions::perm},
    db::{self, rentals},
    envelope::{json_response, ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Json, Path, Query},
    ledger::{self, Account, Key, Movement, Paid},
    state::AppState,
};

fn offer_not_found() -> ApiError {
    ApiError::not_found("offer_not_found", "No such offer")
}

fn reservation_not_found() -> ApiError {
    ApiError::not_found("reservation_not_found", "Reservation not found")
}

/// List server offers
///
/// Machines to order: out of stock now, delivered within `delivery_hours` (1–720) after a
/// reservation; in-stock servers are `GET /servers/available` (delivery 0).
#[utoipa::path(get, path = "/offers", tag = "serverRental", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<OfferOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn list_server_offers(
    State(st): State<AppState>,
    _me: Require<perm::ViewMarketplace>,
) -> Result<ApiOk<Vec<OfferOut>>> {
    let rows = rentals::offers(&st.db, false).await?;
    Ok(ApiOk::new("Server offers", rows.into_iter().map(OfferOut::from).collect()))
}

/// Reserve a server offer
///
/// Orders the offer's machine for `days` (one of its durations), charged at once from your
/// general balance: the days' price plus the setup fee (which `max_charge_cents` must confirm
/// when there is one). The same rules as renting: a default payment method (412), the balance
/// (402), `pool_id` a pool you own or administer (the rental made on delivery is for it); an
/// offer with no stock left is 409. The body's
/// `idempotency_key` (or the `Idempotency-Key` header) makes it once-only: a repeat gets the
/// first reservation with `replayed: true`.
#[utoipa::path(post, path = "/offers/{id}/reserve", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Offer ID"), crate::idempotency::LedgerKeyHeader), request_body = ReserveIn,
    responses((status = 200, body = Envelope<ReserveOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.rent_servers"))))]
pub async fn reserve_server_offer(
    State(st): State<AppState>,
    me: Require<perm::RentServers>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(input): Json<ReserveIn>,
) -> Result<ApiOk<ReserveOut>> {
    let id = path_id(&id, offer_not_found)?;
    let days = days_of("days", input.days)?;
    let cap = max_charge(input.max_charge_cents)?;
    let pool = match input.pool_id.as_deref() {
        Some(raw) => Some(crate::api::pools::for_rental(&st, &me, raw).await?),
        None => None,
    };
    let pool = pool.as_deref();
    let user = &me.user.user_id;
    let what = format!("reserve\n{id}\n{days}\n{}\n{}", cap.unwrap_or(-1), pool.unwrap_or(""));
    let key = ledger::key_of(&headers, Some(&input.idempotency_key))?.map(|k| Key::client(k, &what));
    let key = &key;
    let (mut out, replayed) = ledger::once(&st.db, user, key.as_ref(), |mut owned| async move {
        let tx = &mut owned;
        if let Some(pool) = pool {
            // The role read before, again under the caller's member row: a demotion or removal
            // meanwhile is seen, and none lands before this rental does.
            crate::api::pools::confirm(tx, pool, user, "admin").await?;
        }
        if !db::payment_methods::has_default(&mut **tx, user).await? {
            return Err(ApiError::precondition(
                "payment_method_required",
                "Add a payment method (POST /wallet/payment-methods/) before ordering",
            ));
        }
        let offer = rentals::lock_offer(tx, id).await?.ok_or_else(offer_not_found)?;
        if !offer.rental_days.contains(&days) {
            return Err(ApiError::invalid(
                "days",
                format!("must be one of this offer's durations: {:?}", offer.rental_days),
            ));
        }
        let (price, total) = cost(offer.price_per_day_cents, days, offer.setup_fee_cents)?;
        if offer.setup_fee_cents > 0 && cap.is_none() {
            return Err(ApiError::invalid(
                "max_charge_cents",
                format!("is required: this offer has a setup fee; the total is {total} cents"),
            ));
        }
        within(cap, total)?;
        if offer.stock == Some(0) {
            return Err(ApiError::conflict("offer_out_of_stock", "This offer has no machine left"));
        }
        let m = Movement {
            user_id: user.clone(),
            kind: "reservation",
            amount_cents: total,
            reason: format!("Order of {} for {days} days", offer.name),
            key: key.clone(),
            postings: vec![(Account::General, -total), (Account::Platform(db::ledger::REVENUE), total)],
            meta: json!({"offer_id": id, "days": days, "price_cents": price, "setup_fee_cents": offer.setup_fee_cents}),
        };
        let txn_id = ledger::record(tx, &m).await?.new_id()?;
        rentals::take_stock(tx, id).await?;
        let snapshot = serde_json::to_value(&offer).map_err(anyhow::Error::from)?;
        let reservation_id = db::new_id();
        let n = rentals::NewReservation {
            reservation_id: &reservation_id,
            user_id: user,
            offer: &offer,
            days,
            rental_cents: price,
            snapshot: &snapshot,
            txn_id: &txn_id,
            pool_id: pool,
        };
        let row = rentals::insert_reservation(tx, &n).await?;
        let out = ReserveOut { reservation: ReservationOut::from(row), replayed: false };
        Ok((owned, Paid { txn_id, meta: m.meta, out, events: Vec::new() }))
    })
    .await?;
    out.replayed = replayed;
    Ok(ApiOk::new(if replayed { "Server already reserved (replayed)" } else { "Server reserved" }, out))
}

/// List my reservations
///
/// Your orders, newest first, `limit` (1–200, default 50) from `offset`; `total`, `limit` and
/// `offset` sit beside `data`.
#[utoipa::path(get, path = "/reservations", tag = "serverRental", security(("bearer" = [])),
    params(ReservationsQuery),
    responses((status = 200, body = ReservationsOut), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn list_my_reservations(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
    Query(q): Query<ReservationsQuery>,
) -> Result<Response> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        return Err(ApiError::invalid("offset", "must be between 0 and 1000000"));
    }
    let (rows, total) = rentals::reservations(&st.db, &me.user.user_id, None, limit, offset).await?;
    let body = ReservationsOut {
        status_code: 200,
        message: "Your reservations".into(),
        data: rows.into_iter().map(ReservationOut::from).collect(),
        total,
        limit,
        offset,
    };
    Ok(json_response(StatusCode::OK, &body))
}

/// Get my reservation
///
/// One order of yours (another user's is 404).
#[utoipa::path(get, path = "/reservations/{id}", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Reservation ID")),
    responses((status = 200, body = Envelope<ReservationOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn get_my_reservation(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
    Path(id): Path<String>,
) -> Result<ApiOk<ReservationOut>> {
    let id = path_id(&id, reservation_not_found)?;
    let (mut rows, _) = rentals::reservations(&st.db, &me.user.user_id, Some(id), 1, 0).await?;
    let row = rows.pop().ok_or_else(reservation_not_found)?;
    Ok(ApiOk::new("Reservation", ReservationOut::from(row)))
}
