//! Every namespace of the control plane, nested under `/api/v1`.

mod activity;
pub(crate) mod auth;
pub(crate) mod containers;
mod env;
mod fields;
pub mod list;
mod meta;
pub(crate) mod projects;
mod realms;
pub(crate) mod tfa;
pub(crate) mod tokens;
mod users;
mod utilities;
mod waitlist;

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(activity::router())
        .merge(auth::router())
        .merge(containers::router())
        .merge(env::router())
        .merge(meta::router())
        .merge(projects::router())
        .merge(realms::router())
        .merge(tfa::router())
        .merge(tokens::router())
        .merge(users::router())
        .merge(utilities::router())
        .merge(waitlist::router());
    OpenApiRouter::new().nest("/api/v1", v1)
}
