//! Changing containers: update, delete, and the lifecycle operations.

use axum::extract::{Path, State};
use serde_json::Value;

use super::{
    dto::{ContainerOut, ManageOut, UpdateIn},
    fetch_row, rules,
};
use crate::{
    api::fields,
    auth::{
        access::missing_permission,
        principal::Principal,
        resource::{self, policy, ContainerAccess},
    },
    db::{containers::ContainerRow, projects::Level},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    extract::Json,
    host::StateAction,
    lifecycle::{self, host_of, provision, status, Trigger},
    state::AppState,
};

/// Push the row's config to the instance; a host that cannot take it now gets it at the next
/// start. Returns whether it was applied.
pub async fn apply_config(st: &AppState, c: &ContainerRow) -> bool {
    let Ok(host) = host_of(st, c.server_id.as_deref()).await else { return false };
    match provision::sync_config(&host, c).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(container = %c.container_id, error = %e, "config not applied; it will be at the next start");
            false
        }
    }
}

/// Update a container
///
/// Fields left out keep their values. `environment_vars` replaces the whole environment and,
/// like `autostart`, is applied to the instance at once (or at its next start when the host
/// cannot be reached). Only a caller without realm restrictions may change `realm_ids`.
#[utoipa::path(put, path = "/containers/{id}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = UpdateIn,
    responses((status = 200, body = Envelope<ContainerOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn update_container(
    State(st): State<AppState>,
    access: ContainerAccess<policy::UpdateContainer>,
    Json(input): Json<UpdateIn>,
) -> Result<ApiOk<ContainerOut>> {
    let (me, c) = (&access.me, &access.container);
    rules::settled(c)?;
    if input.ai == Some(true) && !c.ai && !me.allows("containers.features.ai") {
        return Err(missing_permission("containers.features.ai"));
    }
    let mut errors = Vec::new();
    let name = match input.name.as_deref() {
        Some(n) => rules::name("name", Some(n)).map_err(|e| errors.push(e)).unwrap_or_default(),
        None => c.name.clone(),
    };
    let color = match input.color.as_deref() {
        Some(v) => fields::color("color", v).map_err(|e| errors.push(e)).unwrap_or_default(),
        None => c.color.clone(),
    };
    let env = match &input.environment_vars {
        Some(v) => rules::env("environment_vars", v)
            .map_err(|e| errors.push(e))
            .ok()
            .map(|m| serde_json::to_value(m).unwrap_or_default()),
        None => Some(c.environment_vars.clone()),
    };
    let ssh = match &input.ssh_public_key {
        Some(Some(k)) => rules::ssh_key("ssh_public_key", k).map_err(|e| errors.push(e)).ok(),
        Some(None) => None,
        None => c.ssh_public_key.clone(),
    };
    let comment = match &input.comment {
        Some(Some(v)) => rules::comment("comment", v).map_err(|e| errors.push(e)).ok(),
        Some(None) => None,
        None => c.comment.clone(),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let realms = fields::realms_on_update(me, &c.realm_ids, input.realm_ids.as_deref())?;
    if realms != c.realm_ids && c.level() < Level::Owner {
        return Err(ApiError::forbidden("project_access_denied", "Only the owner changes realm_ids"));
    }
    let autostart = input.autostart.unwrap_or(c.autostart);
    let scope = input.ramdisk_scope.map(|s| serde_json::to_value(s).unwrap_or_default());
    let scope = scope.as_ref().and_then(Value::as_str).unwrap_or(&c.ramdisk_scope).to_owned();
    sqlx::query(
        "update container set name = $2, color = $3, ai = $4, autostart = $5, ramdisk = $6, ramdisk_scope = $7, \
         environment_vars = $8, ssh_public_key = $9, comment = $10, realm_ids = $11 where container_id = $1",
    )
    .bind(&c.container_id)
    .bind(&name)
    .bind(&color)
    .bind(input.ai.unwrap_or(c.ai))
    .bind(autostart)
    .bind(input.ramdisk.unwrap_or(c.ramdisk))
    .bind(&scope)
    .bind(env.unwrap_or_default())
    .bind(&ssh)
    .bind(&comment)
    .bind(&realms)
    .execute(&st.db)
    .await
    .on_constraint("container_name_key", rules::name_taken)
    .on_constraint("container_ssh_public_key_key", rules::ssh_key_taken)?;
    if autostart != c.autostart {
        let kind = if autostart { "container.autostart_enabled" } else { "container.autostart_disabled" };
        let data = serde_json::json!({"name": name});
        lifecycle::container_event(&st.db, c, kind, data).await?;
    }
    let row = fetch_row(&st, me, &c.container_id).await?;
    if input.environment_vars.is_some() || input.autostart.is_some() || input.ai.is_some() || input.ramdisk.is_some() {
        apply_config(&st, &row).await;
    }
    Ok(ApiOk::new("Container updated", ContainerOut::from(row)))
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
    access: ContainerAccess<policy::DeleteContainer>,
) -> Result<ApiOk<()>> {
    let c = access.container;
    if status::busy(&c.status) && c.status != status::DELETING {
        return Err(rules::busy(&c.status));
    }
    lifecycle::detached(provision::delete(st.clone(), c, Trigger::user(&access.me.user.user_id))).await?;
    Ok(ApiOk::new("Container deleted", ()))
}

/// An operation: its token leaf, the statuses it starts from, the host action and the result.
fn operation(op: &str) -> Option<(&'static str, &'static [&'static str], StateAction, &'static str)> {
    use status::*;
    Some(match op {
        "start" => ("containers.actions.start", &[STOPPED, FAILED], StateAction::Start, RUNNING),
        "stop" => ("containers.actions.stop", &[RUNNING, PAUSED], StateAction::Stop, STOPPED),
        "force-stop" => ("containers.actions.stop", &[RUNNING, PAUSED, FAILED], StateAction::ForceStop, STOPPED),
        "restart" => ("containers.actions.restart", &[RUNNING], StateAction::Restart, RUNNING),
        "pause" => ("containers.actions.stop", &[RUNNING], StateAction::Freeze, PAUSED),
        "resume" => ("containers.actions.start", &[PAUSED], StateAction::Unfreeze, RUNNING),
        _ => return None,
    })
}

/// Manage container
///
/// `operation` is one of start, stop, force-stop, restart, pause, resume (400 otherwise). An
/// auth token needs `containers.actions.start` (start, resume), `containers.actions.stop`
/// (stop, force-stop, pause) or `containers.actions.restart`. A container not in a status the
/// operation starts from is 409. The host's answer comes within the host timeout (504 after).
#[utoipa::path(post, path = "/containers/{id}/{operation}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"),
        ("operation" = String, Path, description = "start, stop, force-stop, restart, pause or resume")),
    responses((status = 200, body = Envelope<ManageOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission-by-operation" = json!({"start": "containers.actions.start", "resume": "containers.actions.start",
        "stop": "containers.actions.stop", "force-stop": "containers.actions.stop", "pause": "containers.actions.stop",
        "restart": "containers.actions.restart"}))))]
