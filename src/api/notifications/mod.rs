//! The `notifications` tag: the account inbox (operators' notices and security signals) and the
//! public notices.

pub(crate) mod dto;
pub(crate) mod inbox;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(inbox::list_notifications))
        .routes(routes!(inbox::list_public_notifications))
        .routes(routes!(inbox::mark_all_notifications_read))
        .routes(routes!(inbox::mark_notification_read))
}
