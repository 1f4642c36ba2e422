//! The file the edge reads inside an instance: the container's document merged over its
//! project's (`evaluate::merge`), with the versions it was made from.

use serde_json::{json, Value};

use super::{
    doc::{Document, Scope},
    evaluate::merge,
};
use crate::{db::documents, error::ApiError};

/// Where it is written: root's, mode 0600.
pub const PATH: &str = "/etc/hoody/proxy/permissions.json";

/// The versions a file is made from: the container's document and its project's (0: none).
pub type Versions = (i64, i64);

/// The effective document as JSON: the switch and default that apply, and each document's
/// groups with their rules (a name in both is two groups; `evaluate`).
pub fn render(
    project_id: &str,
    container_id: &str,
    own: Option<&Document>,
    theirs: Option<&Document>,
    v: Versions,
) -> Value {
    let e = merge(own, theirs);
    let part = |d: Option<&Document>| {
        let d = d.cloned().unwrap_or_else(Document::empty);
        json!({"groups": d.groups, "permissions": d.permissions})
    };
    json!({
        "schema_version": super::doc::SCHEMA_VERSION,
        "project": project_id,
        "container": container_id,
        "container_file_version": v.0,
        "project_file_version": v.1,
        "enable_proxy": e.enable_proxy,
        "default": e.default,
        "container_document": part(own),
        "project_document": part(theirs),
        "hooks": own.map(Document::hooks_view).unwrap_or_else(|| json!({})),
    })
}

/// A container's two documents as the database holds them now: its own and its project's
/// (`None`: never written or deleted), with their versions.
pub struct Both {
    pub own: Option<Document>,
    pub theirs: Option<Document>,
    pub versions: Versions,
}

pub async fn both(db: &sqlx::PgPool, project_id: &str, container_id: &str) -> Result<Both, ApiError> {
    let own_scope = Scope::Container { project_id: project_id.to_owned(), container_id: container_id.to_owned() };
    let their_scope = Scope::Project { project_id: project_id.to_owned() };
    let own = documents::read(db, own_scope.kind(), own_scope.key()).await?;
    let theirs = documents::read(db, their_scope.kind(), their_scope.key()).await?;
    Ok(Both {
        own: Document::stored(own.body.as_ref()),
        theirs: Document::stored(theirs.body.as_ref()),
        versions: (own.version, theirs.version),
    })
}

/// The file for a container as the database holds its documents now, and its versions.
pub async fn current(db: &sqlx::PgPool, project_id: &str, container_id: &str) -> Result<(Vec<u8>, Versions), ApiError> {
    let Both { own, theirs, versions: v } = both(db, project_id, container_id).await?;
    let body = render(project_id, container_id, own.as_ref(), theirs.as_ref(), v);
    let mut text = serde_json::to_vec_pretty(&body).map_err(|e| ApiError::Internal(e.into()))?;
    text.push(b'\n');
    Ok((text, v))
}

/// The versions a file read back from an instance says it was made from.
pub fn versions_of(text: &[u8]) -> Option<Versions> {
    let v: Value = serde_json::from_slice(text).ok()?;
    Some((v["container_file_version"].as_i64()?, v["project_file_version"].as_i64()?))
}
