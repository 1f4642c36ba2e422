//! `PUT /containers/{id}/kvm` (the SDK's `setContainerKvm`): pass the host's `/dev/kvm` into
//! the container (as an LXD `unix-char` device, not required: a host without KVM still starts
//! the container), or take it away.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{rules, ContainerAccess};
use crate::{
    auth::access::can,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    lifecycle::{self, ops, Trigger},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"kvm": true}))]
pub struct KvmIn {
    pub kvm: Option<bool>,
    /// The same as `kvm` (older clients).
    pub dev_kvm: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct KvmOut {
    pub id: String,
    pub name: String,
    pub status: String,
    pub kvm: bool,
    /// Whether the host itself has `/dev/kvm` is not known to the API: without it the
    /// container runs, without the device.
    pub kvm_note: &'static str,
}

/// KVM is for containers on rented or dedicated servers, never on the free tier.
pub fn refuse_on_free_server(server_is_free: Option<bool>) -> Result<()> {
    if server_is_free != Some(false) {
        return Err(ApiError::forbidden(
            "kvm_not_available",
            "KVM is available on rented or dedicated servers only, not on free-tier servers",
        ));
    }
    Ok(())
}

/// Enable or disable /dev/kvm (run VMs in the container)
///
/// Only for containers on rented or dedicated servers (403 on free-tier servers), and only
/// while the container is stopped (409 otherwise).
#[utoipa::path(put, path = "/containers/{id}/kvm", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = KvmIn,
    responses((status = 200, body = Envelope<KvmOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.kvm"))))]
pub async fn set_container_kvm(
    State(st): State<AppState>,
    access: ContainerAccess<can::Kvm>,
    Json(input): Json<KvmIn>,
) -> Result<ApiOk<KvmOut>> {
    let c = &access.row;
    let on = input.kvm.or(input.dev_kvm).ok_or_else(|| ApiError::invalid("kvm", "is required (true or false)"))?;
    rules::settled(c)?;
    refuse_on_free_server(c.server_is_free)?;
    lifecycle::run(&st, ops::SetKvm::new(c.clone(), on, Trigger::user(&access.me.user.user_id))).await?;
    Ok(ApiOk::new(
        if on { "KVM enabled" } else { "KVM disabled" },
        KvmOut {
            id: c.container_id.clone(),
            name: c.name.clone(),
            status: c.status.clone(),
            kvm: on,
            kvm_note: "/dev/kvm is passed through when the host has it",
        },
    ))
}
