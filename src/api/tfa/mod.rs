//! The `tfa` tag: TOTP second factor.

pub(crate) mod checks;
pub(crate) mod dto;
mod manage;
mod setup;
mod verify;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(setup::setup_two_factor))
        .routes(routes!(setup::verify_two_factor_setup))
        .routes(routes!(setup::get_two_factor_status))
        .routes(routes!(manage::disable_two_factor))
        .routes(routes!(manage::regenerate_backup_codes))
        .routes(routes!(manage::set_token_gate))
        .routes(routes!(verify::verify_two_factor))
}
