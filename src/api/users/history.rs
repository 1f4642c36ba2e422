//! `GET /users/me/security-history`: the account's sign-ins, and on request its rejected
//! sign-ins and security changes, from `login_event` and `security_event`, newest first.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::Response,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::activity::logs::PageMeta,
    auth::{access::Require, policy::perm},
    db::ts,
    envelope::json_response,
    error::{ApiError, ErrorBody, FieldError, Result},
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Page number (1–10000).
    pub page: Option<i64>,
    /// Entries per page (1–100, default 20).
    pub limit: Option<i64>,
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
    pub ip_address: Option<String>,
    /// Not resolved on this server: null.
    pub country: Option<String>,
    /// The client a sign-in came through (`cli` for `hoody login --web`), when known.
    pub client: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryListOut {
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: String,
    pub data: Vec<HistoryEntryOut>,
    pub metadata: PageMeta,
}

const HISTORY: &str = "(select 'login-' || login_event_id as id, 'login' as event, ip, client, created_at \
       from login_event where user_id = $1 and created_at > now() - $4 \
     union all \
     select 'security-' || security_event_id, kind, ip, null, created_at \
       from security_event where user_id = $1 and created_at > now() - $4 \
       and ((kind = 'login.failed' and $2) or (kind <> 'login.failed' and $3))) h";

/// Get your account security history
///
/// Your own sign-ins, newest first, with address, client and time; `include_failed=true` adds
/// rejected sign-ins, `include_security=true` adds 2FA, backup-code, token-gate and password
/// changes. Kept `HOODY_AUDIT_RETENTION_DAYS` (180); nobody can edit or delete entries.
#[utoipa::path(get, path = "/users/me/security-history", tag = "users", security(("bearer" = [])), params(HistoryQuery),
    responses((status = 200, body = HistoryListOut), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_security_history(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response> {
    let mut errs = Vec::new();
    let page = q.page.unwrap_or(1);
    if !(1..=10_000).contains(&page) {
        errs.push(FieldError::new("page", "must be between 1 and 10000"));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        errs.push(FieldError::new("limit", "must be between 1 and 100"));
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let failed = q.include_failed.unwrap_or(false);
    let security = q.include_security.unwrap_or(false);
    let retention = chrono::Duration::days(st.cfg.audit_retention_days);
    let total: i64 = sqlx::query_scalar(&format!("select count(*) from {HISTORY}"))
        .bind(&me.user.user_id)
        .bind(failed)
        .bind(security)
        .bind(retention)
        .fetch_one(&st.db)
        .await?;
    // id, event, ip, client, created_at
    type Row = (String, String, Option<String>, Option<String>, DateTime<Utc>);
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "select id, event, ip, client, created_at from {HISTORY} order by created_at desc, id desc limit $5 offset $6"
    ))
    .bind(&me.user.user_id)
    .bind(failed)
    .bind(security)
    .bind(retention)
    .bind(limit)
    .bind((page - 1) * limit)
    .fetch_all(&st.db)
    .await?;
    let data = rows
        .into_iter()
        .map(|(id, event, ip, client, at)| HistoryEntryOut {
            outcome: if event.ends_with(".failed") { "failed" } else { "success" },
            id,
            event,
            ip_address: ip,
            country: None,
            client,
            created_at: ts(at),
        })
        .collect();
    let body = HistoryListOut {
        status_code: 200,
        message: "Security history".into(),
        data,
        metadata: PageMeta { total, page, limit, pages: (total + limit - 1) / limit },
    };
    Ok(json_response(StatusCode::OK, &body))
}
