//! Copies: a new container from another (or one of its snapshots) on the same host, and a
//! sync that refreshes a copy from its source (LXD's refresh copy).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{dto::ContainerOut, fetch, rules};
use crate::{
    auth::{
        access::missing_permission,
        resource::{self, policy, ContainerAccess},
    },
    db::{
        containers::{self, ContainerRow, NewContainer},
        projects::Level,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    extract::Json,
    host::StateAction,
    lifecycle::{self, born, host_of, provision, reason_of, status, transition, Trigger},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyIn {
    /// The project (24 hex) the copy goes into; you need edit access to it.
    pub target_project_id: String,
    /// Must be the source's server (copies stay on their host); defaults to it.
    pub target_server_id: Option<String>,
    /// Generated when omitted.
    pub name: Option<String>,
    /// Not inherited from the source (keys are unique per container).
    pub ssh_public_key: Option<String>,
    /// Copy this snapshot of the source instead of its current state.
    pub source_snapshot: Option<String>,
    pub copy_firewall_rules: Option<bool>,
    pub copy_network_rules: Option<bool>,
    pub kvm: Option<bool>,
    pub dev_kvm: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SyncOut {
    pub container_id: String,
    pub source_container_id: String,
    pub status: String,
}

/// Copy `source` onto `c` on the host (`refresh`: sync an existing copy, stopped meanwhile),
/// make the instance this container's, and run it if `running`:
/// `copying` → `running`/`stopped`, or `failed`.
async fn run_copy(
    st: AppState,
    c: ContainerRow,
    source: String,
    refresh: bool,
    running: bool,
    by: Trigger,
) -> Result<&'static str> {
    let done = async {
        let host = host_of(&st, c.server_id.as_deref()).await?;
        if refresh && running {
            host.call(|d| d.set_state(&c.lxd_name, StateAction::ForceStop)).await?;
        }
        host.call(|d| d.copy(&source, &c.lxd_name, refresh)).await?;
        // The copy carries the source's config, network keys and devices: make them this one's.
        provision::settle_instance(&st, &host, &c).await?;
        if running {
            host.call(|d| d.set_state(&c.lxd_name, StateAction::Start)).await?;
        }
        Ok::<_, ApiError>(())
    }
    .await;
    if let Err(e) = done {
        transition(&st, &c, &[status::COPYING], status::FAILED, &by, Some(reason_of(&e))).await?;
        return Err(e);
    }
    let to = if running { status::RUNNING } else { status::STOPPED };
    transition(&st, &c, &[status::COPYING], to, &by, None).await?;
    Ok(to)
}

/// Copy a container
///
/// The copy lands in `target_project_id` on the source's server, from the source's current
/// state or from `source_snapshot`, and runs if the source runs. Environment, image and
/// features come along; the SSH key does not.
#[utoipa::path(post, path = "/containers/{id}/copy", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), crate::idempotency::KeyHeader), request_body = CopyIn,
    responses((status = 201, body = Envelope<ContainerOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.create"))))]
pub async fn copy_container(
    State(st): State<AppState>,
    access: ContainerAccess<policy::CopyContainer>,
    Json(input): Json<CopyIn>,
) -> Result<ApiOk<ContainerOut>> {
    let (me, src) = (&access.me, &access.container);
    if input.kvm.or(input.dev_kvm) == Some(true) && !me.allows("containers.features.kvm") {
        return Err(missing_permission("containers.features.kvm"));
    }
    let name = rules::name("name", input.name.as_deref())?;
    let ssh = input.ssh_public_key.as_deref().map(|k| rules::ssh_key("ssh_public_key", k)).transpose()?;
    if let Some(s) = &input.source_snapshot {
        let ok = (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !ok {
            return Err(ApiError::invalid("source_snapshot", "must be a snapshot name"));
        }
    }
    rules::settled(src)?;
    let target = resource::project(&st, me, &input.target_project_id, Level::Edit).await?;
    let server_id =
        src.server_id.clone().ok_or_else(|| ApiError::conflict("server_gone", "The source has no server"))?;
    if input.target_server_id.as_ref().is_some_and(|t| *t != server_id) {
        return Err(ApiError::invalid("target_server_id", "copies stay on the source's server"));
    }
    super::create::check_server(&st, me, &server_id).await?;
    let mut n = NewContainer::new(&target.project_id, &server_id, name, src.container_image.clone());
    n.status = status::COPYING;
    n.color = src.color.clone();
    n.ai = src.ai;
    n.hoody_kit = src.hoody_kit;
    n.dev_kit = src.dev_kit;
    n.kvm = input.kvm.or(input.dev_kvm).unwrap_or(src.kvm);
    n.autostart = src.autostart;
    n.ramdisk = src.ramdisk;
    n.environment_vars = src.environment_vars.clone();
    n.ssh_public_key = ssh;
    n.source_container_id = Some(src.container_id.clone());
    n.copy_firewall_rules = input.copy_firewall_rules.unwrap_or(false);
    n.copy_network_rules = input.copy_network_rules.unwrap_or(false);
    n.realm_ids = target.realm_ids.clone();
    let by = Trigger::user(&me.user.user_id);
    let mut tx = st.db.begin().await?;
    super::create::check_quota(&mut tx, &target, &n, 0).await?;
    containers::insert(&mut *tx, &n)
        .await
        .on_constraint("container_name_key", rules::name_taken)
        .on_constraint("container_ssh_public_key_key", rules::ssh_key_taken)?;
    if n.copy_network_rules {
        super::network::copy_settings(&st, &mut tx, &src.container_id, &n.container_id).await?;
    }
    let row = containers::by_id(&mut *tx, &n.container_id).await?.ok_or_else(|| anyhow::anyhow!("row vanished"))?;
    born(&mut tx, &row, &by).await?;
    tx.commit().await?;
    let source = match &input.source_snapshot {
        Some(s) => format!("{}/{s}", src.lxd_name),
        None => src.lxd_name.clone(),
    };
    let start = src.status == status::RUNNING;
    lifecycle::detached(run_copy(st.clone(), row, source, false, start, by)).await?;
    Ok(ApiOk::created("Container copied", fetch(&st, me, &n.container_id).await?))
}

/// Sync a copied container with its source
///
/// Refreshes the copy from its source on the host (stopping it meanwhile if it runs).
#[utoipa::path(post, path = "/containers/{id}/sync", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID (a copy)")),
    responses((status = 200, body = Envelope<SyncOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn sync_container(
    State(st): State<AppState>,
    access: ContainerAccess<policy::UpdateContainer>,
) -> Result<ApiOk<SyncOut>> {
    let (me, c) = (&access.me, access.container.clone());
    let source_id = c
        .source_container_id
        .clone()
        .ok_or_else(|| ApiError::invalid("id", "this container was not created by copying another"))?;
    rules::settled(&c)?;
    let src = resource::container(&st, me, &source_id, Level::Read)
        .await
        .map_err(|_| ApiError::not_found("source_not_found", "The container this one was copied from is gone"))?;
    if src.server_id != c.server_id {
        return Err(ApiError::invalid("id", "the source is on another server"));
    }
    let by = Trigger::user(&me.user.user_id);
    let before = c.status.clone();
    if !transition(&st, &c, &[before.as_str()], status::COPYING, &by, Some(serde_json::json!({"sync_from": source_id})))
        .await?
    {
        return Err(rules::busy("changing"));
    }
    let running = before == status::RUNNING || before == status::PAUSED;
    let work = run_copy(st.clone(), c.clone(), src.lxd_name.clone(), true, running, by);
    let to = lifecycle::detached(work).await?;
    Ok(ApiOk::new(
        "Container synced",
        SyncOut { container_id: c.container_id.clone(), source_container_id: source_id, status: to.into() },
    ))
}
