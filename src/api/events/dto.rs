//! Event history bodies.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::list::{OffsetPagination, SortOrder},
    db::{events::HistoryRow, ts},
    events::{EventKind, ResourceType},
};

/// The most events one page holds.
pub const MAX_LIMIT: i64 = 500;
pub const DEFAULT_LIMIT: i64 = 50;

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EventSort {
    #[default]
    CreatedAt,
    EventType,
}

impl EventSort {
    /// The `order by` list (fixed strings; ties broken by the row id).
    pub fn order_by(self, order: SortOrder) -> &'static str {
        match (self, order) {
            (Self::CreatedAt, SortOrder::Desc) => "e.created_at desc, e.id desc",
            (Self::CreatedAt, SortOrder::Asc) => "e.created_at asc, e.id asc",
            (Self::EventType, SortOrder::Desc) => "e.event_type desc, e.created_at desc, e.id desc",
            (Self::EventType, SortOrder::Asc) => "e.event_type asc, e.created_at desc, e.id desc",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Events per page (1–500; default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// Events to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
    /// created_at or event_type (default created_at; ties newest first).
    #[param(inline)]
    pub sort_by: Option<EventSort>,
    /// asc or desc (default desc).
    #[param(inline)]
    pub sort_order: Option<SortOrder>,
    /// Only events of this type.
    #[param(value_type = Option<EventKind>)]
    pub event_type: Option<String>,
    /// Only events about this kind of resource.
    #[param(value_type = Option<ResourceType>)]
    pub resource_type: Option<String>,
    /// The resource's id (a 24-hex id, or a vault key's name).
    #[param(max_length = 256)]
    pub resource_id: Option<String>,
    /// Only events in this project (24 hex).
    #[param(pattern = "^[0-9a-f]{24}$")]
    pub project_id: Option<String>,
    /// Only events about this container (24 hex).
    #[param(pattern = "^[0-9a-f]{24}$")]
    pub container_id: Option<String>,
    /// Events at or after this time (RFC 3339 or YYYY-MM-DD).
    pub start_date: Option<String>,
    /// Events at or before this time (RFC 3339 or YYYY-MM-DD, the whole day).
    pub end_date: Option<String>,
    /// Only this realm's (24 hex); read by the realm layer with the host label.
    #[param(pattern = "^[0-9a-f]{24}$")]
    #[allow(dead_code)]
    pub realm_id: Option<String>,
    /// Added: only events numbered after this `seq`, oldest first (sorting is ignored) — what a
    /// client that was away missed. Events not numbered yet (a few milliseconds old) come later.
    #[param(minimum = 0)]
    pub after: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Events at or after this time (RFC 3339 or YYYY-MM-DD).
    pub start_date: Option<String>,
    /// Events at or before this time (RFC 3339 or YYYY-MM-DD, the whole day).
    pub end_date: Option<String>,
    /// Only this realm's (24 hex); read by the realm layer with the host label.
    #[param(pattern = "^[0-9a-f]{24}$")]
    #[allow(dead_code)]
    pub realm_id: Option<String>,
}

/// One event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    /// 24 lowercase hex; the stream's `eventId`.
    pub id: String,
    #[schema(value_type = EventKind)]
    pub event_type: String,
    #[schema(value_type = ResourceType)]
    pub resource_type: String,
    pub resource_id: String,
    /// The owner of the resource.
    pub user_id: String,
    pub payload: Value,
    pub realm_ids: Vec<String>,
    pub created_at: String,
    /// Added: its place in the stream (for `?after=`); absent for an event not numbered yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub seq: Option<i64>,
}

impl From<HistoryRow> for EventOut {
    fn from(r: HistoryRow) -> Self {
        Self {
            id: r.event_id,
            event_type: r.event_type,
            resource_type: r.resource_type,
            resource_id: r.resource_id,
            user_id: r.user_id,
            payload: if r.data.is_object() { r.data } else { Value::Object(Default::default()) },
            realm_ids: r.realm_ids,
            created_at: ts(r.created_at),
            seq: r.seq,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventListOut {
    pub events: Vec<EventOut>,
    pub pagination: OffsetPagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventStatsOut {
    pub total_events: i64,
    /// Events per type.
    pub by_type: BTreeMap<String, i64>,
    /// Events per resource type.
    pub by_resource: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub oldest_event: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub newest_event: Option<String>,
}

/// What a bulk delete removes of your events: those matching every field given (at least one).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"before_date": "2026-01-01", "resource_type": "container"}))]
pub struct BulkDeleteIn {
    #[schema(value_type = Option<EventKind>)]
    pub event_type: Option<String>,
    #[schema(value_type = Option<ResourceType>)]
    pub resource_type: Option<String>,
    #[schema(max_length = 256)]
    pub resource_id: Option<String>,
    /// Events before this time (RFC 3339 or YYYY-MM-DD).
    pub before_date: Option<String>,
    /// Events in this realm (24 hex).
    #[schema(pattern = "^[0-9a-f]{24}$")]
    pub realm_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedOut {
    pub deleted_count: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({"retention_days": 90}))]
pub struct CleanupIn {
    /// Events older than this many days are deleted (1–365).
    #[schema(minimum = 1, maximum = 365)]
    pub retention_days: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CleanupOut {
    pub deleted_count: i64,
    pub retention_days: i64,
    pub cutoff_date: String,
}
