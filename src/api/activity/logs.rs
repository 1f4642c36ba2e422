//! Reading the activity log the request layer writes (see `writeback::activity`).

use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::{
        fields,
        list::{self, Counted, ListParams, MetaList, Unsorted},
    },
    auth::{access::Require, permissions::perm},
    db::{activity, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Query,
    state::AppState,
};

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActivityQuery {
    /// Records at or after this time (RFC 3339 or YYYY-MM-DD).
    pub start_date: Option<String>,
    /// Records at or before this time (RFC 3339 or YYYY-MM-DD, the whole day).
    pub end_date: Option<String>,
    /// Only errors (status ≥ 400).
    pub errors_only: Option<bool>,
    /// Lowest response status (100–599; default 100, 400 with `errors_only`).
    pub min_status: Option<i32>,
    /// Highest response status (100–599; default 599).
    pub max_status: Option<i32>,
    /// Only requests with this HTTP method.
    #[param(inline)]
    pub method: Option<HttpMethod>,
    /// 24 lowercase hex.
    pub realm_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityOut {
    /// 24 lowercase hex.
    pub id: String,
    pub user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub realm_id: Option<String>,
    pub token_id: Option<String>,
    pub method: String,
    pub path: String,
    /// The route template the request matched.
    pub route: Option<String>,
    pub status_code: i16,
    pub duration_ms: f32,
    pub ip_address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user_agent: Option<String>,
    pub created_at: String,
}

struct Filters {
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    min_status: i32,
    max_status: i32,
    method: Option<&'static str>,
    realm_id: Option<String>,
}

fn filters(q: &ActivityQuery) -> Result<Filters> {
    let mut errs = Vec::new();
    for (path, v) in [("min_status", q.min_status), ("max_status", q.max_status)] {
        if v.is_some_and(|s| !(100..=599).contains(&s)) {
            errs.push(FieldError::new(path, "must be between 100 and 599"));
        }
    }
    if q.realm_id.as_deref().is_some_and(|r| !crate::db::is_id(r)) {
        errs.push(FieldError::new("realm_id", "must be 24 lowercase hex characters"));
    }
    let start = q.start_date.as_deref().and_then(|v| fields::date("start_date", v, false, &mut errs));
    let end = q.end_date.as_deref().and_then(|v| fields::date("end_date", v, true, &mut errs));
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let floor = if q.errors_only == Some(true) { 400 } else { 100 };
    Ok(Filters {
        start,
        end,
        min_status: q.min_status.unwrap_or(100).max(floor),
        max_status: q.max_status.unwrap_or(599),
        method: q.method.map(|m| match m {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }),
        realm_id: q.realm_id.clone(),
    })
}

impl Filters {
    fn db(&self) -> activity::Filters<'_> {
        activity::Filters {
            start: self.start,
            end: self.end,
            min_status: self.min_status as i16,
            max_status: self.max_status as i16,
            method: self.method,
            realm_id: self.realm_id.as_deref(),
        }
    }
}

/// Get activity logs
///
/// Every authenticated request of the account, newest first. Records are written in batches a
/// moment after the request.
#[utoipa::path(get, path = "/users/auth/activity", tag = "activity", security(("bearer" = [])),
    params(ListParams<Unsorted>, ActivityQuery),
    responses((status = 200, body = MetaList<ActivityOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn list_activity(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
    p: ListParams<Unsorted>,
    Query(q): Query<ActivityQuery>,
) -> Result<MetaList<ActivityOut>> {
    let f = filters(&q)?;
    let (pool, user_id, filters) = (&st.db, me.user.user_id.as_str(), &f.db());
    let page = list::fetch(&p, |limit, offset| async move {
        let rows = activity::list(pool, user_id, filters, limit, offset).await?;
        Ok(rows.into_iter().map(|r| Counted { total: r.total, row: r }).collect())
    })
    .await?;
    let page = page.map(|r| ActivityOut {
        id: r.activity_id,
        user_id: r.user_id,
        realm_id: r.realm_id,
        token_id: r.token_id,
        method: r.method,
        path: r.path,
        route: r.route,
        status_code: r.status_code,
        duration_ms: r.duration_ms,
        ip_address: r.ip_address,
        user_agent: r.user_agent,
        created_at: ts(r.created_at),
    });
    Ok(MetaList::new("Activity logs", page))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityStatsOut {
    pub total_size_bytes: i64,
    pub total_records: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oldest_record: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub newest_record: Option<String>,
    pub retention_days: i64,
}

/// Get activity stats
#[utoipa::path(get, path = "/users/auth/activity/stats", tag = "activity", security(("bearer" = [])),
    responses((status = 200, body = Envelope<ActivityStatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_activity_stats(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
) -> Result<ApiOk<ActivityStatsOut>> {
    let stats = activity::stats(&st.db, &me.user.user_id).await?;
    Ok(ApiOk::new(
        "Activity stats",
        ActivityStatsOut {
            total_size_bytes: stats.size_bytes,
            total_records: stats.records,
            oldest_record: stats.oldest.map(ts),
            newest_record: stats.newest.map(ts),
            retention_days: st.cfg.activity_retention_days,
        },
    ))
}
