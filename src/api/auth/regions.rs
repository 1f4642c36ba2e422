//! Regions offered at signup, from the servers registry.

use axum::extract::State;

use super::dto::{RegionOut, RegionsOut};
use crate::{
    db::regions,
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    state::AppState,
};

/// Get available server regions
#[utoipa::path(get, path = "/auth/available-regions", tag = "authentication",
    responses((status = 200, body = Envelope<RegionsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_available_regions(State(st): State<AppState>) -> Result<ApiOk<RegionsOut>> {
    let regions = regions::all(&st.db)
        .await?
        .into_iter()
        .map(|r| RegionOut { region: r.region, country: r.country, city: r.city, available: r.available })
        .collect();
    Ok(ApiOk::new("Available regions retrieved", RegionsOut { regions }))
}
