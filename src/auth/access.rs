//! Requirements as extractors, so a handler's signature states its policy:
//! `Require<perm::CreateTokens>` (a session, or a token holding that leaf), `Session` (a JWT
//! session only: auth tokens are refused), `Admin` (a session of an admin user).
//! The OpenAPI document states the same per operation (`x-hoody-permission`,
//! `x-hoody-session-only`); a test walks the routes and checks both agree.

use std::{marker::PhantomData, ops::Deref};

use axum::{extract::FromRequestParts, http::request::Parts};

use super::{
    policy::Leaf,
    principal::{Auth, Principal},
};
use crate::{error::ApiError, state::AppState};

pub struct Require<L: Leaf> {
    pub me: Principal,
    _leaf: PhantomData<L>,
}

impl<L: Leaf> Deref for Require<L> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.me
    }
}

pub fn missing_permission(leaf: &str) -> ApiError {
    ApiError::forbidden("insufficient_permissions", format!("This auth token lacks the permission {leaf}"))
}

impl<L: Leaf + Send + Sync> FromRequestParts<AppState> for Require<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let me = Principal::from_request_parts(parts, st).await?;
        if !me.allows(L::PATH) {
            return Err(missing_permission(L::PATH));
        }
        Ok(Self { me, _leaf: PhantomData })
    }
}

/// A JWT session; auth tokens get 403.
pub struct Session(pub Principal);

impl Deref for Session {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let me = Principal::from_request_parts(parts, st).await?;
        match me.auth {
            Auth::Session(_) => Ok(Self(me)),
            Auth::Token(_) => Err(ApiError::forbidden(
                "session_required",
                "This endpoint needs a signed-in session (JWT); auth tokens are not accepted",
            )),
        }
    }
}

/// A session of an admin user.
pub struct Admin(pub Principal);

impl Deref for Admin {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.0
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let Session(me) = Session::from_request_parts(parts, st).await?;
        if !me.user.is_admin {
            return Err(ApiError::forbidden("admin_required", "This endpoint is for administrators"));
        }
        Ok(Self(me))
    }
}
