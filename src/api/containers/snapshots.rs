//! Snapshots: LXD keeps them (name, time, expiry); we keep their aliases and last restore.

use std::collections::HashMap;

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{rules, ContainerAccess};
use crate::{
    auth::access::can,
    db::{containers::ContainerRow, snapshots, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Json, Path},
    host::SnapshotInfo,
    lifecycle::{
        self, host_of,
        ops::{self, snapshot_not_found as not_found},
        Trigger,
    },
    state::AppState,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "before-upgrade", "expiry": 30}))]
pub struct SnapshotIn {
    /// A name to recognise it by (≤ 100 characters).
    pub alias: Option<String>,
    /// Days until the host deletes it (1–3650); kept until deleted when omitted.
    pub expiry: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "before-upgrade"}))]
pub struct AliasIn {
    /// The new alias; null removes it.
    pub alias: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotOut {
    pub name: String,
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub created_at: Option<String>,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
    pub stateful: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotCreatedOut {
    pub container_id: String,
    pub project_id: String,
    pub snapshot: SnapshotOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotListOut {
    pub container_id: String,
    pub project_id: String,
    pub snapshot_count: usize,
    pub max_snapshots: Option<i64>,
    pub snapshots: Vec<SnapshotOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotRestoredOut {
    pub success: bool,
    pub message: String,
    pub snapshot: Option<SnapshotOut>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SnapshotDeletedOut {
    pub container_id: String,
    pub project_id: String,
    pub snapshot_name: String,
}

fn name_ok(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

type Meta = HashMap<String, (Option<String>, Option<DateTime<Utc>>)>;

async fn meta(st: &AppState, container_id: &str) -> Result<Meta> {
    let rows = snapshots::of_container(&st.db, container_id).await?;
    Ok(rows.into_iter().map(|r| (r.name, (r.alias, r.last_used_at))).collect())
}

fn out(s: &SnapshotInfo, meta: &Meta) -> SnapshotOut {
    let (alias, used) = meta.get(&s.name).cloned().unwrap_or_default();
    SnapshotOut {
        name: s.name.clone(),
        alias,
        created_at: s.created_at.map(ts),
        last_used_at: used.map(ts),
        expires_at: s.expires_at.map(ts),
        stateful: false,
    }
}

async fn on_host(st: &AppState, c: &ContainerRow) -> Result<Vec<SnapshotInfo>> {
    let host = host_of(st, c.server_id.as_deref()).await?;
    Ok(host.call("snapshots", |d| d.snapshots(&c.lxd_name)).await?)
}

/// Create container snapshot
///
/// `expiry` (days) becomes the snapshot's `expires_at` on the host, which removes it then.
#[utoipa::path(post, path = "/containers/{id}/snapshots", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), crate::idempotency::KeyHeader), request_body = SnapshotIn,
    responses((status = 201, body = Envelope<SnapshotCreatedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.snapshots"))))]
pub async fn create_snapshot(
    State(st): State<AppState>,
    access: ContainerAccess<can::Snapshots>,
    Json(input): Json<SnapshotIn>,
) -> Result<ApiOk<SnapshotCreatedOut>> {
    let c = &access.row;
    rules::settled(c)?;
    let alias = input.alias.as_deref().map(|a| crate::api::fields::alias("alias", a)).transpose()?;
    if input.expiry.is_some_and(|d| !(1..=3650).contains(&d)) {
        return Err(ApiError::invalid("expiry", "must be 1–3650 days"));
    }
    let now = Utc::now();
    let name = format!("snap-{}-{}", now.format("%Y%m%d%H%M%S"), &crate::db::new_id()[..4]);
    let expires_at = input.expiry.map(|d| now + chrono::Duration::days(d));
    let by = Trigger::user(&access.me.user.user_id);
    let op = ops::TakeSnapshot::new(c.clone(), name.clone(), alias.clone(), expires_at, st.cfg.max_snapshots, by);
    lifecycle::run(&st, op).await?;
    let snapshot = SnapshotOut {
        name,
        alias,
        created_at: Some(ts(now)),
        last_used_at: None,
        expires_at: expires_at.map(ts),
        stateful: false,
    };
    Ok(ApiOk::created(
        "Snapshot created",
        SnapshotCreatedOut { container_id: c.container_id.clone(), project_id: c.project_id.clone(), snapshot },
    ))
}

/// Get container snapshots
#[utoipa::path(get, path = "/containers/{id}/snapshots", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<SnapshotListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.snapshots"))))]
pub async fn list_snapshots(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadSnapshots>,
) -> Result<ApiOk<SnapshotListOut>> {
    let c = &access.row;
    let list = on_host(&st, c).await?;
    let meta = meta(&st, &c.container_id).await?;
    let snapshots: Vec<SnapshotOut> = list.iter().map(|s| out(s, &meta)).collect();
    Ok(ApiOk::new(
        "Snapshots",
        SnapshotListOut {
            container_id: c.container_id.clone(),
            project_id: c.project_id.clone(),
            snapshot_count: snapshots.len(),
            max_snapshots: Some(st.cfg.max_snapshots),
            snapshots,
        },
    ))
}

/// Restore container from snapshot
#[utoipa::path(method(put, patch), path = "/containers/{id}/snapshots/{name}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("name" = String, Path, description = "Snapshot name")),
    responses((status = 200, body = Envelope<SnapshotRestoredOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.snapshots"))))]
pub async fn restore_snapshot(
    State(st): State<AppState>,
    access: ContainerAccess<can::Snapshots>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<SnapshotRestoredOut>> {
    let name = path.1;
    let c = &access.row;
    rules::settled(c)?;
    if !name_ok(&name) {
        return Err(not_found());
    }
    let by = Trigger::user(&access.me.user.user_id);
    let restored = lifecycle::run(&st, ops::RestoreSnapshot::new(c.clone(), name.clone(), by.clone())).await;
    // The restore removed the share devices the snapshot brought back: put back those of now,
    // also after a restore that failed half-way (whatever devices it left are made right).
    lifecycle::shares::sync_container(&st, &c.container_id, &by).await;
    let found = restored?;
    let meta = meta(&st, &c.container_id).await?;
    Ok(ApiOk::new(
        "Snapshot restored",
        SnapshotRestoredOut {
            success: true,
            message: format!("Restored from {name}"),
            snapshot: Some(out(&found, &meta)),
        },
    ))
}

/// Delete container snapshot
#[utoipa::path(delete, path = "/containers/{id}/snapshots/{name}", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("name" = String, Path, description = "Snapshot name")),
    responses((status = 200, body = Envelope<SnapshotDeletedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.snapshots"))))]
pub async fn delete_snapshot(
    State(st): State<AppState>,
    access: ContainerAccess<can::Snapshots>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<SnapshotDeletedOut>> {
    let name = path.1;
    let c = &access.row;
    rules::settled(c)?;
    if !name_ok(&name) {
        return Err(not_found());
    }
    let by = Trigger::user(&access.me.user.user_id);
    lifecycle::run(&st, ops::DeleteSnapshot::new(c.clone(), name.clone(), by)).await?;
    Ok(ApiOk::new(
        "Snapshot deleted",
        SnapshotDeletedOut {
            container_id: c.container_id.clone(),
            project_id: c.project_id.clone(),
            snapshot_name: name,
        },
    ))
}

/// Update snapshot alias
#[utoipa::path(method(put, patch), path = "/containers/{id}/snapshots/{name}/alias", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("name" = String, Path, description = "Snapshot name")),
    request_body = AliasIn,
    responses((status = 200, body = Envelope<SnapshotCreatedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.features.snapshots"))))]
pub async fn update_snapshot_alias(
    State(st): State<AppState>,
    access: ContainerAccess<can::Snapshots>,
    Path(path): Path<(String, String)>,
    Json(input): Json<AliasIn>,
) -> Result<ApiOk<SnapshotCreatedOut>> {
    let name = path.1;
    let c = &access.row;
    let alias = input.alias.as_deref().map(|a| crate::api::fields::alias("alias", a)).transpose()?;
    if !name_ok(&name) {
        return Err(not_found());
    }
    let list = on_host(&st, c).await?;
    let found = list.iter().find(|s| s.name == name).ok_or_else(not_found)?;
    snapshots::set_alias(&st.db, &c.container_id, &name, alias.as_deref()).await?;
    let meta = meta(&st, &c.container_id).await?;
    Ok(ApiOk::new(
        "Snapshot alias updated",
        SnapshotCreatedOut {
            container_id: c.container_id.clone(),
            project_id: c.project_id.clone(),
            snapshot: out(found, &meta),
        },
    ))
}
