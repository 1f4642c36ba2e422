//! What every permission-document route does, for either scope: read (the current version or a
//! kept one), and write conditionally on the `if-match` version in one transaction with its
//! event. The routes themselves (`mod.rs`) only pick the scope and the change.

use std::collections::HashMap;

use serde_json::{json, Value};

use super::dto::{DocIn, DocOut};
use crate::{
    auth::{access::Resource, permissions::Leaf, principal::Principal},
    db::{
        containers::ContainerRow,
        documents::{self, Versioned},
        projects::{Level, ProjectRow},
    },
    envelope::ApiOk,
    error::{ApiError, FieldError, Result},
    events::{publish, Event, EventKind, ResourceType},
    extract::IfMatch,
    lifecycle::{
        ops::{push_proxy_file_soon, ProxyFileReach},
        Trigger,
    },
    proxy::{check_group_name, group, Document, Policy, Scope},
    state::AppState,
};

/// A row that owns a document: a container or a project.
pub trait Owner: Resource {
    /// The leaf a token needs to see the document's secrets (and to write it).
    const UPDATE: Leaf;
    fn scope(&self) -> Scope;
    /// Whose events they are (the project's owner; grantees see them through the project).
    fn owner(&self) -> &str;
}

impl Owner for ContainerRow {
    const UPDATE: Leaf = crate::auth::permissions::leaf::CONTAINERS_UPDATE;
    fn scope(&self) -> Scope {
        Scope::Container { project_id: self.project_id.clone(), container_id: self.container_id.clone() }
    }
    fn owner(&self) -> &str {
        &self.owner_id
    }
}

impl Owner for ProjectRow {
    const UPDATE: Leaf = crate::auth::permissions::leaf::PROJECTS_UPDATE;
    fn scope(&self) -> Scope {
        Scope::Project { project_id: self.project_id.clone() }
    }
    fn owner(&self) -> &str {
        &self.user_id
    }
}

pub type DocReply = ApiOk<Versioned<DocOut>>;

/// The document as its API shows it: no document is open access.
pub fn out(scope: &Scope, doc: Option<&Document>, secrets: bool) -> DocOut {
    let open = Document::open();
    let d = doc.unwrap_or(&open);
    let container = scope.container_id().map(str::to_owned);
    DocOut {
        project: scope.project_id().to_owned(),
        enable_proxy: match scope {
            Scope::Project { .. } => Some(d.enable_proxy.unwrap_or(true)),
            Scope::Container { .. } => d.enable_proxy,
        },
        hooks: container.as_ref().map(|_| d.hooks_view()),
        container,
        groups: d.groups_view(secrets),
        permissions: serde_json::to_value(&d.permissions).unwrap_or(Value::Null),
        default: d.default,
        schema_version: d.schema_version,
    }
}

/// The current document (or version `version` while it is kept), with its version.
pub async fn load(st: &AppState, scope: &Scope, version: Option<i64>) -> Result<(Option<Document>, i64)> {
    match version {
        None => {
            let d = documents::read(&st.db, scope.kind(), scope.key()).await?;
            Ok((Document::stored(d.body.as_ref()), d.version))
        }
        Some(v) => {
            let d = documents::read_version(&st.db, scope.kind(), scope.key(), v).await?.ok_or_else(|| {
                ApiError::not_found("document_version_not_found", format!("Version {v} is not kept (the last 50 are)"))
            })?;
            Ok((Document::stored(d.body.as_ref()), d.version))
        }
    }
}

/// GET: the document as `me` may see it (secrets only with edit rights and, for a token, the
/// update leaf).
pub async fn read<R: Owner>(st: &AppState, me: &Principal, row: &R, version: Option<i64>) -> Result<DocReply> {
    if version.is_some_and(|v| v < 1) {
        return Err(ApiError::invalid("version", "must be 1 or more"));
    }
    let scope = row.scope();
    let (doc, v) = load(st, &scope, version).await?;
    let secrets = row.level() >= Level::Edit && me.allows(R::UPDATE);
    Ok(ApiOk::new("Proxy permissions", Versioned::new(out(&scope, doc.as_ref(), secrets), v)))
}

