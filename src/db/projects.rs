//! Project rows and who may reach them: the owner, or a user holding a permission row.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// How far a caller may go with a project (and its containers). Ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read,
    Edit,
    Delete,
    Owner,
}

impl Level {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "read" => Self::Read,
            "edit" => Self::Edit,
            "delete" => Self::Delete,
            "owner" => Self::Owner,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Edit => "edit",
            Self::Delete => "delete",
            Self::Owner => "owner",
        }
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct ProjectRow {
    pub project_id: String,
    pub user_id: String,
    pub alias: String,
    pub color: String,
    pub max_containers: Option<i32>,
    pub is_default: bool,
    pub realm_ids: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The caller's access: `owner`, or the level of their permission row.
    pub access: String,
}

impl ProjectRow {
    pub fn level(&self) -> Level {
        Level::parse(&self.access).unwrap_or(Level::Read)
    }
}

pub const COLUMNS: &str =
    "p.project_id, p.user_id, p.alias, p.color, p.max_containers, p.is_default, p.realm_ids, p.created_at, p.updated_at";

/// `$2` is the caller: `owner`, their permission level, or null when they have no access.
pub const ACCESS: &str = "case when p.user_id = $2 then 'owner' else \
    (select pp.level from project_permission pp where pp.project_id = p.project_id and pp.user_id = $2) end";

/// A project the caller (`user_id`) owns or holds a permission row on.
pub async fn visible(db: impl PgExecutor<'_>, project_id: &str, user_id: &str) -> sqlx::Result<Option<ProjectRow>> {
    let sql =
        format!("select {COLUMNS}, {ACCESS} as access from project p where p.project_id = $1 and {ACCESS} is not null");
    sqlx::query_as(&sql).bind(project_id).bind(user_id).fetch_optional(db).await
}

/// The caller's own project (owner access).
pub async fn owned(db: impl PgExecutor<'_>, project_id: &str, user_id: &str) -> sqlx::Result<Option<ProjectRow>> {
    visible(db, project_id, user_id).await.map(|p| p.filter(|p| p.level() == Level::Owner))
}
