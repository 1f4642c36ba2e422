//! Auth token bodies. Secrets appear only in `TokenCreatedOut` (create and copy).

use crate::secret::Secret;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::{
        permissions::{PermTree, Permissions},
        tokens::{ExpiryIn, IpWhitelistIn, TokenRow},
    },
    db::ts,
};

/// `null` and absent differ: `Some(None)` clears, `None` leaves alone.
pub fn nullable<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TokenCreateIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "alias": "ci-deploy",
    "permission_template": "dev_team",
    "expires_at": "2030-01-01T00:00:00Z",
    "ip_whitelist": ["203.0.113.0/24"],
    "event_access": true,
    "vault_access": false
}))]
pub struct CreateIn {
    /// A name to recognise the token by; a random "adjective-animal" when omitted.
    pub alias: Option<String>,
    /// An Ed25519 public key (64 hex) for client identity; unique across tokens.
    pub public_key: Option<String>,
    /// Public JSON profile attached to `public_key` (≤ 64 KB).
    #[schema(value_type = Option<Object>)]
    pub public_storage: Option<serde_json::Value>,
    /// IPv4 addresses/CIDRs as an array, a comma-separated string, or "*" (the default: anywhere).
    pub ip_whitelist: Option<IpWhitelistIn>,
    /// full_access, external_customer, dev_team, finance_team or read_only; wins over `permissions`.
    pub permission_template: Option<String>,
    /// The permission tree; every missing leaf is false.
    pub permissions: Option<Permissions>,
    /// Realms (24 hex) the token is confined to.
    pub realm_ids: Option<Vec<String>>,
    /// Whether the token works without a realm scope (default true).
    pub allow_no_realm: Option<bool>,
    /// Vault endpoints (default false).
    pub vault_access: Option<bool>,
    /// Event history and the event stream (default true).
    pub event_access: Option<bool>,
    /// The token may not mint further tokens (create or copy).
    pub deny_reauthorization: Option<bool>,
    /// ISO 8601, Unix seconds, "today" or "tomorrow"; never expires when omitted.
    pub expires_at: Option<ExpiryIn>,
    /// TOTP or backup code: required for a session when the 2FA token gate is on.
    pub otp_code: Option<Secret>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TokenUpdateIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "ci-deploy-2026", "is_enabled": false}))]
pub struct UpdateIn {
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub public_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub public_storage: Option<Option<serde_json::Value>>,
    pub ip_whitelist: Option<IpWhitelistIn>,
    /// Replaces the whole tree; every missing leaf is false.
    pub permissions: Option<Permissions>,
    pub realm_ids: Option<Vec<String>>,
    pub allow_no_realm: Option<bool>,
    pub vault_access: Option<bool>,
    pub event_access: Option<bool>,
    /// ISO 8601, Unix seconds, "today", "tomorrow", or null for never.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ExpiryIn>)]
    pub expires_at: Option<Option<ExpiryIn>>,
    /// false disables the token (and every token it minted) without deleting it.
    pub is_enabled: Option<bool>,
    /// TOTP or backup code: required for a session when the 2FA token gate is on and the update
    /// widens the token or re-enables it (narrowing or disabling needs none).
    pub otp_code: Option<Secret>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = TokenCopyIn)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"alias": "ci-deploy copy", "expires_at": "tomorrow"}))]
pub struct CopyIn {
    /// Defaults to "<source alias> copy".
    pub alias: Option<String>,
    /// Defaults to the source's expiry when that is still in the future; null for never.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<ExpiryIn>)]
    pub expires_at: Option<Option<ExpiryIn>>,
    pub otp_code: Option<Secret>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"realm_id": "65f1c0a2b3d4e5f6a7b8c9d4"}))]
pub struct RealmIn {
    /// 24 lowercase hex characters.
    pub realm_id: String,
    pub otp_code: Option<Secret>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "public_key": "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
    "public_storage": {"name": "ada-laptop"}
}))]
pub struct PublicProfileIn {
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub public_key: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<Object>)]
    pub public_storage: Option<Option<serde_json::Value>>,
}

/// An auth token as the API shows it: never the secret or its hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: String,
    pub alias: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub public_key: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub public_storage: Option<serde_json::Value>,
    /// `["*"]` when any address may use it.
    pub ip_whitelist: Vec<String>,
    pub realm_ids: Vec<String>,
    pub allow_no_realm: bool,
    /// Every leaf present.
    #[schema(value_type = Permissions)]
    pub permissions: PermTree,
    pub expires_at: Option<String>,
    pub is_enabled: bool,
    pub vault_access: bool,
    pub event_access: bool,
    pub deny_reauthorization: bool,
    pub created_by_token_id: Option<String>,
    pub delegation_depth: i32,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&TokenRow> for TokenOut {
    fn from(t: &TokenRow) -> Self {
        Self {
            id: t.token_id.clone(),
            alias: t.alias.clone(),
            prefix: t.prefix.clone(),
            public_key: t.public_key.clone(),
            public_storage: t.public_storage.clone(),
            ip_whitelist: if t.ip_whitelist.is_empty() { vec!["*".into()] } else { t.ip_whitelist.clone() },
            realm_ids: t.realm_ids.clone(),
            allow_no_realm: t.allow_no_realm,
            permissions: PermTree(t.perms),
            expires_at: t.expires_at.map(ts),
            is_enabled: t.is_enabled,
            vault_access: t.vault_access,
            event_access: t.event_access,
            deny_reauthorization: t.deny_reauthorization,
            created_by_token_id: t.created_by_token_id.clone(),
            delegation_depth: t.delegation_depth,
            last_used_at: t.last_used_at.map(ts),
            last_used_ip: t.last_used_ip.clone(),
            created_at: ts(t.created_at),
            updated_at: ts(t.updated_at),
        }
    }
}

/// A new token: the secret is shown here once and never again.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreatedOut {
    /// The secret (`hdy_…`): send it as `Authorization: Bearer <token>`.
    pub token: String,
    #[serde(flatten)]
    pub details: TokenOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Restrictions {
    pub has_realm_restrictions: bool,
    /// The token works only on a realm-scoped URL.
    pub requires_realm_scope: bool,
    pub allowed_realm_ids: Vec<String>,
    pub allow_no_realm: bool,
    /// The realm this request was scoped to.
    #[schema(required = true)]
    pub active_realm_id: Option<String>,
}

impl Restrictions {
    pub fn of(t: &TokenRow, active: Option<&str>) -> Self {
        Self {
            has_realm_restrictions: t.restricted(),
            requires_realm_scope: t.restricted() || !t.allow_no_realm,
            allowed_realm_ids: t.realm_ids.clone(),
            allow_no_realm: t.allow_no_realm,
            active_realm_id: active.map(str::to_owned),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CurrentTokenOut {
    pub token: TokenOut,
    pub restrictions: Restrictions,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProfileOut {
    pub public_key: String,
    #[schema(value_type = Option<Object>, required = true)]
    pub public_storage: Option<serde_json::Value>,
}

/// The token list, and whether it was cut at the maximum.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenListOut {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    pub data: Vec<TokenOut>,
    pub truncated: bool,
}
