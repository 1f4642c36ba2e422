//! Project permission rows: who else may reach a project and its containers, and how far
//! (`read` < `edit` < `delete`). Only the owner manages them. A revoked or lowered grant holds
//! from the grantee's next request (every request reads the row).

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{GrantIn, GrantUpdateIn, PermissionListOut, PermissionOut, PermissionSort, PermissionUser},
    event, ProjectAccess,
};
use crate::{
    api::list::ListParams,
    auth::access::can,
    db::{
        new_id,
        permissions::{self, PermissionRow},
        projects::ProjectRow,
        ts,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish, EventKind, Tx},
    extract::{Json, Path},
    state::AppState,
};

fn permission_not_found() -> ApiError {
    ApiError::not_found("permission_not_found", "Permission not found")
}

impl From<PermissionRow> for PermissionOut {
    fn from(r: PermissionRow) -> Self {
        Self {
            id: r.permission_id,
            project_id: r.project_id,
            user: PermissionUser { id: r.user_id.clone(), username: r.username, alias: r.alias },
            user_id: r.user_id,
            permission_level: r.level,
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// A project's permission row as the answers show it; 404 when there is none.
async fn grant(tx: &mut Tx, project_id: &str, permission_id: &str) -> Result<PermissionOut> {
    let row = permissions::one(&mut **tx, project_id, permission_id).await?.ok_or_else(permission_not_found)?;
    Ok(PermissionOut::from(row))
}

async fn note(tx: &mut Tx, p: &ProjectRow, kind: EventKind, grant: &PermissionOut) -> Result<()> {
    let data = json!({"permission_id": grant.id, "user_id": grant.user_id, "permission_level": grant.permission_level});
    publish(tx, event(p, kind, data)).await?;
    Ok(())
}

/// List project permissions
#[utoipa::path(get, path = "/projects/{id}/permissions", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ListParams<PermissionSort>),
    responses((status = 200, body = Envelope<PermissionListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn list_permissions(
    State(st): State<AppState>,
    access: ProjectAccess<can::ListMembers>,
    p: ListParams<PermissionSort>,
) -> Result<ApiOk<PermissionListOut>> {
    let id = &access.row.project_id;
    let order = p.order_by();
    let page =
        crate::api::list::fetch(&p, |limit, offset| permissions::page(&st.db, id, &order, limit, offset)).await?;
    let pagination = page.pagination();
    let permissions = page.items.into_iter().map(PermissionOut::from).collect();
    Ok(ApiOk::new("Project permissions", PermissionListOut { permissions, pagination }))
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
    access: ProjectAccess<can::InviteMember>,
    Json(input): Json<GrantIn>,
) -> Result<ApiOk<PermissionOut>> {
    let p = &access.row;
    if input.user_id == p.user_id {
        return Err(ApiError::invalid("user_id", "the owner already has every access"));
    }
    if !permissions::grantee_exists(&st.db, input.user_id.as_str()).await? {
        return Err(ApiError::not_found("user_not_found", "User not found"));
    }
    let id = new_id();
    let mut tx = st.db.begin().await?;
    permissions::insert(&mut *tx, &id, &p.project_id, input.user_id.as_str(), input.permission_level.as_str())
        .await
        .on_constraint("project_permission_user_key", || {
            ApiError::conflict("permission_exists", "This user already has access to the project")
        })?;
    let out = grant(&mut tx, &p.project_id, &id).await?;
    note(&mut tx, p, EventKind::ProjectPermissionGranted, &out).await?;
    tx.commit().await?;
    Ok(ApiOk::created("Project access granted", out))
}

/// Update project permission
#[utoipa::path(method(put, patch), path = "/projects/{id}/permissions/{permissionId}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ("permissionId" = String, Path, description = "Permission ID")),
    request_body = GrantUpdateIn,
    responses((status = 200, body = Envelope<PermissionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.change_roles"))))]
pub async fn update_permission(
    State(st): State<AppState>,
    access: ProjectAccess<can::ChangeMember>,
    Path(path): Path<(String, String)>,
    Json(input): Json<GrantUpdateIn>,
) -> Result<ApiOk<PermissionOut>> {
    let permission_id = path.1;
    let p = &access.row;
    let mut tx = st.db.begin().await?;
    if !permissions::set_level(&mut *tx, &p.project_id, &permission_id, input.permission_level.as_str()).await? {
        return Err(permission_not_found());
    }
    let out = grant(&mut tx, &p.project_id, &permission_id).await?;
    note(&mut tx, p, EventKind::ProjectPermissionUpdated, &out).await?;
    tx.commit().await?;
    // Shares made by this member reach their targets only while they may edit both ends.
    crate::lifecycle::shares::resync_creator_soon(
        &st,
        &out.user_id,
        crate::lifecycle::Trigger::user(&access.me.user.user_id),
    );
    Ok(ApiOk::new("Project permission updated", out))
}

/// Revoke project access
#[utoipa::path(delete, path = "/projects/{id}/permissions/{permissionId}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), ("permissionId" = String, Path, description = "Permission ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.remove"))))]
pub async fn remove_permission(
    State(st): State<AppState>,
    access: ProjectAccess<can::RemoveMember>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<()>> {
    let permission_id = path.1;
    let p = &access.row;
    let mut tx = st.db.begin().await?;
    let out = grant(&mut tx, &p.project_id, &permission_id).await?;
    permissions::delete(&mut *tx, &p.project_id, &permission_id).await?;
    note(&mut tx, p, EventKind::ProjectPermissionRevoked, &out).await?;
    tx.commit().await?;
    crate::lifecycle::shares::resync_creator_soon(
        &st,
        &out.user_id,
        crate::lifecycle::Trigger::user(&access.me.user.user_id),
    );
    Ok(ApiOk::new("Project access revoked", ()))
}
