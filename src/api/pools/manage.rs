//! Creating, listing, reading, changing and deleting pools. Each account has a default pool,
//! made the first time it lists or creates pools, which can never be deleted.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{PoolCreatedOut, PoolIn, PoolListOut, PoolOut, PoolUpdateIn, SuccessOut},
    events_for, may, pool_not_found, PoolAccess,
};
use crate::{
    api::fields,
    auth::{access::Require, permissions::perm},
    db::{pools, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish_all, EventKind, Tx},
    extract::Json,
    state::AppState,
};

const SETTINGS_MAX: usize = 16 * 1024;

fn name_taken() -> ApiError {
    ApiError::conflict("pool_name_taken", "You already have a pool with this name")
}

fn description(d: Option<&str>) -> Result<Option<String>> {
    match d {
        Some(d) if d.chars().count() > 1000 => Err(ApiError::invalid("description", "must be at most 1000 characters")),
        Some(d) if d.trim().is_empty() => Ok(None),
        Some(d) => Ok(Some(d.to_owned())),
        None => Ok(None),
    }
}

/// Make `user_id`'s default pool if it has none (announced to them).
async fn ensure_default(tx: &mut Tx, user_id: &str) -> Result<()> {
    if let Some(id) = pools::ensure_default(tx, user_id).await? {
        let data = json!({"pool_id": id, "name": pools::DEFAULT_NAME, "is_default": true});
        publish_all(tx, &events_for(&[user_id.to_owned()], EventKind::PoolCreated, &id, &data)).await?;
    }
    Ok(())
}

/// After a create or an accept in `tx`: refuse it (409 `pool_limit_reached`, `tx` to be dropped)
/// when it takes `user_id` past [`pools::MEMBERSHIPS_MAX`] pools, counted under their lock so
/// that concurrent creates and accepts never pass the limit together.
pub(super) async fn within_limit(tx: &mut Tx, user_id: &str) -> Result<()> {
    crate::db::quotas::lock(tx, "pools", user_id).await?;
    if pools::memberships(&mut **tx, user_id).await? > pools::MEMBERSHIPS_MAX {
        return Err(ApiError::conflict(
            "pool_limit_reached",
            format!("You are in {} pools, the most one account may be in", pools::MEMBERSHIPS_MAX),
        ));
    }
    Ok(())
}

