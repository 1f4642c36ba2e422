//! The caller's own invitations: the pending ones, accepting (once: a second accept, or a
//! concurrent one, finds none to accept) and rejecting. Only the invitee sees or answers them.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{InvitationOut, SuccessOut},
    events_for,
};
use crate::{
    api::fields::path_id,
    auth::{access::Require, permissions::perm},
    db::pools,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    events::{publish_all, EventKind, Tx},
    extract::Path,
    state::AppState,
};

fn invitation_not_found() -> ApiError {
    ApiError::not_found("invitation_not_found", "No pending invitation to this pool")
}

/// No pending invitation: 409 when the caller is a member already (accepted before), else 404.
async fn none_pending(tx: &mut Tx, pool: &str, me: &str) -> Result<ApiError> {
    Ok(if pools::is_member(&mut **tx, pool, me).await? {
        ApiError::conflict("already_member", "You are a member of this pool already")
    } else {
        invitation_not_found()
    })
}

/// List pending invitations
///
/// Your invitations to pools not answered yet, newest first.
#[utoipa::path(get, path = "/pools/invitations/pending", tag = "poolInvitations", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<InvitationOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.read"))))]
pub async fn list_pending_invitations(
    State(st): State<AppState>,
    me: Require<perm::ProjectsRead>,
) -> Result<ApiOk<Vec<InvitationOut>>> {
    let rows = pools::pending(&st.db, &me.user.user_id).await?;
    Ok(ApiOk::new("Pending invitations", rows.into_iter().map(InvitationOut::from).collect()))
}

/// Accept invitation
///
/// Joins the pool `{id}` you were invited to, with the role of the invitation: you see it and
/// may use its servers. No invitation of yours: 404; accepted already: 409; in 500 pools
/// already: 409 `pool_limit_reached`.
#[utoipa::path(post, path = "/pools/{id}/accept", tag = "poolInvitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID")),
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.update"))))]
pub async fn accept_invitation(
    State(st): State<AppState>,
    me: Require<perm::ProjectsUpdate>,
    Path(id): Path<String>,
) -> Result<ApiOk<SuccessOut>> {
    let pool = path_id(&id, invitation_not_found)?;
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    let Some(role) = pools::accept(&mut tx, pool, me).await? else {
        return Err(none_pending(&mut tx, pool, me).await?);
    };
    super::manage::within_limit(&mut tx, me).await?;
    let data = json!({"pool_id": pool, "user_id": me, "role": role});
    let to = pools::audience(&mut tx, pool, false).await?;
    publish_all(&mut tx, &events_for(&to, EventKind::PoolMemberJoined, pool, &data)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Invitation accepted", SuccessOut::yes()))
}

/// Reject invitation
///
/// Turns down your invitation to the pool `{id}`. No invitation of yours: 404; a member
/// already: 409.
#[utoipa::path(post, path = "/pools/{id}/reject", tag = "poolInvitations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Pool ID")),
    responses((status = 200, body = Envelope<SuccessOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("projects.update"))))]
pub async fn reject_invitation(
    State(st): State<AppState>,
    me: Require<perm::ProjectsUpdate>,
    Path(id): Path<String>,
) -> Result<ApiOk<SuccessOut>> {
    let pool = path_id(&id, invitation_not_found)?;
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    let Some(role) = pools::reject(&mut tx, pool, me).await? else {
        return Err(none_pending(&mut tx, pool, me).await?);
    };
    let data = json!({"pool_id": pool, "user_id": me, "role": role});
    let mut to = pools::audience(&mut tx, pool, true).await?;
    to.push(me.clone());
    publish_all(&mut tx, &events_for(&to, EventKind::PoolInvitationRejected, pool, &data)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Invitation rejected", SuccessOut::yes()))
}
