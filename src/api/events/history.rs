//! The event history: list, get, stats, delete one, bulk delete, cleanup. Reads show what the
//! caller may see (their own events and those of projects shared with them, in the request's
//! realm when it has one); deletes remove only the caller's own events.

use std::collections::BTreeMap;

use axum::extract::State;
use chrono::Utc;

use super::{
    dto::{
        BulkDeleteIn, CleanupIn, CleanupOut, DeletedOut, EventListOut, EventOut, EventQuery, EventStatsOut, StatsQuery,
        DEFAULT_LIMIT, MAX_LIMIT,
    },
    EventReader,
};
use crate::{
    api::{fields, list::OffsetPagination},
    db::{events, is_id, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    events::{EventKind, ResourceType},
    extract::{Json, Path, Query},
    state::AppState,
};

fn not_found() -> ApiError {
    ApiError::not_found("event_not_found", "Event not found")
}

fn check_kind(path: &str, v: Option<&str>, errs: &mut Vec<FieldError>) {
    if v.is_some_and(|t| EventKind::parse(t).is_none()) {
        errs.push(FieldError::new(path, "is not a known event type"));
    }
}

fn check_resource(path: &str, v: Option<&str>, errs: &mut Vec<FieldError>) {
    if v.is_some_and(|t| ResourceType::parse(t).is_none()) {
        errs.push(FieldError::new(path, "is not a known resource type"));
    }
}

fn check_id(path: &str, v: Option<&str>, errs: &mut Vec<FieldError>) {
    if v.is_some_and(|id| !is_id(id)) {
        errs.push(FieldError::new(path, "must be 24 lowercase hex characters"));
    }
}

fn done(errs: Vec<FieldError>) -> Result<()> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::validation(errs))
    }
}

