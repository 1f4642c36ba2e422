//! The `users` tag: a user's profile. (`POST /users/me/retry-setup` comes with the containers
//! issue, which provisions the free tier.)

mod dto;
mod profile;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(profile::get_user, profile::update_user))
}