/// What a write did, for its event.
pub enum Change {
    Replaced,
    Deleted,
    GroupSet { name: String, new: bool },
    GroupRemoved(String),
    Permissions(String),
    Default(Policy),
    State(bool),
    Settings,
    Hooks(String),
}

impl Change {
    fn event(&self) -> (EventKind, Value) {
        match self {
            Self::Replaced => (EventKind::ProxyPermissionsUpdated, json!({"change": "replaced"})),
            Self::Deleted => (EventKind::ProxyPermissionsUpdated, json!({"change": "deleted"})),
            Self::GroupSet { name, new: true } => (EventKind::ProxyPermissionsGroupAdded, json!({"group": name})),
            Self::GroupSet { name, new: false } => (EventKind::ProxyPermissionsGroupUpdated, json!({"group": name})),
            Self::GroupRemoved(name) => (EventKind::ProxyPermissionsGroupRemoved, json!({"group": name})),
            Self::Permissions(name) => {
                (EventKind::ProxyPermissionsUpdated, json!({"change": "permissions", "group": name}))
            }
            Self::Default(d) => (EventKind::ProxyPermissionsDefaultChanged, json!({"default": d})),
            Self::State(on) => (EventKind::ProxyPermissionsUpdated, json!({"change": "state", "enable_proxy": on})),
            Self::Settings => (EventKind::ProxyPermissionsUpdated, json!({"change": "settings"})),
            Self::Hooks(service) => {
                (EventKind::ProxyPermissionsUpdated, json!({"change": "hooks", "service": service}))
            }
        }
    }
}

/// Write the document that `change` makes of the one at version `expected` (412 with the
/// current version when it is not there any more), with its event, in one transaction. The
/// write itself is conditional on the version (`documents::write`), so of writers holding one
/// version exactly one wins. Returns the new document, its version and what `change` returned.
pub async fn commit<R: Owner, T>(
    st: &AppState,
    me: &Principal,
    row: &R,
    IfMatch(expected): IfMatch,
    change: impl FnOnce(&mut Option<Document>) -> Result<(Change, T)>,
) -> Result<(Option<Document>, i64, T)> {
    let scope = row.scope();
    let mut tx = st.db.begin().await?;
    if !documents::hold_owner(&mut tx, &scope).await? {
        // Deleted since the access check: no document is written for it.
        return Err(match scope.container_id() {
            Some(_) => crate::api::containers::container_not_found(),
            None => crate::api::projects::project_not_found(),
        });
    }
    let current = documents::read(&mut *tx, scope.kind(), scope.key()).await?;
    if current.version != expected {
        return Err(ApiError::StaleVersion { current: current.version });
    }
    let mut doc = Document::stored(current.body.as_ref());
    let (what, extra) = change(&mut doc)?;
    let body = doc.as_ref().map(Document::to_json);
    let version = documents::write(&mut tx, scope.kind(), scope.key(), Some(expected), body.as_ref()).await?;
    let (kind, mut data) = what.event();
    data["file_version"] = json!(version);
    data["project_id"] = json!(scope.project_id());
    data["by"] = json!(me.user.user_id);
    let mut e = Event::new(kind, ResourceType::ProxyPermissions, scope.key(), row.owner(), data)
        .in_project(scope.project_id())
        .in_realms(row.realm_ids());
    if let Some(c) = scope.container_id() {
        e = e.in_container(c);
        e.data["container_id"] = json!(c);
    }
    publish(&mut tx, e).await?;
    tx.commit().await?;
    let reach = match &scope {
        Scope::Container { container_id, .. } => ProxyFileReach::Container(container_id.clone()),
        Scope::Project { project_id } => ProxyFileReach::Project(project_id.clone()),
    };
    push_proxy_file_soon(st, reach, Trigger::user(&me.user.user_id));
    Ok((doc, version, extra))
}

