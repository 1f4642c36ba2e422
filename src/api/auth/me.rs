//! `GET /users/me`: the SDK's alias of `GET /users/auth/me`, answered by the same handler.

use super::{dto::MeOut, session::get_current_user};
use crate::{
    auth::{access::Require, permissions::perm},
    envelope::{ApiOk, Envelope},
    error::ErrorBody,
};

/// Get current user profile (alias of /users/auth/me)
///
/// The same answer and rules as `GET /users/auth/me`.
#[utoipa::path(get, path = "/users/me", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = Envelope<MeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_current_user_alias(me: Require<perm::ReadAccount>) -> ApiOk<MeOut> {
    get_current_user(me).await
}
