//! Vault bodies. The value never reaches `Debug` (logs, panics): the request holds it in a
//! `Secret`, and the answers do not derive `Debug`.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::secret::Secret;

/// `PUT /vault/keys/{key}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = VaultSetIn)]
#[schema(example = json!({"value": "{\"api_key\":\"sk_live_123\"}", "metadata": {"service": "stripe"}}))]
pub struct SetIn {
    /// Any UTF-8 string (JSON, ciphertext, plain text…); stored as given, never inspected.
    #[schema(value_type = String)]
    pub value: Secret<String>,
    /// A JSON object of at most 256 KB, or null. It counts toward the vault limit and is
    /// encrypted like the value.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Secret<Value>>,
}

/// A key with its value (`GET`/`PUT /vault/keys/{key}`).
#[derive(Serialize, ToSchema)]
#[schema(as = VaultKeyOut)]
pub struct KeyOut {
    pub key: String,
    /// The realm it is in; "" for the global scope.
    pub realm_id: String,
    pub value: String,
    /// Null when it has none.
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    /// The value's bytes plus the metadata's (as JSON): what counts toward the limit.
    pub size_bytes: i64,
    pub created_at: String,
    /// When this version was written.
    pub updated_at: String,
}

/// A key as listed: never its value.
#[derive(Serialize, ToSchema)]
#[schema(as = VaultKeyListed)]
pub struct ListedOut {
    pub key: String,
    pub realm_id: String,
    /// Null when it has none; omitted when it cannot be decrypted (`GET` the key says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Option<Value>>,
    pub size_bytes: i64,
    pub created_at: String,
    pub updated_at: String,
}

/// `GET /vault/stats`: the keys and bytes of the request's realm (or the global scope); the
/// limit and what is left of it over all realms.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = VaultStatsOut)]
pub struct StatsOut {
    pub total_keys: i64,
    pub total_size_bytes: i64,
    /// `total_size_bytes` in MiB.
    pub total_size_mb: f64,
    /// The account's limit over every realm, in MiB.
    pub limit_mb: f64,
    /// Of the limit, over every realm (0–100, two decimals).
    pub used_percentage: f64,
    /// What is left of the limit over every realm, in MiB.
    pub remaining_mb: f64,
}

/// `DELETE /vault`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = VaultClearOut)]
pub struct ClearOut {
    pub deleted_count: i64,
}
