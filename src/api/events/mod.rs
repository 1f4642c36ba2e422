//! The `events` tag: the event history of what the caller may see (their own resources and the
//! projects shared with them), its statistics, and deleting from it. The live stream on the same
//! path is socket.io (`crate::stream`).

pub(crate) mod dto;
pub(crate) mod history;

use axum::{extract::FromRequestParts, http::request::Parts};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{permissions::leaf, principal::Principal},
    error::ApiError,
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(history::list_events, history::bulk_delete_events))
        .routes(routes!(history::get_event_stats))
        .routes(routes!(history::cleanup_events))
        .routes(routes!(history::get_event, history::delete_event))
}

/// A caller who may read events: a session, or an auth token with `event_access` and the
/// `resources.events` leaf (403 otherwise). The same rule admits a socket to the stream.
pub struct EventReader(pub Principal);

impl EventReader {
    pub fn check(me: Principal) -> Result<Self, ApiError> {
        me.require(leaf::RESOURCES_EVENTS)?;
        if me.token().is_some_and(|t| !t.event_access) {
            return Err(ApiError::forbidden(
                "event_access_denied",
                "This auth token has no event access (event_access)",
            ));
        }
        Ok(Self(me))
    }
}

impl FromRequestParts<AppState> for EventReader {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        Self::check(Principal::from_request_parts(parts, st).await?)
    }
}
