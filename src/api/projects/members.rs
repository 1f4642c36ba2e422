//! Project permission rows: who else may reach a project and its containers, and how far
//! (`read` < `edit` < `delete`). Only the owner manages them. A revoked or lowered grant holds
//! from the grantee's next request (every request reads the row).

use axum::extract::{Path, Query, State};
use serde_json::json;

use super::{
    dto::{GrantIn, GrantUpdateIn, PermissionListOut, PermissionListQuery, PermissionOut, PermissionSort},
    queries,
};
use crate::{
    api::paging::Page,
    auth::resource::{policy, ProjectAccess},
    db::{new_id, projects::ProjectRow},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    extract::Json,
    lifecycle,
    state::AppState,
};

fn permission_not_found() -> ApiError {
    ApiError::not_found("permission_not_found", "Permission not found")
}

async fn note(st: &AppState, p: &ProjectRow, kind: &str, grant: &PermissionOut) -> sqlx::Result<()> {
    let data = json!({"permission_id": grant.id, "user_id": grant.user_id, "permission_level": grant.permission_level});
    lifecycle::event(&st.db, &p.user_id, kind, "project", &p.project_id, Some(&p.project_id), None, &p.realm_ids, data)
        .await
}

/// List project permissions
#[utoipa::path(get, path = "/projects/{id}/permissions", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), PermissionListQuery),
    responses((status = 200, body = Envelope<PermissionListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn list_permissions(
    State(st): State<AppState>,
    access: ProjectAccess<policy::ListMembers>,
    Query(q): Query<PermissionListQuery>,
) -> Result<ApiOk<PermissionListOut>> {
    let page = Page::new(q.page, q.limit)?;
    let column = match q.sort_by.unwrap_or(PermissionSort::CreatedAt) {
        PermissionSort::Id => "pp.permission_id",
        PermissionSort::UserId => "pp.user_id",
        PermissionSort::PermissionLevel => "pp.level",
        PermissionSort::CreatedAt => "pp.created_at",
        PermissionSort::UpdatedAt => "pp.updated_at",
    };
    let order = format!("{column} {}", q.sort_order.unwrap_or_default().sql());
    let id = &access.project.project_id;
    let total = queries::count_permissions(&st.db, id).await?;
    let permissions = queries::permissions(&st.db, id, &order, page.limit, page.offset()).await?;
    Ok(ApiOk::new("Project permissions", PermissionListOut { permissions, pagination: page.of(total) }))
}

/// Grant project access
///
/// One row per user and project (409 when the user already has one: update it instead). The
/// owner cannot grant themselves; an unknown user is 404.
#[utoipa::path(post, path = "/projects/{id}/permissions", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID")), request_body = GrantIn,
    responses((status = 201, body = Envelope<PermissionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.invite"))))]
pub async fn add_permission(
    State(st): State<AppState>,
    access: ProjectAccess<policy::InviteMember>,
    Json(input): Json<GrantIn>,
) -> Result<ApiOk<PermissionOut>> {
    let p = &access.project;
    if !crate::db::is_id(&input.user_id) {
        return Err(ApiError::invalid("user_id", "must be a user id (24 hex)"));
    }
    if input.user_id == p.user_id {
        return Err(ApiError::invalid("user_id", "the owner already has every access"));
    }
    let exists: bool = sqlx::query_scalar("select exists (select 1 from app_user where user_id = $1)")
        .bind(&input.user_id)
        .fetch_one(&st.db)
        .await?;
    if !exists {
        return Err(ApiError::not_found("user_not_found", "User not found"));
    }
    let id = new_id();
    sqlx::query("insert into project_permission (permission_id, project_id, user_id, level) values ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&p.project_id)
        .bind(&input.user_id)
        .bind(input.permission_level.as_str())
        .execute(&st.db)
        .await
        .on_constraint("project_permission_user_key", || {
            ApiError::conflict("permission_exists", "This user already has access to the project")
        })?;
    let out = queries::permission(&st.db, &p.project_id, &id).await?.ok_or_else(permission_not_found)?;
    note(&st, p, "project.permission_granted", &out).await?;
    Ok(ApiOk::created("Project access granted", out))
}

/// Update project permission
#[utoipa::path(put, path = "/projects/{id}/permissions/{permissionId}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ("permissionId" = String, Path, description = "Permission ID")),
    request_body = GrantUpdateIn,
    responses((status = 200, body = Envelope<PermissionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.change_roles"))))]
pub async fn update_permission(
    State(st): State<AppState>,
    access: ProjectAccess<policy::ChangeMember>,
    Path(path): Path<(String, String)>,
    Json(input): Json<GrantUpdateIn>,
) -> Result<ApiOk<PermissionOut>> {
    let permission_id = path.1;
    let p = &access.project;
    let done = sqlx::query("update project_permission set level = $3 where project_id = $1 and permission_id = $2")
        .bind(&p.project_id)
        .bind(&permission_id)
        .bind(input.permission_level.as_str())
        .execute(&st.db)
        .await?;
    if done.rows_affected() == 0 {
        return Err(permission_not_found());
    }
    let out = queries::permission(&st.db, &p.project_id, &permission_id).await?.ok_or_else(permission_not_found)?;
    note(&st, p, "project.permission_updated", &out).await?;
    Ok(ApiOk::new("Project permission updated", out))
}

/// Revoke project access
#[utoipa::path(delete, path = "/projects/{id}/permissions/{permissionId}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ("permissionId" = String, Path, description = "Permission ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.remove"))))]
pub async fn remove_permission(
    State(st): State<AppState>,
    access: ProjectAccess<policy::RemoveMember>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<()>> {
    let permission_id = path.1;
    let p = &access.project;
    let out = queries::permission(&st.db, &p.project_id, &permission_id).await?.ok_or_else(permission_not_found)?;
    sqlx::query("delete from project_permission where project_id = $1 and permission_id = $2")
        .bind(&p.project_id)
        .bind(&permission_id)
        .execute(&st.db)
        .await?;
    note(&st, p, "project.permission_revoked", &out).await?;
    Ok(ApiOk::new("Project access revoked", ()))
}
