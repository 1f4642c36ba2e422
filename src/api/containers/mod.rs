//! The `containers` tag: containers on LXD hosts, their lifecycle, snapshots, copies, network
//! settings and access claims.

mod authorize;
mod change;
mod copy;
pub(crate) mod create;
pub(crate) mod dto;
mod kvm;
pub(crate) mod network;
mod read;
pub(crate) mod rules;
mod snapshots;
pub(crate) mod stats;

use utoipa_axum::{router::OpenApiRouter, routes};

use self::dto::ContainerOut;
use crate::{
    auth::{
        access::{Access, Resource},
        principal::Principal,
    },
    db::{
        containers::{self, ContainerRow},
        projects::Level,
    },
    error::{ApiError, Result},
    state::AppState,
};

/// A container as the caller may reach it under policy `P` (`auth::access::can`).
pub type ContainerAccess<P> = Access<ContainerRow, P>;

pub fn container_not_found() -> ApiError {
    ApiError::not_found("container_not_found", "Container not found")
}

impl Resource for ContainerRow {
    type Id = crate::ids::ContainerId;
    const WHAT: &'static str = "container's project";

    async fn load(st: &AppState, me: &Principal, id: &Self::Id) -> Result<Option<Self>> {
        Ok(containers::visible(&st.db, id, &me.user.user_id).await?)
    }

    fn not_found() -> ApiError {
        container_not_found()
    }

    fn level(&self) -> Level {
        ContainerRow::level(self)
    }

    fn realm_ids(&self) -> &[String] {
        &self.realm_ids
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read::list_containers))
        .routes(routes!(create::create_container, read::list_project_containers))
        .routes(routes!(read::get_container, change::update_container, change::delete_container))
        .routes(routes!(change::manage_container))
        .routes(routes!(read::get_status_logs))
        .routes(routes!(stats::get_container_stats))
        .routes(routes!(snapshots::create_snapshot, snapshots::list_snapshots))
        .routes(routes!(snapshots::restore_snapshot, snapshots::delete_snapshot))
        .routes(routes!(snapshots::update_snapshot_alias))
        .routes(routes!(copy::copy_container))
        .routes(routes!(copy::sync_container))
        .routes(routes!(network::get_network, network::update_network, network::remove_network))
        .routes(routes!(network::start_network))
        .routes(routes!(network::stop_network))
        .routes(routes!(authorize::authorize_container))
        .routes(routes!(kvm::set_container_kvm))
}

/// A container's row as `me` sees it now.
async fn fetch_row(st: &AppState, me: &Principal, id: &str) -> Result<ContainerRow> {
    containers::visible(&st.db, id, &me.user.user_id).await?.ok_or_else(container_not_found)
}

/// A container as `me` sees it now (with its alias counts, as every read gives them).
async fn fetch(st: &AppState, me: &Principal, id: &str) -> Result<ContainerOut> {
    out_of(st, fetch_row(st, me, id).await?).await
}

/// `row` as answered: with its alias counts (`has_proxy_domains`, `proxy_domains_count`).
async fn out_of(st: &AppState, row: ContainerRow) -> Result<ContainerOut> {
    let mut out = [ContainerOut::from(row)];
    crate::api::aliases::domains::fill(st, &mut out, false).await?;
    let [out] = out;
    Ok(out)
}
