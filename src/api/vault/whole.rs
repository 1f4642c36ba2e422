//! The whole vault of a realm: its statistics, and clearing it.

use axum::extract::State;
use serde_json::json;

use super::{
    dto::{ClearOut, StatsOut},
    scope::VaultCaller,
    MIB,
};
use crate::{
    db::vault as store,
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    events::{self, Event, EventKind, ResourceType},
    state::AppState,
};

/// Rounded to `places` decimals.
fn round(x: f64, places: i32) -> f64 {
    let f = 10_f64.powi(places);
    (x * f).round() / f
}

/// Get vault statistics
///
/// `total_keys` and `total_size_bytes` (and `total_size_mb`) count the request's realm only (or
/// the global scope); `limit_mb`, `used_percentage` and `remaining_mb` are over every realm of
/// the account (the limit is one for all of them). MiB, six decimals; the percentage two.
#[utoipa::path(get, path = "/vault/stats", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope")),
    responses((status = 200, body = Envelope<StatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn get_vault_stats(State(st): State<AppState>, v: VaultCaller) -> Result<ApiOk<StatsOut>> {
    let (keys, bytes) = store::realm_usage(&st.db, v.user_id(), &v.realm_id).await?;
    let (_, used) = store::usage(&st.db, v.user_id()).await?;
    let limit = i64::from(st.cfg.vault_limit_mb) * MIB;
    let mib = MIB as f64;
    let out = StatsOut {
        total_keys: keys,
        total_size_bytes: bytes,
        total_size_mb: round(bytes as f64 / mib, 6),
        limit_mb: f64::from(st.cfg.vault_limit_mb),
        used_percentage: round(used as f64 * 100.0 / limit as f64, 2),
        remaining_mb: round((limit - used).max(0) as f64 / mib, 6),
    };
    Ok(ApiOk::new("Vault statistics", out))
}

/// Clear entire vault
///
/// Deletes every key (with every version) of yours in the request's realm, or in the global
/// scope when the request has none; irreversible. Other realms are untouched.
#[utoipa::path(delete, path = "/vault", tag = "vault", security(("bearer" = ["vault_access"])),
    params(("realm_id" = Option<String>, Query, description = "Target a specific realm (24 hex, either case); omitted: the global scope")),
    responses((status = 200, body = Envelope<ClearOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.vault"))))]
pub async fn clear_vault(State(st): State<AppState>, v: VaultCaller) -> Result<ApiOk<ClearOut>> {
    let user_id = v.user_id();
    let mut tx = st.db.begin().await?;
    store::lock(&mut tx, user_id).await?;
    let deleted = store::clear(&mut *tx, user_id, &v.realm_id).await?;
    if deleted > 0 {
        let data = json!({"realm_id": v.realm_id, "deleted_count": deleted});
        let resource = if v.realm_id.is_empty() { "global" } else { v.realm_id.as_str() };
        let mut e = Event::new(EventKind::VaultCleared, ResourceType::Vault, resource, user_id, data);
        if !v.realm_id.is_empty() {
            e = e.in_realms(std::slice::from_ref(&v.realm_id));
        }
        events::publish(&mut tx, e).await?;
    }
    tx.commit().await?;
    Ok(ApiOk::new("Vault cleared", ClearOut { deleted_count: deleted }))
}
