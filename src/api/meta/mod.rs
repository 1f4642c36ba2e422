//! The `meta` tag: the API's signing key and community counters.

mod keys;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(keys::get_public_key)).routes(routes!(keys::get_social_stats))
}
