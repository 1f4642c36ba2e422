//! The `rentals` and `serverRental` tags: the marketplace of servers to rent, renting and
//! extending (money through `crate::ledger`), your rentals, and the sweeper that ends them.
//!
//! Access: browsing and reading rentals needs `financial.server_rental.view_marketplace`;
//! renting `financial.server_rental.rent_servers`; extending
//! `financial.server_rental.extend_rentals`. Another user's rental is a 404.

pub(crate) mod dto;
mod market;
mod offers;
mod read;
mod rent;
mod runtime;
pub mod sweeper;

use chrono::{DateTime, Utc};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::fields::path_id, error::ApiError, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(market::browse_servers))
        .routes(routes!(read::list_servers))
        .routes(routes!(read::get_server))
        .routes(routes!(rent::rent_server))
        .routes(routes!(read::list_rentals))
        .routes(routes!(read::get_rental))
        .routes(routes!(rent::extend_rental))
        .routes(routes!(runtime::get_rental_runtime))
        .routes(routes!(runtime::get_server_runtime))
        .routes(routes!(offers::list_server_offers))
        .routes(routes!(offers::reserve_server_offer))
        .routes(routes!(offers::list_my_reservations))
        .routes(routes!(offers::get_my_reservation))
}

pub(crate) fn rental_not_found() -> ApiError {
    ApiError::not_found("rental_not_found", "Rental not found")
}

fn rental_id(raw: &str) -> Result<&str, ApiError> {
    path_id(raw, rental_not_found)
}

fn server_id(raw: &str, missing: fn() -> ApiError) -> Result<&str, ApiError> {
    path_id(raw, missing)
}

/// Whole days left until `end` (0 once it passed or the rental ended).
pub(crate) fn remaining_days(status: &str, end: DateTime<Utc>) -> i64 {
    if status != "active" {
        return 0;
    }
    let secs = (end - Utc::now()).num_seconds().max(0);
    (secs + 86_399) / 86_400
}

/// Whole days from `start` to now (or to `end`, whichever is first).
pub(crate) fn usage_days(start: DateTime<Utc>, end: DateTime<Utc>) -> i64 {
    (Utc::now().min(end) - start).num_days().max(0)
}