/// `commit`, answered with the whole document.
pub async fn write<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    change: impl FnOnce(&mut Option<Document>) -> Result<Change>,
) -> Result<DocReply> {
    let (doc, version, deleted) = commit(st, me, row, m, |doc| {
        let what = change(doc)?;
        let deleted = matches!(what, Change::Deleted);
        Ok((what, deleted))
    })
    .await?;
    let message = if deleted { "Proxy permissions deleted" } else { "Proxy permissions updated" };
    Ok(ApiOk::new(message, Versioned::new(out(&row.scope(), doc.as_ref(), true), version)))
}

/// The document a group or rule change starts from: the stored one, or an empty one that
/// denies what it does not allow (the group is there to let someone in).
pub fn edit(doc: &mut Option<Document>) -> &mut Document {
    doc.get_or_insert_with(Document::empty)
}

/// The document a switch, default, settings or hook change starts from: the stored one, or the
/// open access that no document means (turning the proxy off and on again leaves it open).
pub fn edit_open(doc: &mut Option<Document>) -> &mut Document {
    doc.get_or_insert_with(Document::open)
}

fn not_found(code: &'static str, what: &str) -> ApiError {
    ApiError::not_found(code, what.to_owned())
}

/// PUT the whole document: its ids must be the path's.
pub async fn replace<R: Owner, B: DocIn>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    body: B,
) -> Result<DocReply> {
    let scope = row.scope();
    let (project, container) = body.ids();
    let mut errors = vec![];
    if project != scope.project_id() {
        errors.push(FieldError::new("project", "must be the id of the document's project"));
    }
    if container != scope.container_id() {
        errors.push(FieldError::new("container", "must be the container's id (the path's)"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let built = Document::build(body.into_parts()).map_err(ApiError::validation)?;
    write(st, me, row, m, |doc| {
        *doc = Some(built);
        Ok(Change::Replaced)
    })
    .await
}

/// DELETE the document: open access again (the version goes on).
pub async fn delete<R: Owner>(st: &AppState, me: &Principal, row: &R, m: IfMatch) -> Result<DocReply> {
    write(st, me, row, m, |doc| {
        *doc = None;
        Ok(Change::Deleted)
    })
    .await
}

/// PUT a group of one type.
pub async fn set_group<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    name: &str,
    kind: &str,
    body: group::GroupIn,
) -> Result<DocReply> {
    check_group_name(name).map_err(|e| ApiError::validation(vec![e]))?;
    let g = group::of_kind(kind, body).map_err(ApiError::validation)?;
    write(st, me, row, m, |doc| {
        let new = edit(doc).set_group(name, g).map_err(|e| ApiError::validation(vec![e]))?;
        Ok(Change::GroupSet { name: name.to_owned(), new })
    })
    .await
}

/// DELETE a group and its rules.
pub async fn remove_group<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    name: &str,
) -> Result<DocReply> {
    check_group_name(name).map_err(|e| ApiError::validation(vec![e]))?;
    write(st, me, row, m, |doc| {
        if !doc.as_mut().is_some_and(|d| d.remove_group(name)) {
            return Err(not_found("proxy_group_not_found", "The document has no such group"));
        }
        Ok(Change::GroupRemoved(name.to_owned()))
    })
    .await
}

/// PUT one program's rule for a group.
pub async fn set_permission<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    name: &str,
    program: String,
    access: Value,
) -> Result<DocReply> {
    check_group_name(name).map_err(|e| ApiError::validation(vec![e]))?;
    write(st, me, row, m, |doc| {
        edit(doc).set_permission(name, &program, access).map_err(|e| ApiError::validation(vec![e]))?;
        Ok(Change::Permissions(name.to_owned()))
    })
    .await
}