/// List event history
///
/// The events you may see (your resources' and those of projects shared with you), newest
/// first unless sorted otherwise, at most 500 a page. `?after=<seq>` gives, oldest first, the
/// numbered events after that one: what a client that was away missed.
#[utoipa::path(get, path = "/events", tag = "events", security(("bearer" = ["event_access"])),
    params(EventQuery),
    responses((status = 200, body = Envelope<EventListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn list_events(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Query(q): Query<EventQuery>,
) -> Result<ApiOk<EventListOut>> {
    let mut errs = Vec::new();
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        errs.push(FieldError::new("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let offset = q.offset.unwrap_or(0);
    if !(0..=1_000_000).contains(&offset) {
        errs.push(FieldError::new("offset", "must be between 0 and 1000000"));
    }
    if q.after.is_some_and(|a| a < 0) {
        errs.push(FieldError::new("after", "must be 0 or more"));
    }
    check_kind("event_type", q.event_type.as_deref(), &mut errs);
    check_resource("resource_type", q.resource_type.as_deref(), &mut errs);
    if q.resource_id.as_deref().is_some_and(|r| r.is_empty() || r.len() > 256) {
        errs.push(FieldError::new("resource_id", "must be 1–256 characters"));
    }
    check_id("project_id", q.project_id.as_deref(), &mut errs);
    check_id("container_id", q.container_id.as_deref(), &mut errs);
    let start = q.start_date.as_deref().and_then(|v| fields::date("start_date", v, false, &mut errs));
    let end = q.end_date.as_deref().and_then(|v| fields::date("end_date", v, true, &mut errs));
    done(errs)?;
    let f = events::Filters {
        event_type: q.event_type.as_deref(),
        resource_type: q.resource_type.as_deref(),
        resource_id: q.resource_id.as_deref(),
        project_id: q.project_id.as_deref(),
        container_id: q.container_id.as_deref(),
        start,
        end,
        after: q.after,
    };
    let order = q.sort_by.unwrap_or_default().order_by(q.sort_order.unwrap_or_default());
    let realm = me.realm.as_deref();
    let mut rows = events::history(&st.db, &me.user.user_id, realm, &f, order, limit, offset).await?;
    let total = match rows.first() {
        Some(r) => r.total,
        // Past the end no row carries the total: ask for the first one.
        None if offset > 0 => {
            events::history(&st.db, &me.user.user_id, realm, &f, order, 1, 0).await?.first().map_or(0, |r| r.total)
        }
        None => 0,
    };
    let shown = rows.len();
    let events = rows.drain(..).map(EventOut::from).collect();
    Ok(ApiOk::new("Events", EventListOut { events, pagination: OffsetPagination::new(total, limit, offset, shown) }))
}

/// Get event statistics
///
/// Totals by type and by resource type of the events you may see, between the dates given.
#[utoipa::path(get, path = "/events/stats", tag = "events", security(("bearer" = ["event_access"])),
    params(StatsQuery),
    responses((status = 200, body = Envelope<EventStatsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn get_event_stats(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Query(q): Query<StatsQuery>,
) -> Result<ApiOk<EventStatsOut>> {
    let mut errs = Vec::new();
    let start = q.start_date.as_deref().and_then(|v| fields::date("start_date", v, false, &mut errs));
    let end = q.end_date.as_deref().and_then(|v| fields::date("end_date", v, true, &mut errs));
    done(errs)?;
    let rows = events::stats(&st.db, &me.user.user_id, me.realm.as_deref(), start, end).await?;
    let mut out = EventStatsOut {
        total_events: 0,
        by_type: BTreeMap::new(),
        by_resource: BTreeMap::new(),
        oldest_event: None,
        newest_event: None,
    };
    let (mut oldest, mut newest) = (None, None);
    for r in rows {
        out.total_events += r.count;
        *out.by_type.entry(r.event_type).or_default() += r.count;
        *out.by_resource.entry(r.resource_type).or_default() += r.count;
        if let Some(o) = r.oldest {
            oldest = Some(oldest.map_or(o, |x: chrono::DateTime<Utc>| x.min(o)));
        }
        newest = newest.max(r.newest);
    }
    out.oldest_event = oldest.map(ts);
    out.newest_event = newest.map(ts);
    Ok(ApiOk::new("Event statistics", out))
}

/// Get event details by ID
#[utoipa::path(get, path = "/events/{id}", tag = "events", security(("bearer" = ["event_access"])),
    params(("id" = String, Path, description = "Event ID (24 hex)")),
    responses((status = 200, body = Envelope<EventOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn get_event(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Path(id): Path<String>,
) -> Result<ApiOk<EventOut>> {
    let id = fields::path_id(&id, not_found)?;
    let row = events::visible_one(&st.db, &me.user.user_id, me.realm.as_deref(), id).await?.ok_or_else(not_found)?;
    Ok(ApiOk::new("Event", EventOut::from(row)))
}

/// Delete a single event
///
/// For good. Only your own events: one of a project shared with you is 403, one you cannot see
/// 404.
#[utoipa::path(delete, path = "/events/{id}", tag = "events", security(("bearer" = ["event_access"])),
    params(("id" = String, Path, description = "Event ID (24 hex)")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn delete_event(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Path(id): Path<String>,
) -> Result<ApiOk<()>> {
    let id = fields::path_id(&id, not_found)?;
    let (user, realm) = (&me.user.user_id, me.realm.as_deref());
    if events::delete_own(&st.db, user, realm, id).await? {
        return Ok(ApiOk::new("Event deleted", ()));
    }
    match events::visible_one(&st.db, user, realm, id).await? {
        Some(_) => {
            Err(ApiError::forbidden("not_event_owner", "Only the owner of a shared project's events may delete them"))
        }
        None => Err(not_found()),
    }
}

/// Bulk delete events
///
/// Deletes your own events matching every filter given; at least one is needed (422 for none).
/// `deleted_count` is how many went.
#[utoipa::path(delete, path = "/events", tag = "events", security(("bearer" = ["event_access"])),
    request_body = BulkDeleteIn,
    responses((status = 200, body = Envelope<DeletedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn bulk_delete_events(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Json(input): Json<BulkDeleteIn>,
) -> Result<ApiOk<DeletedOut>> {
    let mut errs = Vec::new();
    check_kind("event_type", input.event_type.as_deref(), &mut errs);
    check_resource("resource_type", input.resource_type.as_deref(), &mut errs);
    check_id("realm_id", input.realm_id.as_deref(), &mut errs);
    if input.resource_id.as_deref().is_some_and(|r| r.is_empty() || r.len() > 256) {
        errs.push(FieldError::new("resource_id", "must be 1–256 characters"));
    }
    let before = input.before_date.as_deref().and_then(|v| fields::date("before_date", v, false, &mut errs));
    let given = input.event_type.is_some()
        || input.resource_type.is_some()
        || input.resource_id.is_some()
        || input.before_date.is_some()
        || input.realm_id.is_some();
    if errs.is_empty() && !given {
        errs.push(FieldError::new(
            "event_type",
            "give at least one of event_type, resource_type, resource_id, before_date, realm_id",
        ));
    }
    done(errs)?;
    let f = events::DeleteFilters {
        event_type: input.event_type.as_deref(),
        resource_type: input.resource_type.as_deref(),
        resource_id: input.resource_id.as_deref(),
        before,
        realm_id: input.realm_id.as_deref(),
    };
    let n = events::delete_matching(&st.db, &me.user.user_id, me.realm.as_deref(), &f).await?;
    Ok(ApiOk::new("Events deleted", DeletedOut { deleted_count: n as i64 }))
}

/// Cleanup old events
///
/// Deletes your own events older than `retention_days` (1–365) days.
#[utoipa::path(post, path = "/events/cleanup", tag = "events", security(("bearer" = ["event_access"])),
    request_body = CleanupIn,
    responses((status = 200, body = Envelope<CleanupOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.events"))))]
pub async fn cleanup_events(
    State(st): State<AppState>,
    EventReader(me): EventReader,
    Json(input): Json<CleanupIn>,
) -> Result<ApiOk<CleanupOut>> {
    if !(1..=365).contains(&input.retention_days) {
        return Err(ApiError::invalid("retention_days", "must be between 1 and 365"));
    }
    let cutoff = Utc::now() - chrono::Duration::days(input.retention_days);
    let f = events::DeleteFilters { before: Some(cutoff), ..Default::default() };
    let n = events::delete_matching(&st.db, &me.user.user_id, me.realm.as_deref(), &f).await?;
    Ok(ApiOk::new(
        "Old events deleted",
        CleanupOut { deleted_count: n as i64, retention_days: input.retention_days, cutoff_date: ts(cutoff) },
    ))
}
