//! The `proxyPermissionsContainer` and `proxyPermissionsProject` tags: the permission documents
//! the edge proxy reads, one per container and one per project. Both scopes have the same
//! thirteen routes; `scope_routes!` makes each scope's handlers from the shared logic in
//! `permissions`, so the two cannot drift. Every write needs `if-match: file:v<N>`; the access
//! check comes first (another user's container is a 404 whatever the header says).

pub(crate) mod dto;
mod explain;
mod hooks;
pub(crate) mod permissions;

use serde::Deserialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

#[derive(Deserialize)]
pub struct GroupPath {
    #[allow(dead_code)]
    pub id: String,
    #[serde(rename = "groupName")]
    pub group: String,
}

#[derive(Deserialize)]
pub struct ProgramPath {
    #[allow(dead_code)]
    pub id: String,
    #[serde(rename = "groupName")]
    pub group: String,
    pub program: String,
}

macro_rules! scope_routes {
    (
        mod $m:ident; op = $op:literal; tag = $tag:literal; id_doc = $id_doc:literal; read = $Read:ty; edit = $Edit:ty; body = $DocIn:ty;
        read_leaf = $rleaf:literal; edit_leaf = $eleaf:literal;
        doc = $doc:literal; group = $group:literal; password = $password:literal; token = $token:literal;
        jwt = $jwt:literal; ip = $ip:literal; perms = $perms:literal; perm = $perm:literal;
        default = $default:literal; state = $state:literal;
    ) => {
        pub mod $m {
            use axum::extract::State;
            use utoipa_axum::{router::OpenApiRouter, routes};

            use super::{
                dto::*,
                permissions::{self as p, DocReply},
                GroupPath, ProgramPath,
            };
            use crate::{
                db::documents::Versioned,
                envelope::Envelope,
                error::{ErrorBody, Result},
                extract::{IfMatch, Json, Path, Query},
                state::AppState,
            };

            /// Get proxy permissions
            ///
            /// The document with `schema_version`, `file_version` and `etag`; `?version=N` an
            /// earlier one while it is kept (the last 50). No document (never written or
            /// deleted) reads as open access: no groups, `default: allow`. Group secrets (the
            /// password hash, a token's value, a JWT key) only for a caller who may edit.
            #[utoipa::path(get, operation_id = concat!($op, "get_proxy_permissions"), path = $doc, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), VersionQuery),
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($rleaf))))]
            pub async fn get_proxy_permissions(
                State(st): State<AppState>,
                a: $Read,
                Query(q): Query<VersionQuery>,
            ) -> Result<DocReply> {
                p::read(&st, &a.me, &a.row, q.version).await
            }

            /// Replace proxy permissions
            ///
            /// The whole document: groups, per-group program rules, `default` (deny when
            /// omitted) and `enable_proxy` (stored as true when omitted). `project`
            /// (and a container's `container`) must be the path's. Needs `if-match`.
            #[utoipa::path(put, operation_id = concat!($op, "replace_proxy_permissions"), path = $doc, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = $DocIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn replace_proxy_permissions(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Json(body): Json<$DocIn>,
            ) -> Result<DocReply> {
                p::replace(&st, &a.me, &a.row, m, body).await
            }

            /// Delete proxy permissions
            ///
            /// Back to open access (`default: allow`, no groups); the version goes on.
            #[utoipa::path(delete, operation_id = concat!($op, "delete_proxy_permissions"), path = $doc, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("if-match" = String, Header, description = "file:v<N>")),
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn delete_proxy_permissions(State(st): State<AppState>, a: $Edit, m: IfMatch) -> Result<DocReply> {
                p::delete(&st, &a.me, &a.row, m).await
            }

            /// Remove an authentication group
            ///
            /// The group and its program rules (and its name from hooks' `applies_to`).
            #[utoipa::path(delete, operation_id = concat!($op, "remove_proxy_group"), path = $group, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn remove_proxy_group(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
            ) -> Result<DocReply> {
                p::remove_group(&st, &a.me, &a.row, m, &path.group).await
            }

            /// Set a password group
            ///
            /// A plain password is stored as sha256(salt + password); 64 hex is taken as that
            /// hash already. A first group on no document makes one that denies by default.
            #[utoipa::path(put, operation_id = concat!($op, "set_proxy_password_group"), path = $password, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = PasswordIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_password_group(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
                Json(body): Json<PasswordIn>,
            ) -> Result<DocReply> {
                p::set_group(&st, &a.me, &a.row, m, &path.group, "password", body.into()).await
            }

            /// Set a token group
            ///
            /// Exactly one of `header`, `cookie` or `param`, and the `value` a request must
            /// carry there (compared in constant time).
            #[utoipa::path(put, operation_id = concat!($op, "set_proxy_token_group"), path = $token, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = TokenIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_token_group(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
                Json(body): Json<TokenIn>,
            ) -> Result<DocReply> {
                p::set_group(&st, &a.me, &a.row, m, &path.group, "token", body.into()).await
            }

            /// Set a JWT group
            ///
            /// HS256 with a shared secret, RS256/ES256 with a PEM public key (refused when it
            /// does not parse); `sources` as `header:Name` or `cookie:Name`; `claims` the token
            /// must carry exactly.
            #[utoipa::path(put, operation_id = concat!($op, "set_proxy_jwt_group"), path = $jwt, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = JwtIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_jwt_group(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
                Json(body): Json<JwtIn>,
            ) -> Result<DocReply> {
                p::set_group(&st, &a.me, &a.row, m, &path.group, "jwt", body.into()).await
            }

            /// Set an IP group
            ///
            /// Requests from an IPv4 range (`a.b.c.d/n`, n in 0–32).
            #[utoipa::path(put, operation_id = concat!($op, "set_proxy_ip_group"), path = $ip, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = IpIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_ip_group(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
                Json(body): Json<IpIn>,
            ) -> Result<DocReply> {
                p::set_group(&st, &a.me, &a.row, m, &path.group, "ip", body.into()).await
            }

            /// Set a group's program permission
            ///
            /// One program's rule for a group of the document (422 when there is no such
            /// group).
            #[utoipa::path(put, operation_id = concat!($op, "set_proxy_permission"), path = $perms, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = PermissionIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_permission(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
                Json(body): Json<PermissionIn>,
            ) -> Result<DocReply> {
                p::set_permission(&st, &a.me, &a.row, m, &path.group, body.program, body.access).await
            }

            /// Remove all of a group's program permissions
            #[utoipa::path(delete, operation_id = concat!($op, "remove_proxy_permissions"), path = $perms, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("if-match" = String, Header, description = "file:v<N>")),
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn remove_proxy_permissions(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<GroupPath>,
            ) -> Result<DocReply> {
                p::remove_permission(&st, &a.me, &a.row, m, &path.group, None).await
            }

            /// Remove one program permission of a group
            #[utoipa::path(delete, operation_id = concat!($op, "remove_proxy_permission"), path = $perm, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("groupName" = String, Path, description = "Group name in the proxy permission document: 1-50 of A-Z a-z 0-9 _ -"), ("program" = String, Path, description = "Program name: 1-50 of a-z 0-9 _ - (a letter or digit first)"), ("if-match" = String, Header, description = "file:v<N>")),
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn remove_proxy_permission(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Path(path): Path<ProgramPath>,
            ) -> Result<DocReply> {
                p::remove_permission(&st, &a.me, &a.row, m, &path.group, Some(&path.program)).await
            }

            /// Update the default policy
            ///
            /// What requests no group's rule decides get.
            #[utoipa::path(patch, operation_id = concat!($op, "set_proxy_default"), path = $default, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = DefaultIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_default(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Json(body): Json<DefaultIn>,
            ) -> Result<DocReply> {
                p::set_default(&st, &a.me, &a.row, m, &body.default).await
            }

            /// Update the proxy switch
            ///
            /// `enable_proxy: false` cuts the proxy traffic before any group, rule or default
            /// (the containers keep running). A project's switch governs the containers whose
            /// own document leaves it unset.
            #[utoipa::path(patch, operation_id = concat!($op, "set_proxy_state"), path = $state, tag = $tag, security(("bearer" = [])),
                params(("id" = String, Path, description = $id_doc), ("if-match" = String, Header, description = "file:v<N>")),
                request_body = StateIn,
                responses((status = 200, body = Envelope<Versioned<DocOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
                extensions(("x-hoody-permission" = json!($eleaf))))]
            pub async fn set_proxy_state(
                State(st): State<AppState>,
                a: $Edit,
                m: IfMatch,
                Json(body): Json<StateIn>,
            ) -> Result<DocReply> {
                p::set_state(&st, &a.me, &a.row, m, body.enable_proxy).await
            }

            pub fn router() -> OpenApiRouter<AppState> {
                OpenApiRouter::new()
                    .routes(routes!(get_proxy_permissions, replace_proxy_permissions, delete_proxy_permissions))
                    .routes(routes!(remove_proxy_group))
                    .routes(routes!(set_proxy_password_group))
                    .routes(routes!(set_proxy_token_group))
                    .routes(routes!(set_proxy_jwt_group))
                    .routes(routes!(set_proxy_ip_group))
                    .routes(routes!(set_proxy_permission, remove_proxy_permissions))
                    .routes(routes!(remove_proxy_permission))
                    .routes(routes!(set_proxy_default))
                    .routes(routes!(set_proxy_state))
            }
        }
    };
}

