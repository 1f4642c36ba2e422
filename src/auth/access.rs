//! Requirements as extractors, so a handler's signature states its policy:
//! `Require<perm::CreateTokens>` (a session, or a token holding that leaf), `Session` (a JWT
//! session only: auth tokens are refused), `Admin` (a session of an admin user), and
//! `Access<R, P>`: the resource `R` named by the path, as the caller may see it, under the
//! policy `P` (a token leaf and the least project level).
//! The OpenAPI document states the same per operation (`x-hoody-permission`,
//! `x-hoody-session-only`); a test walks the routes and checks both agree.

use std::{future::Future, marker::PhantomData, ops::Deref};

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::request::Parts,
};

use super::{
    permissions::{leaf, Leaf, RequiredLeaf},
    principal::{Auth, Principal},
};
use crate::{db::projects::Level, error::ApiError, ids::PublicId, state::AppState};

pub struct Require<L: RequiredLeaf> {
    pub me: Principal,
    _leaf: PhantomData<L>,
}

impl<L: RequiredLeaf> Deref for Require<L> {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.me
    }
}

pub fn missing_permission(leaf: Leaf) -> ApiError {
    ApiError::forbidden("insufficient_permissions", format!("This auth token lacks the permission {}", leaf.path()))
}

impl Principal {
    /// 403 unless the caller holds `leaf` (a session holds every leaf).
    pub fn require(&self, leaf: Leaf) -> Result<(), ApiError> {
        if self.allows(leaf) {
            Ok(())
        } else {
            Err(missing_permission(leaf))
        }
    }
}

impl<L: RequiredLeaf + Send + Sync> FromRequestParts<AppState> for Require<L> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let me = Principal::from_request_parts(parts, st).await?;
        me.require(L::LEAF)?;
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

/// Something under a project that a path names by id (a project, a container; firewall rules,
/// shares, aliases and proxy documents as they come): how to load it as a caller may see it.
pub trait Resource: Sized + Send + 'static {
    /// Its id type (`ContainerId`…): a path segment that does not parse as one is never looked up.
    type Id: PublicId;
    /// The path parameter that holds its id.
    const PARAM: &'static str = "id";
    /// How a 403 names it ("project", "container's project").
    const WHAT: &'static str;

    /// The row as `me` may see it (they own its project or hold a permission on it), with their
    /// level; `None` when it is missing or not theirs to see.
    fn load(
        st: &AppState,
        me: &Principal,
        id: &Self::Id,
    ) -> impl Future<Output = Result<Option<Self>, ApiError>> + Send;

    /// The 404 for a missing (or invisible) one: the same body either way.
    fn not_found() -> ApiError;

    /// The caller's level on its project.
    fn level(&self) -> Level;

    /// The realms it is in (a realm-scoped request sees only its realm's).
    fn realm_ids(&self) -> &[String];
}

/// What a route needs: a token leaf (`None`: the handler checks one that depends on the
/// request) and a project level.
pub trait Policy: Send + Sync + 'static {
    const LEAF: Option<Leaf>;
    const LEVEL: Level;
}

