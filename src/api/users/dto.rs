//! `PUT /users/{id}`'s body, and a user as the API shows it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    db::{ts, users::UserRow},
    secret::Secret,
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "Ada Lovelace", "metadata": {"theme": "dark"}}))]
pub struct UserUpdateIn {
    /// Display name, 1–100 characters.
    pub alias: Option<String>,
    /// Ed25519 public key: 64 hexadecimal characters.
    pub public_key: Option<String>,
    /// Free-form JSON object (≤ 64 KB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// New password: at least 12 characters, 3 of 4 classes. Needs `current_password`.
    pub password: Option<Secret>,
    pub current_password: Option<Secret>,
    /// Administrators only.
    pub is_admin: Option<bool>,
    /// Administrators only; an administrator cannot be banned.
    pub is_banned: Option<bool>,
}

/// A user as the API shows it: never a hash, never a secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserOut {
    pub id: String,
    pub username: String,
    pub email: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub alias: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub public_key: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub is_admin: bool,
    pub is_banned: bool,
    pub email_verified: bool,
    pub avatar_url: Option<String>,
    pub signup_method: String,
    pub free_tier_unlocked: bool,
    pub free_tier_unlocked_at: Option<String>,
    pub free_tier_unlock_source: Option<String>,
    #[schema(value_type = Object)]
    pub onboarding: serde_json::Value,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRow> for UserOut {
    fn from(u: &UserRow) -> Self {
        Self {
            id: u.user_id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            alias: u.alias.clone(),
            public_key: u.public_key.clone(),
            metadata: u.metadata.clone(),
            is_admin: u.is_admin,
            is_banned: u.is_banned,
            email_verified: u.email_verified,
            avatar_url: u.avatar_url.clone(),
            signup_method: u.signup_method.clone(),
            free_tier_unlocked: u.free_tier_unlocked,
            free_tier_unlocked_at: u.free_tier_unlocked_at.map(ts),
            free_tier_unlock_source: u.free_tier_unlock_source.clone(),
            onboarding: u.onboarding.clone(),
            created_at: ts(u.created_at),
            updated_at: ts(u.updated_at),
        }
    }
}
