//! The `users` tag: a user's profile, retrying the free-tier setup, the invite gate, onboarding
//! milestones and the security history.

pub(crate) mod dto;
mod history;
mod invites;
mod onboarding;
mod profile;
mod setup;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(profile::get_user, profile::update_user))
        .routes(routes!(setup::retry_setup))
        .routes(routes!(history::get_security_history))
        .routes(routes!(onboarding::mark_onboarding_milestone))
        .routes(routes!(invites::redeem_invite_code))
        .routes(routes!(invites::get_free_tier_status))
}
