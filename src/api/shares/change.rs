//! Changing shares: a partial update (remounted as it says), a delete (unmounted first), and a
//! receiver's accept or refuse.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{self, MountIn, MountOut, ShareOut, SharePatch},
    of_source, resync,
};
use crate::{
    api::containers::ContainerAccess,
    auth::{
        access::{can, find, Require},
        permissions::perm,
    },
    db::{
        containers::ContainerRow,
        projects::Level,
        storage_shares::{self as shares, Patch},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    events::{publish, EventKind},
    extract::{Json, Path},
    ids::ContainerId,
    lifecycle::{shares::share_event, Trigger},
    state::AppState,
};

/// A revoking change is recorded but a host could not apply it yet: 503, to be sent again (the
/// same change again re-applies it; the sweeper keeps trying meanwhile).
fn not_applied() -> ApiError {
    ApiError::Unavailable { retry_after_secs: 5 }
}

/// Update storage share
///
/// Only the fields sent change: `mode`, `alias` (the target mount path follows it), `label`,
/// `description` (null clears each), `enabled`, `expires_at` (unix seconds; null: never). The
/// mounts follow at once; an update makes a `failed` share `active` again (its next mount
/// checks the path anew). A change that takes access away (`readonly`, `enabled: false`) that a
/// host could not apply yet answers 503 with `Retry-After`: it is recorded, and the same request
/// again applies it (the sweeper also keeps trying).
#[utoipa::path(patch, path = "/containers/{id}/storage/shares/{shareId}", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), ("shareId" = String, Path, description = "Share ID")),
    request_body = SharePatch,
    responses((status = 200, body = Envelope<ShareOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn update_share(
    State(st): State<AppState>,
    access: ContainerAccess<can::Shares>,
    Path(path): Path<(String, String)>,
    Json(input): Json<SharePatch>,
) -> Result<ApiOk<ShareOut>> {
    let before = of_source(&st, &access.row.container_id, &path.1).await?;
    let opt = |v: Option<Option<String>>, f: &dyn Fn(&str) -> Result<String>| -> Result<Option<Option<String>>> {
        v.map(|x| x.as_deref().map(f).transpose()).transpose()
    };
    let p = Patch {
        mode: input.mode.as_deref().map(|m| dto::mode("mode", m)).transpose()?,
        alias: opt(input.alias, &dto::alias)?,
        label: opt(input.label, &|l| dto::text("label", l, 100))?,
        description: opt(input.description, &|d| dto::text("description", d, 1000))?,
        enabled: input.enabled,
        expires_at: input.expires_at.map(|e| e.map(dto::expires_at).transpose()).transpose()?,
    };
    let by = Trigger::user(&access.me.user.user_id);
    let mut tx = st.db.begin().await?;
    // Locked: concurrent updates see each other's `enabled`, so each change has its one event.
    let was_enabled = shares::lock(&mut *tx, &before.share_id).await?.ok_or_else(dto::share_not_found)?;
    if !shares::update(&mut *tx, &before.share_id, &p).await? {
        return Err(dto::share_not_found());
    }
    let row = shares::by_id(&mut *tx, &before.share_id).await?.ok_or_else(dto::share_not_found)?;
    let data = json!({"mode": row.mode, "enabled": row.enabled, "expires_at": row.expires_at.map(|t| t.timestamp())});
    publish(&mut tx, share_event(&row, EventKind::StorageShareUpdated, data)).await?;
    if row.enabled != was_enabled {
        let kind = if row.enabled { EventKind::StorageShareEnabled } else { EventKind::StorageShareDisabled };
        publish(&mut tx, share_event(&row, kind, json!({"enabled": row.enabled}))).await?;
    }
    tx.commit().await?;
    // A change that takes access away (read-only now, disabled) must reach the hosts now.
    let revokes = p.mode.as_deref() == Some("readonly") || p.enabled == Some(false);
    resync(&st, &row.share_id, false, &by).await?;
    if revokes && shares::revocation_pending(&st.db, &row.share_id).await? {
        return Err(not_applied());
    }
    let row = shares::by_id(&st.db, &row.share_id).await?.ok_or_else(dto::share_not_found)?;
    Ok(ApiOk::new("Storage share updated", ShareOut::from(row)))
}

/// Delete storage share
///
/// Share ids are unique, so no container in the path; you must be able to edit its source
/// container. The share is unmounted from every target and from its source first (503 when a
/// host could not remove one of its devices: nothing is deleted, try again), then deleted with
/// its volume and the files in it (a volume the host could not delete yet is deleted by the
/// sweeper).
#[utoipa::path(delete, path = "/storage/shares/{shareId}", tag = "storageShares", security(("bearer" = [])),
    params(("shareId" = String, Path, description = "Share ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn delete_share(
    State(st): State<AppState>,
    me: Require<perm::StorageShares>,
    Path(share_id): Path<String>,
) -> Result<ApiOk<()>> {
    let id = dto::share_id(&share_id)?;
    let row = shares::by_id(&st.db, &id).await?.ok_or_else(dto::share_not_found)?;
    let source = ContainerId::parse(&row.source_container_id).ok_or_else(dto::share_not_found)?;
    // Not visible (another user's, another realm's): the same 404 as a missing share.
    find::<ContainerRow>(&st, &me, &source, Level::Edit).await.map_err(|e| {
        if e.status().as_u16() == 404 {
            dto::share_not_found()
        } else {
            e
        }
    })?;
    let by = Trigger::user(&me.user.user_id);
    // Its targets now: once it is gone, an alias it held on them is free for another share.
    let targets = shares::targets_of(&st.db, &id).await?;
    if resync(&st, &id, true, &by).await?.touching(&id) {
        return Err(ApiError::Unavailable { retry_after_secs: 5 });
    }
    let mut tx = st.db.begin().await?;
    if !shares::delete(&mut *tx, &id).await? {
        return Err(dto::share_not_found());
    }
    publish(&mut tx, share_event(&row, EventKind::StorageShareDeleted, json!({"source_path": row.source_path})))
        .await?;
    tx.commit().await?;
    // A sweep that mounted it again meanwhile (its device rows outlive the share), and the
    // paths it freed: sync its former targets again.
    let mut left = shares::targets_of(&st.db, &id).await?;
    for t in targets {
        if !left.contains(&t) {
            left.push(t);
        }
    }
    crate::lifecycle::shares::sync_targets(&st, &left, None, &by).await;
    if let Some(v) = shares::volume_of(&st.db, &id).await? {
        if let Err(e) = crate::lifecycle::shares::drop_volume(&st, &v).await {
            tracing::warn!(share = %id, error = %e, "share volume not deleted yet; the sweeper will");
        }
    }
    Ok(ApiOk::new("Storage share deleted", ()))
}

/// Toggle incoming share mount
///
/// For the receiving container `{id}` (you must be able to edit it): `mount: true` accepts the
/// share and mounts it (while it is enabled and unexpired), `false` refuses it and unmounts it
/// (503 with `Retry-After` when the host could not unmount it yet: the refusal is recorded, send
/// it again). The share must be aimed at this container and unexpired (404 otherwise).
#[utoipa::path(patch, path = "/containers/{id}/storage/incoming/{shareId}/mount", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Target container ID (receiver container)"),
        ("shareId" = String, Path, description = "Share ID to toggle")),
    request_body = MountIn,
    responses((status = 200, body = Envelope<MountOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn set_incoming_mount(
    State(st): State<AppState>,
    access: ContainerAccess<can::Shares>,
    Path(path): Path<(String, String)>,
    Json(input): Json<MountIn>,
) -> Result<ApiOk<MountOut>> {
    let id = dto::share_id(&path.1)?;
    let c = &access.row;
    let aimed = shares::incoming(&st.db, std::slice::from_ref(&c.container_id)).await?;
    if !aimed.iter().any(|a| a.share_id == id) {
        return Err(dto::share_not_found());
    }
    let mount = input.mount;
    let mut tx = st.db.begin().await?;
    let o = shares::set_override(&mut *tx, &id, &c.container_id, mount).await?;
    let row = shares::by_id(&mut *tx, &id).await?.ok_or_else(dto::share_not_found)?;
    let data = json!({"container_id": c.container_id, "mount": mount});
    publish(&mut tx, share_event(&row, EventKind::StorageShareMountChanged, data)).await?;
    tx.commit().await?;
    let by = Trigger::user(&access.me.user.user_id);
    crate::lifecycle::shares::sync_targets(&st, std::slice::from_ref(&c.container_id), None, &by).await;
    if !mount && shares::revocation_pending(&st.db, &id).await? {
        return Err(not_applied());
    }
    let row = shares::by_id(&st.db, &id).await?.ok_or_else(dto::share_not_found)?;
    Ok(ApiOk::new(
        if mount { "Share accepted" } else { "Share refused" },
        MountOut { share: ShareOut::from(row), override_: o.into() },
    ))
}
