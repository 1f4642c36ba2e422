//! The `waitlist` tag: join the waitlist, then tell us more.

mod join;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(join::join_waitlist, join::enrich_waitlist))
}
