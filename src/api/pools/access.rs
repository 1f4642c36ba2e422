//! The pool loader every pool route uses: [`PoolAccess`] (the path's pool as the caller may
//! see it, under a policy naming the token leaf and the least role), and [`for_rental`] for a
//! pool named in a rental's body.

use std::marker::PhantomData;

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::request::Parts,
};
use serde_json::Value;
use sqlx::PgConnection;

use crate::{
    auth::{
        permissions::{leaf, Leaf},
        principal::Principal,
    },
    db::pools::{self, PoolRow},
    error::{ApiError, Result},
    events::{Event, EventKind, ResourceType},
    state::AppState,
};

pub fn pool_not_found() -> ApiError {
    ApiError::not_found("pool_not_found", "Pool not found")
}

/// A role's rank: `user` < `admin` < `owner`.
pub fn rank(role: &str) -> u8 {
    match role {
        "owner" => 3,
        "admin" => 2,
        "user" => 1,
        _ => 0,
    }
}

pub fn role_too_low(needed: &str) -> ApiError {
    ApiError::forbidden("pool_access_denied", format!("Your role in this pool does not allow this (needs {needed})"))
}

/// What a pool route needs: a token leaf and the least role in the pool.
pub trait PoolPolicy: Send + Sync + 'static {
    const LEAF: Leaf;
    /// `user`, `admin` or `owner`.
    const ROLE: &'static str;
}

macro_rules! pool_policies {
    ($($name:ident = ($role:literal, $leaf:ident);)*) => {
        /// The policies of the pool routes: `PoolAccess<may::UpdatePool>`.
        pub mod may {
            use super::{leaf, Leaf, PoolPolicy};
            $(
                pub struct $name;
                impl PoolPolicy for $name {
                    const LEAF: Leaf = leaf::$leaf;
                    const ROLE: &'static str = $role;
                }
            )*
        }
    };
}

pool_policies! {
    ReadPool = ("user", PROJECTS_READ);
    UpdatePool = ("owner", PROJECTS_UPDATE);
    DeletePool = ("owner", PROJECTS_DELETE);
    InviteMember = ("admin", PROJECTS_MEMBERS_INVITE);
    ChangeRole = ("owner", PROJECTS_MEMBERS_CHANGE_ROLES);
    RemoveMember = ("admin", PROJECTS_MEMBERS_REMOVE);
}

/// The pool of the path's `{id}`, as the caller may see it, under policy `P`: a token without
/// `P`'s leaf → 403; not an accepted member (or missing, or a malformed id) → 404; a role below
/// `P`'s → 403.
pub struct PoolAccess<P: PoolPolicy> {
    pub me: Principal,
    pub pool: PoolRow,
    _p: PhantomData<P>,
}

/// The pool `raw` names as `me` may use it with at least `role`.
pub async fn find(st: &AppState, me: &Principal, raw: &str, role: &'static str) -> Result<PoolRow> {
    if !crate::db::is_id(raw) {
        return Err(pool_not_found());
    }
    let pool = pools::visible(&st.db, raw, &me.user.user_id).await?.ok_or_else(pool_not_found)?;
    if rank(&pool.role) < rank(role) {
        return Err(role_too_low(role));
    }
    Ok(pool)
}

/// [`find`]'s check again inside `tx`, with the caller's member row locked until it ends: a
/// demotion or removal made since the request began is seen (404 or 403), and none lands
/// while `tx` acts on the role. Every write under a pool role calls this first.
pub async fn confirm(tx: &mut PgConnection, pool_id: &str, user_id: &str, role: &'static str) -> Result<String> {
    let held = pools::lock_role(tx, pool_id, user_id).await?.ok_or_else(pool_not_found)?;
    if rank(&held) < rank(role) {
        return Err(role_too_low(role));
    }
    Ok(held)
}

impl<P: PoolPolicy> PoolAccess<P> {
    /// [`confirm`] for this route's policy; the role held now replaces the one read before.
    pub async fn confirm(&mut self, tx: &mut PgConnection) -> Result<()> {
        self.pool.role = confirm(tx, &self.pool.pool_id, &self.me.user.user_id, P::ROLE).await?;
        Ok(())
    }
}

impl<P: PoolPolicy> FromRequestParts<AppState> for PoolAccess<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self> {
        let me = Principal::from_request_parts(parts, st).await?;
        me.require(P::LEAF)?;
        let params = RawPathParams::from_request_parts(parts, st)
            .await
            .map_err(|_| ApiError::bad_request("invalid_path", "The path is malformed"))?;
        let raw = params.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()).unwrap_or_default();
        let pool = find(st, &me, &raw, P::ROLE).await?;
        Ok(Self { me, pool, _p: PhantomData })
    }
}

/// The pool a rental (or an order) is made for: one the caller owns or administers. A malformed
/// id → 422 naming `pool_id`; not visible → 404; a member with role `user` → 403.
pub async fn for_rental(st: &AppState, me: &Principal, raw: &str) -> Result<String> {
    if !crate::db::is_id(raw) {
        return Err(ApiError::invalid("pool_id", "must be a pool id: 24 lowercase hex characters"));
    }
    Ok(find(st, me, raw, "admin").await?.pool_id)
}

/// One event about pool `pool_id` for each of `users` (each sees their own).
pub fn events_for(users: &[String], kind: EventKind, pool_id: &str, data: &Value) -> Vec<Event> {
    let mut seen: Vec<&String> = Vec::new();
    for u in users {
        if !seen.contains(&u) {
            seen.push(u);
        }
    }
    seen.into_iter().map(|u| Event::new(kind, ResourceType::Pool, pool_id, u, data.clone())).collect()
}
