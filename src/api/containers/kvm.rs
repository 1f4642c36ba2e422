//! `PUT /containers/{id}/kvm` (the SDK's `setContainerKvm`): pass the host's `/dev/kvm` into
//! the container (as an LXD `unix-char` device, not required: a host without KVM still starts
//! the container), or take it away.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules;
use crate::{
    auth::resource::{policy, ContainerAccess},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    lifecycle::{self, host_of, provision},
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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

/// Enable or disable /dev/kvm (run VMs in the container)
#[utoipa::path(put, path = "/containers/{id}/kvm", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = KvmIn,
    responses((status = 200, body = Envelope<KvmOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.kvm"))))]
pub async fn set_container_kvm(
    State(st): State<AppState>,
    access: ContainerAccess<policy::Kvm>,
    Json(input): Json<KvmIn>,
) -> Result<ApiOk<KvmOut>> {
    let c = &access.container;
    let on = input.kvm.or(input.dev_kvm).ok_or_else(|| ApiError::invalid("kvm", "is required (true or false)"))?;
    rules::settled(c)?;
    let host = host_of(&st, c.server_id.as_deref()).await?;
    let name = c.lxd_name.clone();
    lifecycle::detached(async move {
        let dev = provision::kvm_device();
        let spec = on.then_some(&dev);
        Ok(host.call(|d| d.set_device(&name, provision::KVM_DEVICE, spec)).await?)
    })
    .await?;
    sqlx::query("update container set kvm = $2 where container_id = $1")
        .bind(&c.container_id)
        .bind(on)
        .execute(&st.db)
        .await?;
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
