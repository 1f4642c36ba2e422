//! Versioned documents (proxy permission documents, proxy settings; the vault keeps its own
//! values the same way): one row per document whose `version` every write bumps by one, the
//! previous versions kept (the last `KEEP`), and writes that are conditional on the version in
//! one statement (`UPDATE … WHERE version = $n RETURNING`), so of ten writers holding the same
//! version exactly one wins and the others get 412 with the current version.

use serde::Serialize;
use serde_json::Value;
use sqlx::PgExecutor;
use utoipa::ToSchema;

use crate::{error::ApiError, events::Tx};

/// Versions kept per document (the current one included).
pub const KEEP: i64 = 50;

/// What `etag` says for a version: the same text `if-match` takes back.
pub fn etag(version: i64) -> String {
    format!("file:v{version}")
}

/// A document's data with its version, as every read and write answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Versioned<T> {
    #[serde(flatten)]
    pub data: T,
    pub file_version: i64,
    pub etag: String,
}

impl<T> Versioned<T> {
    pub fn new(data: T, version: i64) -> Self {
        Self { data, file_version: version, etag: etag(version) }
    }
}

/// A document as stored: version 0 and no body when it was never written; a body of `None`
/// after a delete (the version goes on).
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub version: i64,
    pub body: Option<Value>,
}

pub async fn read(db: impl PgExecutor<'_>, kind: &str, key: &str) -> Result<Doc, ApiError> {
    let row = sqlx::query_as!(Doc, "select version, body from document where kind = $1 and owner_key = $2", kind, key)
        .fetch_optional(db)
        .await?;
    Ok(row.unwrap_or(Doc { version: 0, body: None }))
}

/// An earlier version (while it is kept).
pub async fn read_version(
    db: impl PgExecutor<'_>,
    kind: &str,
    key: &str,
    version: i64,
) -> Result<Option<Doc>, ApiError> {
    let row = sqlx::query_scalar!(
        "select body from document_version where kind = $1 and owner_key = $2 and version = $3",
        kind,
        key,
        version
    )
    .fetch_optional(db)
    .await?;
    Ok(row.map(|body| Doc { version, body }))
}

/// Write `body` (`None`: delete) if the document is at `expected` (`None`: whatever it is at).
/// Returns the new version; 412 with the current version when `expected` is stale.
pub async fn write(
    tx: &mut Tx,
    kind: &str,
    key: &str,
    expected: Option<i64>,
    body: Option<&Value>,
) -> Result<i64, ApiError> {
    let written: Option<i64> = match expected {
        None => {
            sqlx::query_scalar!(
                "insert into document (kind, owner_key, version, body) values ($1, $2, 1, $3) \
                 on conflict (kind, owner_key) do update set version = document.version + 1, body = excluded.body, \
                 updated_at = now() returning version",
                kind,
                key,
                body
            )
            .fetch_optional(&mut **tx)
            .await?
        }
        Some(0) => {
            sqlx::query_scalar!(
                "insert into document (kind, owner_key, version, body) values ($1, $2, 1, $3) \
                 on conflict (kind, owner_key) do nothing returning version",
                kind,
                key,
                body
            )
            .fetch_optional(&mut **tx)
            .await?
        }
        Some(n) => {
            sqlx::query_scalar!(
                "update document set version = version + 1, body = $3, updated_at = now() \
                 where kind = $1 and owner_key = $2 and version = $4 returning version",
                kind,
                key,
                body,
                n
            )
            .fetch_optional(&mut **tx)
            .await?
        }
    };
    let Some(version) = written else {
        let current = read(&mut **tx, kind, key).await?.version;
        return Err(ApiError::StaleVersion { current });
    };
    sqlx::query!(
        "insert into document_version (kind, owner_key, version, body) values ($1, $2, $3, $4)",
        kind,
        key,
        version,
        body
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "delete from document_version where kind = $1 and owner_key = $2 and version <= $3",
        kind,
        key,
        version - KEEP
    )
    .execute(&mut **tx)
    .await?;
    Ok(version)
}

/// Documents of one kind for many owners (those never written are left out).
pub async fn read_many(db: impl PgExecutor<'_>, kind: &str, keys: &[String]) -> Result<Vec<(String, Doc)>, ApiError> {
    let rows = sqlx::query!(
        "select owner_key, version, body from document where kind = $1 and owner_key = any($2)",
        kind,
        keys
    )
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| (r.owner_key, Doc { version: r.version, body: r.body })).collect())
}

/// Hold the owner of a proxy document (its container or project row, `FOR KEY SHARE`) until the
/// transaction ends, so that it is not deleted under a write of its document (its delete waits,
/// then takes the document with it); false when it is gone.
pub async fn hold_owner(conn: &mut sqlx::PgConnection, scope: &crate::proxy::Scope) -> sqlx::Result<bool> {
    let held = match scope.container_id() {
        Some(id) => {
            sqlx::query_scalar!("select 1 as one from container where container_id = $1 for key share", id)
                .fetch_optional(&mut *conn)
                .await?
        }
        None => {
            sqlx::query_scalar!("select 1 as one from project where project_id = $1 for key share", scope.project_id())
                .fetch_optional(&mut *conn)
                .await?
        }
    };
    Ok(held.is_some())
}
