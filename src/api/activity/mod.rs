//! The `activity` tag: the account's request log.

pub(crate) mod logs;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logs::list_activity)).routes(routes!(logs::get_activity_stats))
}