/// DELETE a group's rules (`program`: only that one).
pub async fn remove_permission<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    name: &str,
    program: Option<&str>,
) -> Result<DocReply> {
    check_group_name(name).map_err(|e| ApiError::validation(vec![e]))?;
    write(st, me, row, m, |doc| {
        let removed = doc.as_mut().is_some_and(|d| match program {
            Some(p) => d.remove_permission(name, p),
            None => d.remove_permissions(name),
        });
        if !removed {
            return Err(not_found("proxy_permission_not_found", "The group has no such program rule"));
        }
        Ok(Change::Permissions(name.to_owned()))
    })
    .await
}

/// PATCH the default.
pub async fn set_default<R: Owner>(
    st: &AppState,
    me: &Principal,
    row: &R,
    m: IfMatch,
    default: &str,
) -> Result<DocReply> {
    let d = Policy::parse(default).ok_or_else(|| ApiError::invalid("default", "must be allow or deny"))?;
    write(st, me, row, m, |doc| {
        edit_open(doc).default = d;
        Ok(Change::Default(d))
    })
    .await
}

/// PATCH the proxy switch.
pub async fn set_state<R: Owner>(st: &AppState, me: &Principal, row: &R, m: IfMatch, on: bool) -> Result<DocReply> {
    write(st, me, row, m, |doc| {
        edit_open(doc).enable_proxy = Some(on);
        Ok(Change::State(on))
    })
    .await
}

/// A container as its reads need it for the documents: ids and the caller's level.
pub struct Owned {
    container_id: String,
    project_id: String,
    level: Level,
}

impl Owned {
    pub fn of(c: &ContainerRow) -> Self {
        Self { container_id: c.container_id.clone(), project_id: c.project_id.clone(), level: c.level() }
    }
}

/// Container reads: which documents a container has (its own, its project's), and with
/// `include_proxy_permissions=true` both as the caller may see them. Two queries for a page.
pub async fn fill(
    st: &AppState,
    me: &Principal,
    rows: &[Owned],
    cards: &mut [crate::api::containers::dto::ContainerOut],
    include: bool,
) -> Result<()> {
    let ids: Vec<String> = rows.iter().map(|r| r.container_id.clone()).collect();
    let mut projects: Vec<String> = rows.iter().map(|r| r.project_id.clone()).collect();
    projects.sort();
    projects.dedup();
    let own: HashMap<String, documents::Doc> =
        documents::read_many(&st.db, "proxy.container", &ids).await?.into_iter().collect();
    let theirs: HashMap<String, documents::Doc> =
        documents::read_many(&st.db, "proxy.project", &projects).await?.into_iter().collect();
    for (r, o) in rows.iter().zip(cards.iter_mut()) {
        let c = own.get(&r.container_id);
        let p = theirs.get(&r.project_id);
        let c_doc = c.and_then(|d| Document::stored(d.body.as_ref()));
        let p_doc = p.and_then(|d| Document::stored(d.body.as_ref()));
        o.has_proxy_permissions = c_doc.is_some() || p_doc.is_some();
        o.proxy_permissions_scope = match (c_doc.is_some(), p_doc.is_some()) {
            (false, false) => "none",
            (true, false) => "container",
            (false, true) => "project",
            (true, true) => "both",
        };
        if include {
            let edit = r.level >= Level::Edit;
            let scope = Scope::Container { project_id: r.project_id.clone(), container_id: r.container_id.clone() };
            let secrets = edit && me.allows(ContainerRow::UPDATE);
            o.proxy_permissions =
                Some(Versioned::new(out(&scope, c_doc.as_ref(), secrets), c.map_or(0, |d| d.version)));
            let scope = Scope::Project { project_id: r.project_id.clone() };
            let secrets = edit && me.allows(ProjectRow::UPDATE);
            o.project_proxy_permissions =
                Some(Versioned::new(out(&scope, p_doc.as_ref(), secrets), p.map_or(0, |d| d.version)));
        }
    }
    Ok(())
}
