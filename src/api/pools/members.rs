//! A pool's members: invitations by username (the owner and admins; only the owner invites
//! admins), role changes (the owner only) and removals (the owner and admins; only the owner
//! removes another admin). The owner's own row cannot change or go.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{InviteIn, InviteOut, RoleIn, SuccessOut},
    events_for, may, role_too_low, PoolAccess,
};
use crate::{
    db::{pools, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish_all, EventKind},
    extract::{Json, Path},
    state::AppState,
};

fn member_not_found() -> ApiError {
    ApiError::not_found("member_not_found", "Member not found")
}

fn already_invited() -> ApiError {
    ApiError::unprocessable("already_invited", "username", "this user is invited already")
}

/// Invite member
///
/// Invites the user with `username` as `admin` or `user` (only the owner invites admins; 403);
/// they join when they accept (`POST /pools/{id}/accept`). Yourself, an unknown user, a member
/// or an invitee already: 422 naming `username`. Needs admin role or higher in the pool.
#[utoipa::path(post, path = "/pools/{id}/members", tag = "poolMembers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID"), crate::idempotency::KeyHeader), request_body = InviteIn,
    responses((status = 201, body = Envelope<InviteOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.invite"))))]
pub async fn invite_member(
    State(st): State<AppState>,
    mut access: PoolAccess<may::InviteMember>,
    Json(input): Json<InviteIn>,
) -> Result<ApiOk<InviteOut>> {
    let username = input.username.trim();
    if username.is_empty() || username.chars().count() > 100 {
        return Err(ApiError::invalid("username", "must be a username: 1–100 characters"));
    }
    let user = pools::user_by_username(&st.db, username)
        .await?
        .ok_or_else(|| ApiError::unprocessable("user_not_found", "username", "no user has this username"))?;
    if user == access.me.user.user_id {
        return Err(ApiError::unprocessable("cannot_invite_self", "username", "you cannot invite yourself"));
    }
    let mut tx = st.db.begin().await?;
    access.confirm(&mut tx).await?;
    if input.role.as_str() == "admin" && access.pool.role != "owner" {
        return Err(role_too_low("owner, to invite an admin"));
    }
    let me = &access.me.user.user_id;
    let pool = &access.pool.pool_id;
    if let Some(m) = pools::member(&mut tx, pool, &user).await? {
        return Err(match m.joined_at {
            Some(_) => ApiError::unprocessable("already_member", "username", "this user is a member already"),
            None => already_invited(),
        });
    }
    let m = pools::invite(&mut tx, pool, &user, input.role.as_str(), me)
        .await
        .on_constraint("pool_member_user_key", already_invited)?;
    let data = json!({
        "pool_id": pool, "pool_name": access.pool.name, "invitation_id": m.member_id,
        "user_id": user, "role": m.role, "invited_by": me,
    });
    let mut to = pools::audience(&mut tx, pool, true).await?;
    to.push(user.clone());
    publish_all(&mut tx, &events_for(&to, EventKind::PoolInvited, pool, &data)).await?;
    tx.commit().await?;
    let out = InviteOut { id: m.member_id, role: m.role, is_authorized: false, invited_at: ts(m.invited_at) };
    Ok(ApiOk::created("Invitation sent", out))
}

/// Update member role
///
/// Only the pool owner (others: 403). Sets a member's (or an invitee's) role to `admin` or
/// `user`; the owner's own role is fixed (422 naming `userId`). Not a member: 404.
#[utoipa::path(put, path = "/pools/{id}/members/{userId}", tag = "poolMembers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID"), ("userId" = String, Path, description = "The member's user ID")),
    request_body = RoleIn,
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.change_roles"))))]
pub async fn update_member_role(
    State(st): State<AppState>,
    mut access: PoolAccess<may::ChangeRole>,
    Path(path): Path<(String, String)>,
    Json(input): Json<RoleIn>,
) -> Result<ApiOk<SuccessOut>> {
    let user = crate::api::fields::path_id(&path.1, member_not_found)?;
    let mut tx = st.db.begin().await?;
    access.confirm(&mut tx).await?;
    let pool = &access.pool.pool_id;
    let m = pools::member(&mut tx, pool, user).await?.ok_or_else(member_not_found)?;
    if m.role == "owner" {
        return Err(ApiError::unprocessable("owner_role_fixed", "userId", "the pool owner's role cannot change"));
    }
    let role = input.role.as_str();
    if m.role != role {
        pools::set_role(&mut tx, pool, user, role).await?;
        let data = json!({"pool_id": pool, "user_id": user, "role": role, "previous_role": m.role});
        let mut to = pools::audience(&mut tx, pool, false).await?;
        to.push(user.to_owned());
        publish_all(&mut tx, &events_for(&to, EventKind::PoolMemberRoleChanged, pool, &data)).await?;
    }
    tx.commit().await?;
    Ok(ApiOk::new("Member role updated", SuccessOut::yes()))
}

/// Remove member
///
/// Removes a member (they lose the use of the pool's servers, and the servers they rented for
/// it serve it no more) or withdraws an invitation. Needs
/// admin role or higher; only the owner removes another admin (403); the owner cannot be
/// removed (422 naming `userId`). Not a member: 404.
#[utoipa::path(delete, path = "/pools/{id}/members/{userId}", tag = "poolMembers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID"), ("userId" = String, Path, description = "The member's user ID")),
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.members.remove"))))]
pub async fn remove_member(
    State(st): State<AppState>,
    mut access: PoolAccess<may::RemoveMember>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<SuccessOut>> {
    let user = crate::api::fields::path_id(&path.1, member_not_found)?;
    let mut tx = st.db.begin().await?;
    access.confirm(&mut tx).await?;
    let me = &access.me.user.user_id;
    let pool = &access.pool.pool_id;
    let m = pools::member(&mut tx, pool, user).await?.ok_or_else(member_not_found)?;
    if m.role == "owner" {
        return Err(ApiError::unprocessable("owner_not_removable", "userId", "the pool owner cannot be removed"));
    }
    if m.role == "admin" && access.pool.role != "owner" && user != me {
        return Err(role_too_low("owner, to remove an admin"));
    }
    let joined = m.joined_at.is_some();
    let to = pools::audience(&mut tx, pool, !joined).await?;
    pools::remove(&mut tx, pool, user).await?;
    let data = json!({"pool_id": pool, "user_id": user, "role": m.role, "removed_by": me});
    let mut to = to;
    to.push(user.to_owned());
    let kind = if joined { EventKind::PoolMemberLeft } else { EventKind::PoolInvitationRevoked };
    publish_all(&mut tx, &events_for(&to, kind, pool, &data)).await?;
    tx.commit().await?;
    Ok(ApiOk::new(if joined { "Member removed" } else { "Invitation withdrawn" }, SuccessOut::yes()))
}
