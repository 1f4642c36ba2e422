//! The `vault` tag: each account's encrypted key-value store, per realm (and a global scope).

pub(crate) mod dto;
mod keys;
mod scope;
mod whole;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// Bytes in a MiB: the vault limit's unit.
const MIB: i64 = 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(keys::list_vault_keys))
        .routes(routes!(keys::get_vault_key, keys::set_vault_key, keys::delete_vault_key))
        .routes(routes!(whole::get_vault_stats))
        .routes(routes!(whole::clear_vault))
}
