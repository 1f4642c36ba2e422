//! `GET /auth/config`: which ways in are switched on, for sign-in and signup pages to show only
//! what works.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::oauth::configured;
use crate::{
    auth::oauth::Provider,
    envelope::{ApiOk, Envelope},
    error::ErrorBody,
    state::AppState,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct ProvidersOut {
    pub github: bool,
    pub google: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthConfigOut {
    /// Username or email and password (`POST /users/auth/login`).
    pub password_login: bool,
    /// `POST /auth/signup` accepts new accounts.
    pub signup_open: bool,
    /// OAuth providers with credentials configured.
    pub providers: ProvidersOut,
    /// `hoody login --web` (`/auth/device/…`).
    pub device_flow: bool,
    /// The OAuth popup hand-off (`/auth/launch/…`).
    pub popup_launch: bool,
    /// The free tier needs a redeemed invite code.
    pub free_tier_invites: bool,
}

/// Get the public sign-in configuration
///
/// Public. Which sign-in methods are on: password login, signup, the OAuth providers that are
/// configured, the device flow, the popup hand-off, and whether the free tier needs an invite.
#[utoipa::path(get, path = "/auth/config", tag = "authentication",
    responses((status = 200, body = Envelope<AuthConfigOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_auth_config(State(st): State<AppState>) -> ApiOk<AuthConfigOut> {
    let providers =
        ProvidersOut { github: configured(&st, Provider::Github), google: configured(&st, Provider::Google) };
    ApiOk::new(
        "Sign-in configuration",
        AuthConfigOut {
            password_login: true,
            signup_open: true,
            popup_launch: st.cfg.oauth_launch_redirect.is_some() && (providers.github || providers.google),
            providers,
            device_flow: st.cfg.device_flow,
            free_tier_invites: st.cfg.free_tier_invites,
        },
    )
}
