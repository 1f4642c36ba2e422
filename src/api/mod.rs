//! Every namespace of the control plane, nested under `/api/v1`.

mod auth;
mod tfa;
mod utilities;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .nest("/api/v1", OpenApiRouter::new().merge(auth::router()).merge(tfa::router()).merge(utilities::router()))
}
