//! `PUT /users/{id}`'s body.

use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdateIn {
    /// Display name, 1–100 characters.
    pub alias: Option<String>,
    /// Ed25519 public key: 64 hexadecimal characters.
    pub public_key: Option<String>,
    /// Free-form JSON object (≤ 64 KB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<serde_json::Value>,
    /// New password: at least 12 characters, 3 of 4 classes. Needs `current_password`.
    pub password: Option<String>,
    pub current_password: Option<String>,
    /// Administrators only.
    pub is_admin: Option<bool>,
    /// Administrators only; an administrator cannot be banned.
    pub is_banned: Option<bool>,
}
