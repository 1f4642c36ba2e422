//! Creating a share: every field checked, both ends resolved as the caller may edit them, the
//! source path checked on the host (an empty directory, no symbolic link along it, not shared
//! already), then the row, its volume's row and its event, then the devices: the volume made and
//! mounted on the source, then on the target(s).

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{self, ShareIn, ShareOut},
    resync,
};
use crate::{
    api::containers::{rules, ContainerAccess},
    auth::access::{can, find},
    db::{
        containers::ContainerRow,
        new_id,
        projects::{Level, ProjectRow},
        storage_shares::{self as shares, NewShare, VolumeRow},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    events::{publish, EventKind},
    extract::Json,
    ids::{ContainerId, ProjectId},
    lifecycle::{
        host_of,
        shares::{check_source, is_empty_dir, share_event},
        Trigger,
    },
    quota::{self, Kind},
    state::AppState,
};

enum Target {
    Container(Box<ContainerRow>),
    Project(ProjectRow),
}

/// The target the body names, as the caller may edit it (another user's: 404 as if missing).
async fn target(st: &AppState, access: &ContainerAccess<can::Shares>, input: &ShareIn) -> Result<Target> {
    let me = &access.me;
    match (&input.target_container_id, &input.target_project_id) {
        (Some(_), Some(_)) => {
            Err(ApiError::invalid("target_container_id", "give target_container_id or target_project_id, not both"))
        }
        (None, None) => Err(ApiError::invalid("target_container_id", "give target_container_id or target_project_id")),
        (Some(c), None) => {
            let id = ContainerId::parse(c)
                .ok_or_else(|| ApiError::invalid("target_container_id", "must be a container id (24 hex)"))?;
            let t = find::<ContainerRow>(st, me, &id, Level::Edit).await?;
            if t.container_id == access.row.container_id {
                return Err(ApiError::invalid("target_container_id", "a container cannot share with itself"));
            }
            if t.server_id != access.row.server_id {
                return Err(ApiError::invalid(
                    "target_container_id",
                    "the target container is on another host than the source container: shares work only \
                     between containers on the same host",
                ));
            }
            Ok(Target::Container(Box::new(t)))
        }
        (None, Some(p)) => {
            let id = ProjectId::parse(p)
                .ok_or_else(|| ApiError::invalid("target_project_id", "must be a project id (24 hex)"))?;
            Ok(Target::Project(find::<ProjectRow>(st, me, &id, Level::Edit).await?))
        }
    }
}

/// Refused (422 on `source_path`) when the path is shared already, or inside or above a shared path.
async fn check_nesting(db: impl sqlx::PgExecutor<'_>, source: &str, path: &str) -> Result<()> {
    let nested = |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"));
    match shares::paths_of_source(db, source).await?.into_iter().find(|(_, p)| nested(p, path)) {
        Some((other, p)) => Err(ApiError::invalid(
            "source_path",
            format!("{p} is already shared by share {other}: one share per directory, none inside another"),
        )),
        None => Ok(()),
    }
}

/// Create storage share
///
/// Shares `source_path` of container `{id}` with `target_container_id` (one container, on the
/// same host) or `target_project_id` (every current and future container of that project on the
/// source's host, the source itself left out). Both ends must be yours or shared with you at
/// `edit`. The share's files live in an LXD custom storage volume (`share-<share id>`), never in a
/// host path: the volume is mounted on the source at `source_path` and on the target(s) at
/// `/mnt/shares/<alias or share id>` (read-only for `readonly`); a receiver may refuse it
/// (`PATCH …/storage/incoming/{shareId}/mount`). `source_path` must be an existing, **empty**
/// directory (422 otherwise: the volume is mounted over it, so files already there would be
/// hidden; nothing is copied), with no symbolic link anywhere along it (422), and not the path of
/// another share of the same container nor inside or above one (422). Deleting the share deletes
/// the volume and the files in it.
#[utoipa::path(post, path = "/containers/{id}/storage/shares", tag = "storageShares", security(("bearer" = [])),
    params(("id" = String, Path, description = "Source container ID"), crate::idempotency::KeyHeader),
    request_body = ShareIn,
    responses((status = 201, body = Envelope<ShareOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.storage_shares"))))]
pub async fn create_share(
    State(st): State<AppState>,
    access: ContainerAccess<can::Shares>,
    Json(input): Json<ShareIn>,
) -> Result<ApiOk<ShareOut>> {
    let src = &access.row;
    let source_path = dto::source_path(&input.source_path)?;
    let mode = dto::mode("mode", &input.mode)?;
    let alias = input.alias.as_deref().map(dto::alias).transpose()?;
    let label = input.label.as_deref().map(|l| dto::text("label", l, 100)).transpose()?;
    let description = input.description.as_deref().map(|d| dto::text("description", d, 1000)).transpose()?;
    let expires_at = input.expires_at.map(dto::expires_at).transpose()?;
    let target = target(&st, &access, &input).await?;
    rules::settled(src)?;
    if let Target::Container(t) = &target {
        rules::settled(t)?;
    }
    let host = host_of(&st, src.server_id.as_deref()).await?;
    if let Err(why) = check_source(&host, &src.lxd_name, &source_path).await? {
        return Err(ApiError::invalid("source_path", why));
    }
    check_nesting(&st.db, &src.container_id, &source_path).await?;
    if !is_empty_dir(&host, &src.lxd_name, &source_path).await? {
        return Err(ApiError::invalid(
            "source_path",
            format!(
                "{source_path} is not empty: the share's volume is mounted over it and would hide its files; \
                 share an empty directory"
            ),
        ));
    }
    let pool = host.call("root_pool", |d| d.root_pool(&src.lxd_name)).await?;
    let share_id = new_id();
    let by = Trigger::user(&access.me.user.user_id);
    let mut tx = st.db.begin().await?;
    // Again under the source's lock: two creates of nested paths at once cannot both pass.
    shares::lock_source(&mut *tx, &src.container_id).await?;
    check_nesting(&mut *tx, &src.container_id, &source_path).await?;
    quota::check_account(&mut tx, &st.cfg, &src.owner_id, Kind::Shares).await?;
    let (tc, tp) = match &target {
        Target::Container(t) => (Some(t.container_id.as_str()), None),
        Target::Project(p) => (None, Some(p.project_id.as_str())),
    };
    let n = NewShare {
        share_id: &share_id,
        source_container_id: &src.container_id,
        source_path: &source_path,
        pool: &pool,
        target_container_id: tc,
        target_project_id: tp,
        mode: &mode,
        alias: alias.as_deref(),
        label: label.as_deref(),
        description: description.as_deref(),
        enabled: input.enabled.unwrap_or(true),
        expires_at,
        created_by: &access.me.user.user_id,
    };
    shares::insert(&mut *tx, &n).await.map_err(|e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            ApiError::invalid("source_path", format!("{source_path} is already shared by another share"))
        }
        // A target deleted meanwhile.
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => match &target {
            Target::Container(_) => ApiError::not_found("container_not_found", "Container not found"),
            Target::Project(_) => ApiError::not_found("project_not_found", "Project not found"),
        },
        _ => e.into(),
    })?;
    let volume = VolumeRow {
        share_id: share_id.clone(),
        server_id: src.server_id.clone(),
        pool: pool.clone(),
        volume: format!("share-{share_id}"),
    };
    shares::record_volume(&mut *tx, &volume).await?;
    let row = shares::by_id(&mut *tx, &share_id).await?.ok_or_else(dto::share_not_found)?;
    let data = json!({"source_path": source_path, "mode": mode, "target_container_id": tc, "target_project_id": tp});
    publish(&mut tx, share_event(&row, EventKind::StorageShareCreated, data)).await?;
    tx.commit().await?;
    // A host that fails here leaves the share recorded; the sweeper mounts it when it can.
    resync(&st, &share_id, false, &by).await?;
    let row = shares::by_id(&st.db, &share_id).await?.ok_or_else(dto::share_not_found)?;
    Ok(ApiOk::created("Storage share created", ShareOut::from(row)))
}
