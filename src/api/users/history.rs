//! `GET /users/me/security-history`: the account's sign-ins, and on request its rejected
//! sign-ins and security changes, from `login_event` and `security_event`, newest first.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::list::{self, Counted, ListParams, MetaList, Unsorted},
    auth::{access::Require, permissions::perm},
    db::{security_events, ts},
    error::{ErrorBody, Result},
    extract::Query,
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Also list rejected sign-ins (wrong passwords).
    pub include_failed: Option<bool>,
    /// Also list security changes: 2FA on/off, backup codes used or regenerated, the token gate,
    /// password changes and resets.
    pub include_security: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntryOut {
    pub id: String,
    /// `login`, `login.failed`, `2fa.enabled`, `password.changed`, …
    pub event: String,
    /// `success` or `failed`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ip_address: Option<String>,
    /// Not resolved on this server: null.
    pub country: Option<String>,
    /// The client a sign-in came through (`cli` for `hoody login --web`), when known.
    pub client: Option<String>,
    pub created_at: String,
}

/// Get your account security history
///
/// Your own sign-ins, newest first, with address, client and time; `include_failed=true` adds
/// rejected sign-ins, `include_security=true` adds 2FA, backup-code, token-gate and password
/// changes. Kept `HOODY_AUDIT_RETENTION_DAYS` (180); nobody can edit or delete entries.
#[utoipa::path(get, path = "/users/me/security-history", tag = "users", security(("bearer" = [])),
    params(ListParams<Unsorted>, HistoryQuery),
    responses((status = 200, body = MetaList<HistoryEntryOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_security_history(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
    p: ListParams<Unsorted>,
    Query(q): Query<HistoryQuery>,
) -> Result<MetaList<HistoryEntryOut>> {
    let failed = q.include_failed.unwrap_or(false);
    let security = q.include_security.unwrap_or(false);
    let retention = chrono::Duration::days(st.cfg.audit_retention_days);
    let (pool, user_id) = (&st.db, me.user.user_id.as_str());
    let page = list::fetch(&p, |limit, offset| async move {
        let rows = security_events::history(pool, user_id, failed, security, retention, limit, offset).await?;
        Ok(rows.into_iter().map(|row| Counted { total: row.total, row }).collect())
    })
    .await?;
    let page = page.map(|r| HistoryEntryOut {
        outcome: if r.event.ends_with(".failed") { "failed" } else { "success" },
        id: r.id,
        event: r.event,
        ip_address: r.ip,
        country: None,
        client: r.client,
        created_at: ts(r.created_at),
    });
    Ok(MetaList::new("Security history", page))
}
