//! Access to projects and containers, as extractors: `ProjectAccess<P>` and `ContainerAccess<P>`
//! load the row named by the path's `{id}` as the caller may see it and check the policy `P`:
//! the token leaf it needs (a session holds every leaf) and the least project level (owner,
//! or a `read` / `edit` / `delete` permission row). Not visible (another user's, or outside the
//! request's realm) → 404, the same as missing; visible without the level → 403.

use std::marker::PhantomData;

use axum::{
    extract::{FromRequestParts, RawPathParams},
    http::request::Parts,
};

use super::{access::missing_permission, principal::Principal};
use crate::{
    db::{
        containers::{self, ContainerRow},
        projects::{self, Level, ProjectRow},
    },
    error::ApiError,
    state::AppState,
};

/// What a route needs: a token leaf and a project level.
pub trait Policy {
    const LEAF: &'static str;
    const LEVEL: Level;
}

macro_rules! policies {
    ($($name:ident = ($level:ident, $leaf:literal);)*) => {
        pub mod policy {
            use super::{Level, Policy};
            $(pub struct $name; impl Policy for $name { const LEAF: &'static str = $leaf; const LEVEL: Level = Level::$level; })*
        }
    };
}

policies! {
    ReadProject = (Read, "projects.read");
    UpdateProject = (Edit, "projects.update");
    DeleteProject = (Owner, "projects.delete");
    ListMembers = (Owner, "projects.read");
    InviteMember = (Owner, "projects.members.invite");
    ChangeMember = (Owner, "projects.members.change_roles");
    RemoveMember = (Owner, "projects.members.remove");
    CreateContainer = (Edit, "containers.create");
    ReadContainers = (Read, "containers.read");
    ReadContainer = (Read, "containers.read");
    UpdateContainer = (Edit, "containers.update");
    DeleteContainer = (Delete, "containers.delete");
    ReadSnapshots = (Read, "containers.features.snapshots");
    Snapshots = (Edit, "containers.features.snapshots");
    ReadNetwork = (Read, "containers.features.networking");
    Networking = (Edit, "containers.features.networking");
    CopyContainer = (Edit, "containers.create");
    Authorize = (Edit, "containers.actions.exec");
    Kvm = (Edit, "containers.features.kvm");
}

/// The caller, holding the policy's leaf, and the path's `{id}`.
async fn caller<P: Policy>(parts: &mut Parts, st: &AppState) -> Result<(Principal, String), ApiError> {
    let me = Principal::from_request_parts(parts, st).await?;
    if !me.allows(P::LEAF) {
        return Err(missing_permission(P::LEAF));
    }
    let raw = RawPathParams::from_request_parts(parts, st)
        .await
        .map_err(|_| ApiError::bad_request("invalid_path", "The path is malformed"))?;
    let id = raw.iter().find(|(k, _)| *k == "id").map(|(_, v)| v.to_owned()).unwrap_or_default();
    Ok((me, id))
}

fn in_realm(me: &Principal, realm_ids: &[String]) -> bool {
    me.realm.as_ref().is_none_or(|r| realm_ids.contains(r))
}

fn level_too_low(what: &str, needed: Level) -> ApiError {
    ApiError::forbidden(
        "project_access_denied",
        format!("Your access to this {what} does not allow this (needs {})", needed.as_str()),
    )
}

pub fn project_not_found() -> ApiError {
    ApiError::not_found("project_not_found", "Project not found")
}

pub fn container_not_found() -> ApiError {
    ApiError::not_found("container_not_found", "Container not found")
}

/// The project `id` as `me` may use it at `level`.
pub async fn project(st: &AppState, me: &Principal, id: &str, level: Level) -> Result<ProjectRow, ApiError> {
    if !crate::db::is_id(id) {
        return Err(project_not_found());
    }
    let p = projects::visible(&st.db, id, &me.user.user_id).await?.ok_or_else(project_not_found)?;
    if !in_realm(me, &p.realm_ids) {
        return Err(project_not_found());
    }
    if p.level() < level {
        return Err(level_too_low("project", level));
    }
    Ok(p)
}

/// The container `id` as `me` may use it at `level`.
pub async fn container(st: &AppState, me: &Principal, id: &str, level: Level) -> Result<ContainerRow, ApiError> {
    if !crate::db::is_id(id) {
        return Err(container_not_found());
    }
    let c = containers::visible(&st.db, id, &me.user.user_id).await?.ok_or_else(container_not_found)?;
    if !in_realm(me, &c.realm_ids) {
        return Err(container_not_found());
    }
    if c.level() < level {
        return Err(level_too_low("container's project", level));
    }
    Ok(c)
}

pub struct ProjectAccess<P: Policy> {
    pub me: Principal,
    pub project: ProjectRow,
    _p: PhantomData<P>,
}

impl<P: Policy + Send + Sync> FromRequestParts<AppState> for ProjectAccess<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let (me, id) = caller::<P>(parts, st).await?;
        let project = project(st, &me, &id, P::LEVEL).await?;
        Ok(Self { me, project, _p: PhantomData })
    }
}

pub struct ContainerAccess<P: Policy> {
    pub me: Principal,
    pub container: ContainerRow,
    _p: PhantomData<P>,
}

impl<P: Policy + Send + Sync> FromRequestParts<AppState> for ContainerAccess<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let (me, id) = caller::<P>(parts, st).await?;
        let container = container(st, &me, &id, P::LEVEL).await?;
        Ok(Self { me, container, _p: PhantomData })
    }
}