pub async fn manage_container(
    State(st): State<AppState>,
    Path((id, op)): Path<(String, String)>,
    me: Principal,
) -> Result<ApiOk<ManageOut>> {
    let (leaf, from, action, to) = operation(&op).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_operation",
            "operation is one of start, stop, force-stop, restart, pause, resume",
        )
    })?;
    if !me.allows(leaf) {
        return Err(missing_permission(leaf));
    }
    let c = resource::container(&st, &me, &id, Level::Edit).await?;
    if !from.contains(&c.status.as_str()) {
        return Err(ApiError::conflict("invalid_state", format!("Cannot {op} a container that is {}", c.status)));
    }
    let by = Trigger::user(&me.user.user_id);
    let work = {
        let (st, c, by) = (st.clone(), c.clone(), by.clone());
        async move {
            let host = host_of(&st, c.server_id.as_deref()).await?;
            if action == StateAction::Start {
                provision::sync_config(&host, &c).await?;
            }
            host.call(|d| d.set_state(&c.lxd_name, action)).await?;
            lifecycle::transition(&st, &c, &[c.status.as_str()], to, &by, None).await?;
            Ok(())
        }
    };
    lifecycle::detached(work).await?;
    let message = format!("Container {op} done");
    Ok(ApiOk::new(
        message.clone(),
        ManageOut {
            error: false,
            operation: op,
            container_id: c.container_id,
            project_id: c.project_id,
            message,
            status: to.into(),
        },
    ))
}