scope_routes! {
    mod container; op = "container_"; tag = "proxyPermissionsContainer"; id_doc = "Container ID (24 hex characters)";
    read = crate::api::containers::ContainerAccess<crate::auth::access::can::ReadContainer>;
    edit = crate::api::containers::ContainerAccess<crate::auth::access::can::UpdateContainer>;
    body = ContainerDocIn;
    read_leaf = "containers.read"; edit_leaf = "containers.update";
    doc = "/containers/{id}/proxy/permissions";
    group = "/containers/{id}/proxy/permissions/groups/{groupName}";
    password = "/containers/{id}/proxy/permissions/groups/{groupName}/password";
    token = "/containers/{id}/proxy/permissions/groups/{groupName}/token";
    jwt = "/containers/{id}/proxy/permissions/groups/{groupName}/jwt";
    ip = "/containers/{id}/proxy/permissions/groups/{groupName}/ip";
    perms = "/containers/{id}/proxy/permissions/permissions/{groupName}";
    perm = "/containers/{id}/proxy/permissions/permissions/{groupName}/{program}";
    default = "/containers/{id}/proxy/permissions/default";
    state = "/containers/{id}/proxy/permissions/state";
}

scope_routes! {
    mod project; op = "project_"; tag = "proxyPermissionsProject"; id_doc = "Project ID (24 hex characters)";
    read = crate::api::projects::ProjectAccess<crate::auth::access::can::ReadProject>;
    edit = crate::api::projects::ProjectAccess<crate::auth::access::can::UpdateProject>;
    body = ProjectDocIn;
    read_leaf = "projects.read"; edit_leaf = "projects.update";
    doc = "/projects/{id}/proxy/permissions";
    group = "/projects/{id}/proxy/permissions/groups/{groupName}";
    password = "/projects/{id}/proxy/permissions/groups/{groupName}/password";
    token = "/projects/{id}/proxy/permissions/groups/{groupName}/token";
    jwt = "/projects/{id}/proxy/permissions/groups/{groupName}/jwt";
    ip = "/projects/{id}/proxy/permissions/groups/{groupName}/ip";
    perms = "/projects/{id}/proxy/permissions/permissions/{groupName}";
    perm = "/projects/{id}/proxy/permissions/permissions/{groupName}/{program}";
    default = "/projects/{id}/proxy/permissions/default";
    state = "/projects/{id}/proxy/permissions/state";
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(container::router())
        .merge(project::router())
        .routes(routes!(explain::explain_proxy_decision))
        .routes(routes!(hooks::list_proxy_hooks))
        .routes(routes!(hooks::list_service_hooks, hooks::add_proxy_hook, hooks::clear_proxy_hooks))
        .routes(routes!(hooks::get_proxy_hook, hooks::replace_proxy_hook, hooks::remove_proxy_hook))
        .routes(routes!(hooks::move_proxy_hook))
        .routes(routes!(hooks::list_proxy_services))
        .routes(routes!(hooks::get_proxy_service))
        .routes(routes!(hooks::list_proxy_groups))
        .routes(routes!(hooks::get_proxy_settings, hooks::put_proxy_settings))
}
