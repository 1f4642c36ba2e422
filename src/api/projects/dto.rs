//! Project bodies.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{
        list::{sort_keys, Pagination},
        tokens::dto::nullable,
    },
    db::{projects::ProjectRow, ts},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "staging", "color": "#3b82f6"}))]
pub struct ProjectIn {
    /// Unique across your projects; 1–100 characters.
    pub alias: String,
    /// `#RGB` or `#RRGGBB` (the `#` optional); random when omitted.
    pub color: Option<String>,
    /// Containers allowed in the project; null for unlimited.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i32>)]
    pub max_containers: Option<Option<i32>>,
    /// Realm ids (24 hex); the request's realm is always included.
    pub realm_ids: Option<Vec<String>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectOut {
    pub id: String,
    pub user_id: String,
    pub alias: String,
    pub color: String,
    pub created_at: String,
    pub updated_at: String,
    pub max_containers: Option<i32>,
    pub is_default: bool,
    pub realm_ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub permissions: Option<Vec<PermissionOut>>,
}

impl From<&ProjectRow> for ProjectOut {
    fn from(p: &ProjectRow) -> Self {
        Self {
            id: p.project_id.clone(),
            user_id: p.user_id.clone(),
            alias: p.alias.clone(),
            color: p.color.clone(),
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            max_containers: p.max_containers,
            is_default: p.is_default,
            realm_ids: p.realm_ids.clone(),
            permissions: None,
        }
    }
}

sort_keys!(ProjectSort {
    Id = "id" => "p.project_id",
    Alias = "alias" => "p.alias",
    CreatedAt = "created_at" => "p.created_at",
    UpdatedAt = "updated_at" => "p.updated_at",
} default "p.created_at");

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectListOut {
    pub projects: Vec<ProjectOut>,
    pub pagination: Pagination,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GetQuery {
    /// Include the permission rows with user details.
    pub include_permissions: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    /// List the deleted containers' ids and names in the response.
    pub include_deleted_items: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedCounts {
    pub containers: i64,
    pub permissions: i64,
    pub aliases: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedContainer {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedItems {
    pub containers: Vec<DeletedContainer>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDeletedOut {
    pub deleted: DeletedCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub deleted_items: Option<DeletedItems>,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PermissionLevel {
    Read,
    Edit,
    Delete,
}

impl PermissionLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Edit => "edit",
            Self::Delete => "delete",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_id": "65f1c0a2b3d4e5f6a7b8c9d3", "permission_level": "edit"}))]
pub struct GrantIn {
    /// The user to grant access to (24 hex).
    pub user_id: crate::ids::UserId,
    pub permission_level: PermissionLevel,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"permission_level": "read"}))]
pub struct GrantUpdateIn {
    pub permission_level: PermissionLevel,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionUser {
    pub id: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub alias: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionOut {
    pub id: String,
    pub project_id: String,
    pub user_id: String,
    pub permission_level: String,
    pub created_at: String,
    pub updated_at: String,
    pub user: PermissionUser,
}

sort_keys!(PermissionSort {
    Id = "id" => "pp.permission_id",
    UserId = "user_id" => "pp.user_id",
    PermissionLevel = "permission_level" => "pp.level",
    CreatedAt = "created_at" => "pp.created_at",
    UpdatedAt = "updated_at" => "pp.updated_at",
} default "pp.created_at");

#[derive(Debug, Serialize, ToSchema)]
pub struct PermissionListOut {
    pub permissions: Vec<PermissionOut>,
    pub pagination: Pagination,
}
