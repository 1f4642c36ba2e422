//! Your rentals: the list and one, under `/rentals` and their `/servers` aliases.

use axum::extract::State;

use super::{
    dto::{RentalOut, RentalTxnOut, RentedServerOut},
    remaining_days, rental_id, rental_not_found, usage_days,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{self, rentals},
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    extract::Path,
    money,
    state::AppState,
};

/// Rentals with their servers, in one read of the servers.
async fn shown(st: &AppState, user: &str, rows: Vec<rentals::RentalRow>) -> Result<Vec<RentalOut>> {
    let ids: Vec<String> = rows.iter().map(|r| r.server_id.clone()).collect();
    let specs: std::collections::HashMap<String, rentals::SpecRow> =
        rentals::specs(&st.db, &ids, Some(user)).await?.into_iter().map(|s| (s.server_id.clone(), s)).collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            // A server rented again shows on each of its rentals.
            let server = specs.get(&r.server_id).cloned().map(RentedServerOut::from);
            let transaction = r.txn_id.clone().zip(r.txn_amount_cents).map(|(id, cents)| RentalTxnOut {
                id,
                amount: money::dollars_number(cents),
                currency: "USD".into(),
                created_at: r.txn_created_at.map(db::ts).unwrap_or_default(),
            });
            let end = r.ended_at.unwrap_or(r.rental_end).min(r.rental_end);
            RentalOut {
                remaining_days: remaining_days(&r.status, r.rental_end),
                usage_days: usage_days(r.rental_start, end),
                id: r.rental_id,
                rental_start: db::ts(r.rental_start),
                rental_end: db::ts(r.rental_end),
                hold_days: r.hold_days,
                status: r.status,
                amount: money::dollars(r.amount_cents),
                setup_fee_cents: r.setup_fee_cents,
                total_paid_cents: r.total_paid_cents,
                renewal_pricing_frozen: Some(r.renewal_pricing_frozen),
                server_id: Some(r.server_id),
                pool_id: r.pool_id,
                is_free_tier: false,
                server,
                transaction,
            }
        })
        .collect())
}

async fn list(st: &AppState, user_id: &str) -> Result<ApiOk<Vec<RentalOut>>> {
    let rows = rentals::of_user(&st.db, user_id, None).await?;
    Ok(ApiOk::new("Your rentals", shown(st, user_id, rows).await?))
}

async fn one(st: &AppState, user_id: &str, id: &str) -> Result<ApiOk<RentalOut>> {
    let id = rental_id(id)?;
    let rows = rentals::of_user(&st.db, user_id, Some(id)).await?;
    let out = shown(st, user_id, rows).await?.pop().ok_or_else(rental_not_found)?;
    Ok(ApiOk::new("Rental", out))
}

/// List user rentals
///
/// Your rentals, newest first, active and ended, each with its server and the payment that
/// started it; `remaining_days` counts whole days left.
#[utoipa::path(get, path = "/rentals", tag = "rentals", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<RentalOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn list_rentals(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
) -> Result<ApiOk<Vec<RentalOut>>> {
    list(&st, &me.user.user_id).await
}

/// Get rental details
///
/// One rental of yours (another user's is 404), with `remaining_days` and `usage_days`.
#[utoipa::path(get, path = "/rentals/{id}", tag = "rentals", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rental ID")),
    responses((status = 200, body = Envelope<RentalOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn get_rental(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
    Path(id): Path<String>,
) -> Result<ApiOk<RentalOut>> {
    one(&st, &me.user.user_id, &id).await
}

/// List user servers (alias for /rentals)
///
/// The same as `GET /rentals`: the servers you rent, by their rentals.
#[utoipa::path(get, path = "/servers", tag = "serverRental", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<RentalOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn list_servers(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
) -> Result<ApiOk<Vec<RentalOut>>> {
    list(&st, &me.user.user_id).await
}

/// Get server details (alias for /rentals/:id)
///
/// The same as `GET /rentals/{id}`: `id` is a rental's id.
#[utoipa::path(get, path = "/servers/{id}", tag = "serverRental", security(("bearer" = [])),
    params(("id" = String, Path, description = "Rental ID")),
    responses((status = 200, body = Envelope<RentalOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.server_rental.view_marketplace"))))]
pub async fn get_server(
    State(st): State<AppState>,
    me: Require<perm::ViewMarketplace>,
    Path(id): Path<String>,
) -> Result<ApiOk<RentalOut>> {
    one(&st, &me.user.user_id, &id).await
}