macro_rules! policies {
    ($($(#[$doc:meta])* $name:ident = ($level:ident $(, $leaf:ident)?);)*) => {
        /// The policies routes under a project use: `Access<ContainerRow, can::UpdateContainer>`.
        pub mod can {
            #[allow(unused_imports)]
            use super::{leaf, Leaf, Level, Policy};
            $(
                $(#[$doc])*
                pub struct $name;
                impl Policy for $name {
                    const LEAF: Option<Leaf> = policies!(@leaf $($leaf)?);
                    const LEVEL: Level = Level::$level;
                }
            )*
        }
    };
    (@leaf $leaf:ident) => { Some(leaf::$leaf) };
    (@leaf) => { None };
}

policies! {
    ReadProject = (Read, PROJECTS_READ);
    UpdateProject = (Edit, PROJECTS_UPDATE);
    DeleteProject = (Owner, PROJECTS_DELETE);
    ListMembers = (Owner, PROJECTS_READ);
    InviteMember = (Owner, PROJECTS_MEMBERS_INVITE);
    ChangeMember = (Owner, PROJECTS_MEMBERS_CHANGE_ROLES);
    RemoveMember = (Owner, PROJECTS_MEMBERS_REMOVE);
    CreateContainer = (Edit, CONTAINERS_CREATE);
    ReadContainers = (Read, CONTAINERS_READ);
    ReadContainer = (Read, CONTAINERS_READ);
    UpdateContainer = (Edit, CONTAINERS_UPDATE);
    DeleteContainer = (Delete, CONTAINERS_DELETE);
    /// The operation's own leaf (start, stop, restart) is checked by the handler.
    OperateContainer = (Edit);
    ReadSnapshots = (Read, CONTAINERS_FEATURES_SNAPSHOTS);
    Snapshots = (Edit, CONTAINERS_FEATURES_SNAPSHOTS);
    ReadNetwork = (Read, CONTAINERS_FEATURES_NETWORKING);
    Networking = (Edit, CONTAINERS_FEATURES_NETWORKING);
    CopyContainer = (Edit, CONTAINERS_CREATE);
    Authorize = (Edit, CONTAINERS_ACTIONS_EXEC);
    Kvm = (Edit, CONTAINERS_FEATURES_KVM);
    ReadFirewall = (Read, RESOURCES_FIREWALLS);
    Firewall = (Edit, RESOURCES_FIREWALLS);
    ReadShares = (Read, RESOURCES_STORAGE_SHARES);
    Shares = (Edit, RESOURCES_STORAGE_SHARES);
}

/// `R` named by the path, as the caller may see it, under policy `P`: a token without `P`'s
/// leaf → 403; not visible (missing, another user's, outside the request's realm, or a
/// malformed id) → `R`'s 404, the same body either way; visible below `P`'s level → 403.
pub struct Access<R: Resource, P: Policy> {
    pub me: Principal,
    pub row: R,
    _p: PhantomData<P>,
}

pub(crate) fn level_too_low(what: &str, needed: Level) -> ApiError {
    ApiError::forbidden(
        "project_access_denied",
        format!("Your access to this {what} does not allow this (needs {})", needed.as_str()),
    )
}

/// `R` with id `id` as `me` may use it at `level` (for ids that come in a body, not the path).
pub async fn find<R: Resource>(st: &AppState, me: &Principal, id: &R::Id, level: Level) -> Result<R, ApiError> {
    let row = R::load(st, me, id).await?.ok_or_else(R::not_found)?;
    if me.realm.as_ref().is_some_and(|r| !row.realm_ids().contains(r)) {
        return Err(R::not_found());
    }
    if row.level() < level {
        return Err(level_too_low(R::WHAT, level));
    }
    Ok(row)
}

impl<R: Resource, P: Policy> FromRequestParts<AppState> for Access<R, P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let me = Principal::from_request_parts(parts, st).await?;
        if let Some(leaf) = P::LEAF {
            me.require(leaf)?;
        }
        let params = RawPathParams::from_request_parts(parts, st)
            .await
            .map_err(|_| ApiError::bad_request("invalid_path", "The path is malformed"))?;
        let raw = params.iter().find(|(k, _)| *k == R::PARAM).map(|(_, v)| v).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_path",
            message: format!("The path has no {{{}}}", R::PARAM).into(),
            fields: vec![crate::error::FieldError::new(R::PARAM, "is required")],
        })?;
        // A malformed id names nothing: the same 404 as a missing one (never a lookup).
        let id = R::Id::parse(raw).ok_or_else(R::not_found)?;
        let row = find::<R>(st, &me, &id, P::LEVEL).await?;
        Ok(Self { me, row, _p: PhantomData })
    }
}
