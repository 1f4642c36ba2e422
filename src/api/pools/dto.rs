//! What the pool routes take and answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::db::{
    pools::{InvitationRow, MemberRow, PoolListRow, PoolRow, PoolServerRow},
    ts,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Team servers", "description": "Servers the team shares"}))]
pub struct PoolIn {
    /// Unique among your pools; 1–100 characters, trimmed.
    pub name: String,
    /// At most 1000 characters.
    pub description: Option<String>,
    /// A JSON object (at most 16 KB); `{}` when omitted.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"description": "Servers the backend team shares"}))]
pub struct PoolUpdateIn {
    /// At most 1000 characters; `""` clears it.
    pub description: Option<String>,
    /// A JSON object (at most 16 KB): replaces the settings.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// A member's role as it can be given (the owner's is fixed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MemberRole {
    Admin,
    User,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::User => "user",
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"username": "grace", "role": "user"}))]
pub struct InviteIn {
    /// Username of the user to invite.
    pub username: String,
    pub role: MemberRole,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "admin"}))]
pub struct RoleIn {
    pub role: MemberRole,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SuccessOut {
    pub success: bool,
}

impl SuccessOut {
    pub fn yes() -> Self {
        Self { success: true }
    }
}

/// A pool as its creation answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolCreatedOut {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner_id: String,
    pub is_default: bool,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_at: String,
}

impl From<&PoolRow> for PoolCreatedOut {
    fn from(p: &PoolRow) -> Self {
        Self {
            id: p.pool_id.clone(),
            name: p.name.clone(),
            description: p.description.clone(),
            owner_id: p.owner_id.clone(),
            is_default: p.is_default,
            settings: p.settings.clone(),
            created_at: ts(p.created_at),
        }
    }
}

/// A pool in your list, with your role and its counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolListOut {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_at: String,
    pub updated_at: String,
    pub owner_id: Option<String>,
    /// `owner`, `admin` or `user`.
    pub user_role: String,
    /// Accepted members, the owner among them.
    pub member_count: i64,
    /// Servers rented for the pool now.
    pub server_count: i64,
}

impl From<PoolListRow> for PoolListOut {
    fn from(p: PoolListRow) -> Self {
        Self {
            id: p.pool_id,
            name: p.name,
            description: p.description,
            is_default: p.is_default,
            settings: p.settings,
            created_at: ts(p.created_at),
            updated_at: ts(p.updated_at),
            owner_id: Some(p.owner_id),
            user_role: p.role,
            member_count: p.member_count,
            server_count: p.server_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct UserRef {
    pub id: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub alias: Option<String>,
}

/// Who sent an invitation (`alias` null when they have none).
#[derive(Debug, Serialize, ToSchema)]
pub struct InviterOut {
    pub id: String,
    pub username: String,
    pub alias: Option<String>,
}

/// A member, or an invitation not accepted yet (`is_authorized: false`, `joined_at: null`).
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberOut {
    pub id: String,
    /// `owner`, `admin` or `user`.
    pub role: String,
    pub is_authorized: bool,
    pub joined_at: Option<String>,
    pub user: UserRef,
}

impl From<MemberRow> for MemberOut {
    fn from(m: MemberRow) -> Self {
        Self {
            id: m.member_id,
            role: m.role,
            is_authorized: m.joined_at.is_some(),
            joined_at: m.joined_at.map(ts),
            user: UserRef { id: m.user_id, username: m.username, alias: m.alias },
        }
    }
}

/// A server rented for the pool.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolServerOut {
    pub id: String,
    pub name: String,
    pub rental_status: String,
    /// Enabled: it takes containers.
    pub is_ready: bool,
}

impl From<PoolServerRow> for PoolServerOut {
    fn from(s: PoolServerRow) -> Self {
        Self { id: s.server_id, name: s.name, rental_status: s.rental_status, is_ready: s.is_ready }
    }
}

/// A pool with its members, invitations and servers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PoolOut {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub is_default: bool,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_at: String,
    pub updated_at: String,
    pub owner_id: Option<String>,
    pub members: Vec<MemberOut>,
    pub servers: Vec<PoolServerOut>,
}

/// An invitation as its creation answers it.
#[derive(Debug, Serialize, ToSchema)]
pub struct InviteOut {
    pub id: String,
    pub role: String,
    pub is_authorized: bool,
    pub invited_at: String,
}

/// One of your pending invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    pub id: String,
    pub pool_id: String,
    pub pool_name: String,
    pub pool_description: Option<String>,
    pub role: String,
    pub invited_by: Option<InviterOut>,
    pub invited_at: String,
}

impl From<InvitationRow> for InvitationOut {
    fn from(r: InvitationRow) -> Self {
        let invited_by = match (r.inviter_id, r.inviter_username) {
            (Some(id), Some(username)) => Some(InviterOut { id, username, alias: r.inviter_alias }),
            _ => None,
        };
        Self {
            id: r.member_id,
            pool_id: r.pool_id,
            pool_name: r.pool_name,
            pool_description: r.pool_description,
            role: r.role,
            invited_by,
            invited_at: ts(r.invited_at),
        }
    }
}
