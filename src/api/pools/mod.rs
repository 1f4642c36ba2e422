//! The `pools`, `poolMembers` and `poolInvitations` tags: pools of users around servers rented
//! for them. Every pool route loads the pool through [`PoolAccess`]: visible to its accepted
//! members (404 to anyone else, as if missing), refused (403) below the role a route needs
//! (`user` < `admin` < `owner`), and checked again, the caller's member row locked, inside
//! the transaction of every write ([`PoolAccess::confirm`]). Invitations are member rows not accepted yet; their routes are
//! the invitee's own.

mod access;
pub(crate) mod dto;
mod invitations;
mod manage;
mod members;

pub use access::{confirm, events_for, for_rental, may, pool_not_found, role_too_low, PoolAccess};
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manage::create_pool, manage::list_pools))
        .routes(routes!(manage::get_pool, manage::update_pool, manage::delete_pool))
        .routes(routes!(members::invite_member))
        .routes(routes!(members::update_member_role, members::remove_member))
        .routes(routes!(invitations::list_pending_invitations))
        .routes(routes!(invitations::accept_invitation))
        .routes(routes!(invitations::reject_invitation))
}