/// Create pool
///
/// `name` is unique among your pools (409 `pool_name_taken`); `settings` is a JSON object. You
/// are its owner. An account is in at most 500 pools, its own included (409
/// `pool_limit_reached`).
#[utoipa::path(post, path = "/pools", tag = "pools", security(("bearer" = [])), request_body = PoolIn,
    params(crate::idempotency::KeyHeader),
    responses((status = 201, body = Envelope<PoolCreatedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.create"))))]
pub async fn create_pool(
    State(st): State<AppState>,
    me: Require<perm::ProjectsCreate>,
    Json(input): Json<PoolIn>,
) -> Result<ApiOk<PoolCreatedOut>> {
    let name = fields::alias("name", &input.name)?;
    let description = description(input.description.as_deref())?;
    let settings = input.settings.unwrap_or_else(|| json!({}));
    fields::json_object("settings", &settings, SETTINGS_MAX)?;
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    ensure_default(&mut tx, me).await?;
    let row = pools::insert(&mut tx, me, &name, description.as_deref(), &settings)
        .await
        .on_constraint("pool_owner_name_key", name_taken)?;
    within_limit(&mut tx, me).await?;
    let data = json!({"pool_id": row.pool_id, "name": row.name, "is_default": false});
    publish_all(&mut tx, &events_for(std::slice::from_ref(me), EventKind::PoolCreated, &row.pool_id, &data)).await?;
    tx.commit().await?;
    Ok(ApiOk::created("Pool created", PoolCreatedOut::from(&row)))
}

/// List user pools
///
/// The pools you own (your default pool first) and those you are an accepted member of, oldest
/// first, with your role, the accepted members and the servers rented for each.
#[utoipa::path(get, path = "/pools", tag = "pools", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<PoolListOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn list_pools(
    State(st): State<AppState>,
    me: Require<perm::ProjectsRead>,
) -> Result<ApiOk<Vec<PoolListOut>>> {
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    ensure_default(&mut tx, me).await?;
    tx.commit().await?;
    let rows = pools::list_for(&st.db, me).await?;
    Ok(ApiOk::new("Pools", rows.into_iter().map(PoolListOut::from).collect()))
}

/// Get pool details
///
/// For its accepted members: the pool, its members and pending invitations (`is_authorized:
/// false`), and the servers rented for it now. Anyone else: 404.
#[utoipa::path(get, path = "/pools/{id}", tag = "pools", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID")),
    responses((status = 200, body = Envelope<PoolOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn get_pool(State(st): State<AppState>, access: PoolAccess<may::ReadPool>) -> Result<ApiOk<PoolOut>> {
    let p = access.pool;
    let members = pools::members(&st.db, &p.pool_id).await?;
    let servers = pools::servers(&st.db, &p.pool_id).await?;
    let out = PoolOut {
        id: p.pool_id,
        name: p.name,
        description: p.description,
        is_default: p.is_default,
        settings: p.settings,
        created_at: ts(p.created_at),
        updated_at: ts(p.updated_at),
        owner_id: Some(p.owner_id),
        members: members.into_iter().map(Into::into).collect(),
        servers: servers.into_iter().map(Into::into).collect(),
    };
    Ok(ApiOk::new("Pool", out))
}

/// Update pool
///
/// Only the owner (others: 403). `description` (`""` clears it) and `settings` (a JSON object,
/// replacing the old) as given; what is omitted stays (`{}` changes nothing).
#[utoipa::path(put, path = "/pools/{id}", tag = "pools", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID")), request_body = PoolUpdateIn,
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.update"))))]
pub async fn update_pool(
    State(st): State<AppState>,
    mut access: PoolAccess<may::UpdatePool>,
    Json(input): Json<PoolUpdateIn>,
) -> Result<ApiOk<SuccessOut>> {
    let description = match input.description.as_deref() {
        Some(d) => Some(description(Some(d))?),
        None => None,
    };
    if let Some(s) = &input.settings {
        fields::json_object("settings", s, SETTINGS_MAX)?;
    }
    if description.is_none() && input.settings.is_none() {
        return Ok(ApiOk::new("Nothing to update", SuccessOut::yes()));
    }
    let mut tx = st.db.begin().await?;
    access.confirm(&mut tx).await?;
    let id = &access.pool.pool_id;
    pools::update(&mut tx, id, description.as_ref().map(Option::as_deref), input.settings.as_ref()).await?;
    let mut changed: Vec<&str> = Vec::new();
    if description.is_some() {
        changed.push("description");
    }
    if input.settings.is_some() {
        changed.push("settings");
    }
    let members = pools::audience(&mut tx, id, false).await?;
    let data = json!({"pool_id": id, "changed": changed});
    publish_all(&mut tx, &events_for(&members, EventKind::PoolUpdated, id, &data)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Pool updated", SuccessOut::yes()))
}

/// Delete pool
///
/// Only the owner (others: 403); your default pool never (409 `default_pool`). Its members
/// lose the use of the servers rented for it; those rentals stay their renters'.
#[utoipa::path(delete, path = "/pools/{id}", tag = "pools", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID")),
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.delete"))))]
pub async fn delete_pool(
    State(st): State<AppState>,
    mut access: PoolAccess<may::DeletePool>,
) -> Result<ApiOk<SuccessOut>> {
    if access.pool.is_default {
        return Err(ApiError::conflict("default_pool", "The default pool cannot be deleted"));
    }
    let mut tx = st.db.begin().await?;
    access.confirm(&mut tx).await?;
    let id = &access.pool.pool_id;
    let gone = pools::delete(&mut tx, id).await?.ok_or_else(pool_not_found)?;
    let data = json!({"pool_id": id, "name": access.pool.name});
    let (joined, invited): (Vec<_>, Vec<_>) = gone.into_iter().partition(|(_, j)| *j);
    let joined: Vec<String> = joined.into_iter().map(|(u, _)| u).collect();
    let invited: Vec<String> = invited.into_iter().map(|(u, _)| u).collect();
    let mut all = events_for(&joined, EventKind::PoolDeleted, id, &data);
    all.extend(events_for(&invited, EventKind::PoolInvitationRevoked, id, &data));
    publish_all(&mut tx, &all).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Pool deleted", SuccessOut::yes()))
}
