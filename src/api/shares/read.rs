//! Reading shares: one container's (filtered), all of yours, and the incoming ones (per
//! container and overall). Bare arrays, as the contract has them.

use axum::extract::State;

use super::{
    dto::{self, IncomingOut, ListQuery, RealmQuery, ShareOut},
    of_source,
};
use crate::{
    api::containers::ContainerAccess,
    auth::{
        access::{can, Require},
        permissions::perm,
    },
    db::storage_shares::{self as shares, Filters},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Path, Query},
    state::AppState,
};

/// List storage shares
///
/// The shares whose source is container `{id}`, oldest first. Filters: `target_type`
/// (container|project), `label`, `status` (active|failed), `enabled`, `include_expired`
/// (default false: expired shares are left out).
#[utoipa::path(get, path = "/containers/{id}/storage/shares", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), ListQuery),
    responses((status = 200, body = Envelope<Vec<ShareOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn list_shares(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadShares>,
    Query(q): Query<ListQuery>,
) -> Result<ApiOk<Vec<ShareOut>>> {
    if q.target_type.as_deref().is_some_and(|t| t != "container" && t != "project") {
        return Err(ApiError::invalid("target_type", "must be container or project"));
    }
    if q.status.as_deref().is_some_and(|s| s != "active" && s != "failed") {
        return Err(ApiError::invalid("status", "must be active or failed"));
    }
    let f = Filters {
        target_type: q.target_type.as_deref(),
        label: q.label.as_deref(),
        status: q.status.as_deref(),
        enabled: dto::flag("enabled", q.enabled.as_deref())?,
        include_expired: dto::flag("include_expired", q.include_expired.as_deref())?.unwrap_or(false),
    };
    let ids = shares::of_source(&st.db, &access.row.container_id, &f).await?;
    let rows = shares::rows(&st.db, &ids).await?;
    Ok(ApiOk::new("Storage shares", rows.into_iter().map(ShareOut::from).collect()))
}

/// Get storage share
#[utoipa::path(get, path = "/containers/{id}/storage/shares/{shareId}", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), ("shareId" = String, Path, description = "Share ID")),
    responses((status = 200, body = Envelope<ShareOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn get_share(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadShares>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<ShareOut>> {
    let row = of_source(&st, &access.row.container_id, &path.1).await?;
    Ok(ApiOk::new("Storage share", ShareOut::from(row)))
}

/// List all your storage shares
///
/// Shares you created, or whose source container is in one of your projects, from every
/// container (in the request's realm when it has one), oldest first; only those whose source
/// container you may still see (a share you created in a project no longer shared with you is
/// left out).
#[utoipa::path(get, path = "/storage/shares", tag = "storageShares", security(("bearer" = [])),
    params(RealmQuery),
    responses((status = 200, body = Envelope<Vec<ShareOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn list_all_shares(
    State(st): State<AppState>,
    me: Require<perm::StorageShares>,
    Query(_q): Query<RealmQuery>,
) -> Result<ApiOk<Vec<ShareOut>>> {
    let ids = shares::of_user(&st.db, &me.user.user_id, me.realm.as_deref()).await?;
    let rows = shares::rows(&st.db, &ids).await?;
    Ok(ApiOk::new("Storage shares", rows.into_iter().map(ShareOut::from).collect()))
}

/// The unexpired shares aimed at `containers`, self-shares left out: every one of them (each is
/// mounted on its own, so each is listed to be refused on its own).
async fn incoming(st: &AppState, containers: &[String]) -> Result<Vec<IncomingOut>> {
    let found = shares::incoming(&st.db, containers).await?;
    let ids: Vec<String> = found.iter().map(|f| f.share_id.clone()).collect();
    let rows = shares::rows(&st.db, &ids).await?;
    Ok(found
        .into_iter()
        .filter_map(|f| {
            let row = rows.iter().find(|r| r.share_id == f.share_id)?;
            Some(IncomingOut::new(row.clone(), f.container_id, f.mount, f.mounted))
        })
        .collect())
}

/// Get incoming shares
///
/// Every unexpired share aimed at container `{id}` (directly, or at its project from another
/// container), with the receiver's choice (`mount`) and whether it is mounted now (`mounted`).
#[utoipa::path(get, path = "/containers/{id}/storage/incoming", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<Vec<IncomingOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn list_incoming(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadShares>,
) -> Result<ApiOk<Vec<IncomingOut>>> {
    let out = incoming(&st, std::slice::from_ref(&access.row.container_id)).await?;
    Ok(ApiOk::new("Incoming storage shares", out))
}

/// Get all incoming shares
///
/// The incoming shares of every container you may see, in every project (in the request's realm
/// when it has one); `container_id` names the receiving container.
#[utoipa::path(get, path = "/storage/incoming", tag = "storageShares", security(("bearer" = [])),
    params(RealmQuery),
    responses((status = 200, body = Envelope<Vec<IncomingOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn list_all_incoming(
    State(st): State<AppState>,
    me: Require<perm::StorageShares>,
    Query(_q): Query<RealmQuery>,
) -> Result<ApiOk<Vec<IncomingOut>>> {
    let containers = shares::containers_of(&st.db, &me.user.user_id, me.realm.as_deref()).await?;
    let out = incoming(&st, &containers).await?;
    Ok(ApiOk::new("Incoming storage shares", out))
}
