//! The `users` tag: a user's profile, and retrying the free-tier setup.

mod dto;
mod profile;
mod setup;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(profile::get_user, profile::update_user)).routes(routes!(setup::retry_setup))
}
