//! Creating, reading, changing and deleting projects.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{
        DeleteQuery, DeletedContainer, DeletedCounts, DeletedItems, GetQuery, PermissionOut, ProjectDeletedOut,
        ProjectIn, ProjectListOut, ProjectOut, ProjectSort,
    },
    event, ProjectAccess,
};
use crate::{
    api::{
        fields,
        list::{self, ListParams},
    },
    auth::{
        access::{can, Require},
        permissions::perm,
    },
    db::{
        containers, new_id, permissions,
        projects::{self, Level, ProjectFields},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish, EventKind},
    extract::{Json, Query},
    lifecycle::{self, ops, Trigger},
    quota,
    state::AppState,
};

fn alias_taken() -> ApiError {
    ApiError::conflict("project_alias_taken", "You already have a project with this alias")
}

fn max_containers(v: Option<i32>) -> Result<Option<i32>> {
    match v {
        Some(n) if !(0..=10_000).contains(&n) => Err(ApiError::invalid("max_containers", "must be 0–10000 or null")),
        v => Ok(v),
    }
}

/// Create a new project
///
/// `alias` is unique among your projects (409 otherwise); `color` is normalised to `#RRGGBB`
/// (random when omitted); `max_containers` caps the containers it holds (null: unlimited).
#[utoipa::path(post, path = "/projects/", tag = "projects", security(("bearer" = [])), request_body = ProjectIn,
    params(crate::idempotency::KeyHeader),
    responses((status = 201, body = Envelope<ProjectOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.create"))))]
pub async fn create_project(
    State(st): State<AppState>,
    me: Require<perm::ProjectsCreate>,
    Json(input): Json<ProjectIn>,
) -> Result<ApiOk<ProjectOut>> {
    let alias = fields::alias("alias", &input.alias)?;
    let color = match &input.color {
        Some(c) => fields::color("color", c)?,
        None => containers::random_color(),
    };
    let max = max_containers(input.max_containers.flatten())?;
    let realms = fields::realms_on_create(&me, input.realm_ids.as_deref())?;
    let id = new_id();
    let mut tx = st.db.begin().await?;
    quota::check_account(&mut tx, &st.cfg, &me.user.user_id, quota::Kind::Projects).await?;
    let fields = ProjectFields { alias: &alias, color: &color, max_containers: max, realm_ids: &realms };
    let row = projects::insert(&mut *tx, &id, &me.user.user_id, &fields)
        .await
        .on_constraint("project_alias_key", alias_taken)?;
    publish(&mut tx, event(&row, EventKind::ProjectCreated, json!({"alias": row.alias}))).await?;
    tx.commit().await?;
    Ok(ApiOk::created("Project created", ProjectOut::from(&row)))
}

/// List all projects
///
/// Your projects and those shared with you, newest first unless `sort_by`/`sort_order` say
/// otherwise. A realm-scoped request (or `realm_id`) lists only that realm's projects.
#[utoipa::path(get, path = "/projects/", tag = "projects", security(("bearer" = [])), params(ListParams<ProjectSort>),
    responses((status = 200, body = Envelope<ProjectListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn list_projects(
    State(st): State<AppState>,
    me: Require<perm::ProjectsRead>,
    p: ListParams<ProjectSort>,
) -> Result<ApiOk<ProjectListOut>> {
    let order = p.order_by();
    let page = list::fetch(&p, |limit, offset| {
        projects::page(&st.db, &me.user.user_id, me.realm.as_deref(), &order, limit, offset)
    })
    .await?;
    let pagination = page.pagination();
    let projects = page.items.iter().map(ProjectOut::from).collect();
    Ok(ApiOk::new("Projects", ProjectListOut { projects, pagination }))
}

/// Get project by ID
///
/// `include_permissions=true` adds the permission rows (owner only; others see none).
#[utoipa::path(get, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), GetQuery),
    responses((status = 200, body = Envelope<ProjectOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn get_project(
    State(st): State<AppState>,
    access: ProjectAccess<can::ReadProject>,
    Query(q): Query<GetQuery>,
) -> Result<ApiOk<ProjectOut>> {
    let mut out = ProjectOut::from(&access.row);
    if q.include_permissions == Some(true) && access.row.level() == Level::Owner {
        let rows = permissions::page(&st.db, &access.row.project_id, "pp.created_at", 1000, 0).await?;
        out.permissions = Some(rows.into_iter().map(|r| PermissionOut::from(r.row)).collect());
    }
    Ok(ApiOk::new("Project", out))
}

/// Update project
///
/// `alias` is required; `color`, `max_containers` and `realm_ids` change when given. Only a
/// caller without realm restrictions may change `realm_ids`.
#[utoipa::path(put, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID")), request_body = ProjectIn,
    responses((status = 200, body = Envelope<ProjectOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.update"))))]
pub async fn update_project(
    State(st): State<AppState>,
    access: ProjectAccess<can::UpdateProject>,
    Json(input): Json<ProjectIn>,
) -> Result<ApiOk<ProjectOut>> {
    let p = &access.row;
    let alias = fields::alias("alias", &input.alias)?;
    let color = match &input.color {
        Some(c) => fields::color("color", c)?,
        None => p.color.clone(),
    };
    let max = match input.max_containers {
        Some(v) => max_containers(v)?,
        None => p.max_containers,
    };
    let realms = fields::realms_on_update(&access.me, &p.realm_ids, input.realm_ids.as_deref())?;
    // The quota and the realms are the owner's to set.
    if p.level() < Level::Owner && (max != p.max_containers || realms != p.realm_ids) {
        return Err(ApiError::forbidden(
            "project_access_denied",
            "Only the owner changes max_containers and realm_ids",
        ));
    }
    let mut tx = st.db.begin().await?;
    let fields = ProjectFields { alias: &alias, color: &color, max_containers: max, realm_ids: &realms };
    let row = projects::update(&mut *tx, p, &fields).await.on_constraint("project_alias_key", alias_taken)?;
    publish(&mut tx, event(&row, EventKind::ProjectUpdated, json!({"alias": row.alias}))).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Project updated", ProjectOut::from(&row)))
}

/// Delete project
///
/// The owner's only. Deletes its containers on their hosts first, then the project and its
/// permission rows. While a container is being created or copied: 409 `project_busy`. If a host
/// cannot be reached the project stays (with the containers not yet deleted) and the call answers
/// 503/504: run it again.
#[utoipa::path(delete, path = "/projects/{id}", tag = "projects", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), DeleteQuery),
    responses((status = 200, body = Envelope<ProjectDeletedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.delete"))))]
pub async fn delete_project(
    State(st): State<AppState>,
    access: ProjectAccess<can::DeleteProject>,
    Query(q): Query<DeleteQuery>,
) -> Result<ApiOk<ProjectDeletedOut>> {
    let p = access.row;
    if containers::creating_in_project(&st.db, &p.project_id).await? {
        return Err(ApiError::conflict(
            "project_busy",
            "A container of this project is busy on its host; try again shortly",
        ));
    }
    let by = Trigger::user(&access.me.user.user_id);
    let mut deleted = Vec::new();
    for c in containers::of_project(&st.db, &p.project_id).await? {
        let item = DeletedContainer { id: c.container_id.clone(), name: c.name.clone() };
        lifecycle::run(&st, ops::Delete::new(c, by.clone())).await?;
        deleted.push(item);
    }
    let mut tx = st.db.begin().await?;
    let permissions = permissions::count(&mut *tx, &p.project_id).await?;
    projects::delete(&mut tx, &p.project_id).await.on_constraint("container_project_id_fkey", || {
        ApiError::conflict("project_not_empty", "A container was added meanwhile; delete again")
    })?;
    publish(&mut tx, event(&p, EventKind::ProjectDeleted, json!({"alias": p.alias}))).await?;
    tx.commit().await?;
    let counts = DeletedCounts { containers: deleted.len() as i64, permissions, aliases: 0 };
    let items = (q.include_deleted_items == Some(true)).then_some(DeletedItems { containers: deleted });
    Ok(ApiOk::new("Project deleted", ProjectDeletedOut { deleted: counts, deleted_items: items }))
}
