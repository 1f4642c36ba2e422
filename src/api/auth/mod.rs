//! The `authentication` tag.

mod claim;
mod code;
mod config;
pub(crate) mod device;
mod device_poll;
pub(crate) mod dto;
pub(crate) mod intent;
mod launch;
mod login;
pub(crate) mod mail_requests;
mod me;
mod oauth;
mod password;
mod regions;
pub(crate) mod session;
pub(crate) mod signup;
pub(crate) mod verify;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(signup::signup))
        .routes(routes!(verify::verify_email))
        .routes(routes!(verify::resend_verification))
        .routes(routes!(password::forgot_password))
        .routes(routes!(password::reset_password))
        .routes(routes!(regions::get_available_regions))
        .routes(routes!(login::login))
        .routes(routes!(session::logout))
        .routes(routes!(session::refresh_token))
        .routes(routes!(session::get_current_user))
        .routes(routes!(intent::exchange_auth_intent))
        .routes(routes!(intent::cancel_auth_intent))
        .routes(routes!(oauth::github_authorize))
        .routes(routes!(oauth::github_callback))
        .routes(routes!(oauth::google_authorize))
        .routes(routes!(oauth::google_callback))
        .routes(routes!(launch::initiate_launch))
        .routes(routes!(launch::start_launch))
        .routes(routes!(me::get_current_user_alias))
        .routes(routes!(claim::issue_identity_claim))
        .routes(routes!(config::get_auth_config))
        .routes(routes!(code::create_authorization_code))
        .routes(routes!(code::exchange_authorization_code))
        .routes(routes!(device_poll::start_device_authorization))
        .routes(routes!(device_poll::poll_device_token))
        .routes(routes!(device::verify_device_code))
        .routes(routes!(device::authorize_device))
        .routes(routes!(device::login_device))
        .routes(routes!(device::deny_device))
}
