//! Regions offered at signup, from the servers registry.

use axum::extract::State;

use super::{
    dto::{RegionOut, RegionsOut},
    queries,
};
use crate::{
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    state::AppState,
};

/// Get available server regions
#[utoipa::path(get, path = "/auth/available-regions", tag = "authentication",
    responses((status = 200, body = Envelope<RegionsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_available_regions(State(st): State<AppState>) -> Result<ApiOk<RegionsOut>> {
    let regions = queries::regions(&st.db)
        .await?
        .into_iter()
        .map(|(region, country, city, available)| RegionOut { region, country, city, available })
        .collect();
    Ok(ApiOk::new("Available regions retrieved", RegionsOut { regions }))
}
