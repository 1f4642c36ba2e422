//! The `projects` tag: projects, who else may reach them, and their containers' figures.

pub(crate) mod dto;
mod manage;
mod members;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{
        access::{Access, Resource},
        principal::Principal,
    },
    db::projects::{self, Level, ProjectRow},
    error::{ApiError, Result},
    events::{Event, EventKind, ResourceType},
    state::AppState,
};

/// An event about project `p`, seen by its owner (and those it is shared with).
pub fn event(p: &ProjectRow, kind: EventKind, data: serde_json::Value) -> Event {
    Event::new(kind, ResourceType::Project, &p.project_id, &p.user_id, data)
        .in_project(&p.project_id)
        .in_realms(&p.realm_ids)
}

/// A project as the caller may reach it under policy `P` (`auth::access::can`).
pub type ProjectAccess<P> = Access<ProjectRow, P>;

pub fn project_not_found() -> ApiError {
    ApiError::not_found("project_not_found", "Project not found")
}

impl Resource for ProjectRow {
    type Id = crate::ids::ProjectId;
    const WHAT: &'static str = "project";

    async fn load(st: &AppState, me: &Principal, id: &Self::Id) -> Result<Option<Self>> {
        Ok(projects::visible(&st.db, id, &me.user.user_id).await?)
    }

    fn not_found() -> ApiError {
        project_not_found()
    }

    fn level(&self) -> Level {
        ProjectRow::level(self)
    }

    fn realm_ids(&self) -> &[String] {
        &self.realm_ids
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manage::create_project, manage::list_projects))
        .routes(routes!(manage::get_project, manage::update_project, manage::delete_project))
        .routes(routes!(crate::api::containers::stats::get_project_stats))
        .routes(routes!(members::list_permissions, members::add_permission))
        .routes(routes!(members::update_permission, members::remove_permission))
}
