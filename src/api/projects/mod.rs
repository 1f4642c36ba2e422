//! The `projects` tag: projects, who else may reach them, and their containers' figures.

pub(crate) mod dto;
mod manage;
mod members;
mod queries;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manage::create_project, manage::list_projects))
        .routes(routes!(manage::get_project, manage::update_project, manage::delete_project))
        .routes(routes!(crate::api::containers::stats::get_project_stats))
        .routes(routes!(members::list_permissions, members::add_permission))
        .routes(routes!(members::update_permission, members::remove_permission))
}
