//! Copies: a new container from another (or one of its snapshots) on the same host, and a
//! sync that refreshes a copy from its source (LXD's refresh copy).

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{dto::CopiedOut, fetch, rules, ContainerAccess};
use crate::{
    auth::{
        access::{can, find},
        permissions::leaf,
    },
    db::{
        containers::{ContainerRow, NewContainer},
        projects::{Level, ProjectRow},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    ids::{ContainerId, ProjectId, ServerId},
    lifecycle::{self, firewall, ops, status, Trigger},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "target_project_id": "65f1c0a2b3d4e5f6a7b8c9d1",
    "name": "web-1-copy",
    "copy_firewall_rules": true
}))]
pub struct CopyIn {
    /// The project (24 hex) the copy goes into; you need edit access to it.
    pub target_project_id: ProjectId,
    /// Must be the source's server (copies stay on their host); defaults to it.
    pub target_server_id: Option<ServerId>,
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

/// Copy a container
///
/// The copy lands in `target_project_id` on the source's server, from the source's current
/// state or from `source_snapshot`, and runs if the source runs. Environment, image and
/// features come along; the SSH key does not.
#[utoipa::path(post, path = "/containers/{id}/copy", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), crate::idempotency::KeyHeader), request_body = CopyIn,
    responses((status = 201, body = Envelope<CopiedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.create"))))]
pub async fn copy_container(
    State(st): State<AppState>,
    access: ContainerAccess<can::CopyContainer>,
    Json(input): Json<CopyIn>,
) -> Result<ApiOk<CopiedOut>> {
    let (me, src) = (&access.me, &access.row);
    if input.kvm.or(input.dev_kvm) == Some(true) {
        me.require(leaf::CONTAINERS_FEATURES_KVM)?;
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
    let target: ProjectRow = find(&st, me, &input.target_project_id, Level::Edit).await?;
    // A container's disk and environment are its owner's: someone it is shared with may copy
    // it only into the owner's own projects, never out into theirs.
    if src.level() < Level::Owner && target.user_id != src.owner_id {
        return Err(ApiError::forbidden(
            "copy_outside_owner",
            "A container you do not own can only be copied into its owner's projects",
        ));
    }
    let server_id =
        src.server_id.clone().ok_or_else(|| ApiError::conflict("server_gone", "The source has no server"))?;
    if input.target_server_id.as_ref().is_some_and(|t| t.as_str() != server_id) {
        return Err(ApiError::invalid("target_server_id", "copies stay on the source's server"));
    }
    let server = super::create::check_server(&st, me, &target.user_id, &server_id).await?;
    if input.kvm.or(input.dev_kvm) == Some(true) {
        super::kvm::refuse_on_free_server(Some(server.is_free))?;
    }
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
    let rules = match n.copy_firewall_rules {
        true => {
            me.require(leaf::RESOURCES_FIREWALLS)?;
            firewall::copyable(&st, &src.container_id).await?
        }
        false => None,
    };
    let id = n.container_id.clone();
    let by = Trigger::user(&me.user.user_id);
    let op = ops::CopyContainer::new(n, &target.user_id, src.clone(), input.source_snapshot.clone(), by)
        .with_firewall(rules);
    lifecycle::run(&st, op).await?;
    Ok(ApiOk::created("Container copied", CopiedOut(fetch(&st, me, &id).await?)))
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
    access: ContainerAccess<can::UpdateContainer>,
) -> Result<ApiOk<SyncOut>> {
    let (me, c) = (&access.me, access.row.clone());
    let source_id = c
        .source_container_id
        .clone()
        .ok_or_else(|| ApiError::invalid("id", "this container was not created by copying another"))?;
    rules::settled(&c)?;
    let gone = || ApiError::not_found("source_not_found", "The container this one was copied from is gone");
    let source = ContainerId::parse(&source_id).ok_or_else(gone)?;
    let src: ContainerRow = find(&st, me, &source, Level::Read).await.map_err(|_| gone())?;
    if src.server_id != c.server_id {
        return Err(ApiError::invalid("id", "the source is on another server"));
    }
    let id = c.container_id.clone();
    let to = lifecycle::run(&st, ops::SyncContainer::new(c, src, Trigger::user(&me.user.user_id))).await?;
    Ok(ApiOk::new("Container synced", SyncOut { container_id: id, source_container_id: source_id, status: to.into() }))
}
