//! Changing containers: update, delete, and the lifecycle operations.

use axum::extract::State;

use super::{
    dto::{ContainerOut, ManageOut, UpdateIn},
    rules, ContainerAccess,
};
use crate::{
    api::fields,
    auth::{access::can, permissions::leaf},
    db::{
        containers::{self, UpdateFields},
        projects::Level,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Json, Path},
    host::StateAction,
    lifecycle::{
        self,
        ops::{self, Change, Operation},
        status, Trigger,
    },
    state::AppState,
};

/// Update a container
///
/// Fields left out keep their values (whatever another request changed meanwhile).
/// `environment_vars` replaces the whole environment and, like `autostart`, is applied to the
/// instance at once (or at its next start when the host cannot be reached). Only the owner,
/// with a caller without realm restrictions, may change `realm_ids`.
#[utoipa::path(put, path = "/containers/{id}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = UpdateIn,
    responses((status = 200, body = Envelope<ContainerOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn update_container(
    State(st): State<AppState>,
    access: ContainerAccess<can::UpdateContainer>,
    Json(input): Json<UpdateIn>,
) -> Result<ApiOk<ContainerOut>> {
    let (me, c) = (&access.me, &access.row);
    rules::settled(c)?;
    if input.ai == Some(true) && !c.ai {
        me.require(leaf::CONTAINERS_FEATURES_AI)?;
    }
    let mut errors = Vec::new();
    let mut f = UpdateFields::default();
    if let Some(n) = input.name.as_deref() {
        f.name = rules::name("name", Some(n)).map_err(|e| errors.push(e)).ok();
    }
    if let Some(v) = input.color.as_deref() {
        f.color = fields::color("color", v).map_err(|e| errors.push(e)).ok();
    }
    if let Some(v) = &input.environment_vars {
        f.environment_vars = rules::env("environment_vars", v).map_err(|e| errors.push(e)).ok();
    }
    f.ssh_public_key = match &input.ssh_public_key {
        Some(Some(k)) => rules::ssh_key("ssh_public_key", k).map_err(|e| errors.push(e)).ok().map(Some),
        Some(None) => Some(None),
        None => None,
    };
    f.comment = match &input.comment {
        Some(Some(v)) => rules::comment("comment", v).map_err(|e| errors.push(e)).ok().map(Some),
        Some(None) => Some(None),
        None => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if input.realm_ids.is_some() {
        let realms = fields::realms_on_update(me, &c.realm_ids, input.realm_ids.as_deref())?;
        if realms != c.realm_ids && c.level() < Level::Owner {
            return Err(ApiError::forbidden("project_access_denied", "Only the owner changes realm_ids"));
        }
        f.realm_ids = Some(realms);
    }
    f.ai = input.ai;
    f.autostart = input.autostart;
    f.ramdisk = input.ramdisk;
    f.ramdisk_scope = input.ramdisk_scope.map(|s| s.as_str().to_owned());
    let by = Trigger::user(&me.user.user_id);
    let change = Change::Update(Box::new(f));
    let applied = lifecycle::run(&st, ops::Reconfigure::new(&c.container_id, change, by)).await?;
    Ok(ApiOk::new("Container updated", super::out_of(&st, applied.row).await?))
}

/// Delete a container
///
/// The instance is stopped and removed from its host, then the container is gone. If the
/// host cannot be reached the container keeps its status and the answer is 503/504.
#[utoipa::path(delete, path = "/containers/{id}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.delete"))))]
pub async fn delete_container(
    State(st): State<AppState>,
    access: ContainerAccess<can::DeleteContainer>,
) -> Result<ApiOk<()>> {
    let c = access.row;
    if status::busy(&c.status) && c.status != status::DELETING {
        return Err(rules::busy(&c.status));
    }
    lifecycle::run(&st, ops::Delete::new(c, Trigger::user(&access.me.user.user_id))).await?;
    Ok(ApiOk::new("Container deleted", ()))
}

/// The token leaf an operation needs.
fn leaf_of(op: &Operation) -> crate::auth::permissions::Leaf {
    match op.name {
        "start" | "resume" => leaf::CONTAINERS_ACTIONS_START,
        "restart" => leaf::CONTAINERS_ACTIONS_RESTART,
        _ => leaf::CONTAINERS_ACTIONS_STOP,
    }
}

/// Manage container
///
/// `operation` is one of start, stop, force-stop, restart, pause, resume (400 otherwise). An
/// auth token needs `containers.actions.start` (start, resume), `containers.actions.stop`
/// (stop, force-stop, pause) or `containers.actions.restart`. A container not in a status the
/// operation starts from is 409. The answer carries the status the container is in once the
/// host did it.
#[utoipa::path(post, path = "/containers/{id}/{operation}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"),
        ("operation" = String, Path, description = "start, stop, force-stop, restart, pause or resume")),
    responses((status = 200, body = Envelope<ManageOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission-by-operation" = json!({"start": "containers.actions.start", "resume": "containers.actions.start",
        "stop": "containers.actions.stop", "force-stop": "containers.actions.stop", "pause": "containers.actions.stop",
        "restart": "containers.actions.restart"}))))]
pub async fn manage_container(
    State(st): State<AppState>,
    Path(path): Path<(String, String)>,
    access: ContainerAccess<can::OperateContainer>,
) -> Result<ApiOk<ManageOut>> {
    let op = path.1;
    let operation = Operation::parse(&op).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_operation",
            "operation is one of start, stop, force-stop, restart, pause, resume",
        )
    })?;
    access.me.require(leaf_of(&operation))?;
    let c = access.row;
    if !operation.from.contains(&c.status.as_str()) {
        return Err(ApiError::conflict("invalid_state", format!("Cannot {op} a container that is {}", c.status)));
    }
    // Starting again on a server whose rental ended: refused, as a create there would be.
    if matches!(operation.action, StateAction::Start | StateAction::Unfreeze | StateAction::Restart) {
        if let Some(s) = match c.server_id.as_deref() {
            Some(id) => crate::servers::by_id(&st.db, id).await?,
            None => None,
        } {
            super::create::may_run_on(&st, &access.me, &c.owner_id, &s).await?;
        }
    }
    let (id, project_id) = (c.container_id.clone(), c.project_id.clone());
    lifecycle::run(&st, ops::Operate::new(c, operation, Trigger::user(&access.me.user.user_id))).await?;
    // What the row says now, not what was asked for.
    let now = containers::status(&st.db, &id).await?;
    let message = format!("Container {op} done");
    Ok(ApiOk::new(
        message.clone(),
        ManageOut {
            error: false,
            operation: op,
            container_id: id,
            project_id,
            message,
            status: now.unwrap_or_else(|| operation.to.to_owned()),
        },
    ))
}
