//! The inbox: list, public list, read one, read all.

use axum::extract::State;
use serde_json::json;

use super::dto::{NotificationOut, PublicNotificationOut, ReadAllOut, ReadOut};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{notifications, ts},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    events::{self, Event, EventKind, ResourceType},
    extract::Path,
    state::AppState,
};

fn not_found() -> ApiError {
    ApiError::not_found("notification_not_found", "Notification not found")
}

fn read_event(id: &str, user_id: &str, read_at: &str) -> Event {
    let data = json!({"notification_id": id, "read_at": read_at});
    Event::new(EventKind::NotificationRead, ResourceType::Notification, id, user_id, data)
}

/// Get all notifications for the authenticated user
///
/// The global notices and those for your account (security signals among them), unexpired,
/// newest first (at most 200), each with your own read state.
#[utoipa::path(get, path = "/notifications/", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<NotificationOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn list_notifications(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
) -> Result<ApiOk<Vec<NotificationOut>>> {
    let me = &me.user.user_id;
    let rows = notifications::for_user(&st.db, me).await?;
    Ok(ApiOk::new("Notifications", rows.iter().map(|r| NotificationOut::new(r, me)).collect()))
}

/// Get all public notifications
///
/// The public notices (maintenance windows, announcements), unexpired, newest first (at most
/// 200). No sign-in needed.
#[utoipa::path(get, path = "/notifications/public", tag = "notifications",
    responses((status = 200, body = Envelope<Vec<PublicNotificationOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn list_public_notifications(State(st): State<AppState>) -> Result<ApiOk<Vec<PublicNotificationOut>>> {
    let rows = notifications::public(&st.db).await?;
    Ok(ApiOk::new("Public notifications", rows.iter().map(|r| PublicNotificationOut::new(r, None)).collect()))
}

/// Mark all notifications as read
///
/// Marks every unread notification of yours read, for your account only; `count` is how many
/// this call marked.
#[utoipa::path(put, path = "/notifications/read-all", tag = "notifications", security(("bearer" = [])),
    responses((status = 200, body = Envelope<ReadAllOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn mark_all_notifications_read(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
) -> Result<ApiOk<ReadAllOut>> {
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    let marked = notifications::mark_all_read(&mut tx, me).await?;
    let now = ts(chrono::Utc::now());
    let read: Vec<Event> = marked.iter().map(|id| read_event(id, me, &now)).collect();
    events::publish_all(&mut tx, &read).await?;
    tx.commit().await?;
    Ok(ApiOk::new("All notifications marked as read", ReadAllOut { count: marked.len() as i64 }))
}

/// Mark a notification as read
///
/// For your account only (a global notice stays unread for everyone else). Marking it again
/// keeps the first `read_at`. Another account's notification, an expired one or a malformed id:
/// 404.
#[utoipa::path(put, path = "/notifications/{id}/read", tag = "notifications", security(("bearer" = [])),
    params(("id" = String, Path, description = "Notification ID (24 hex)")),
    responses((status = 200, body = Envelope<ReadOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn mark_notification_read(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
    Path(id): Path<String>,
) -> Result<ApiOk<ReadOut>> {
    let id = crate::api::fields::path_id(&id, not_found)?;
    let me = &me.user.user_id;
    let mut tx = st.db.begin().await?;
    let (read_at, fresh) = notifications::mark_read(&mut tx, me, id).await?.ok_or_else(not_found)?;
    let read_at = ts(read_at);
    if fresh {
        events::publish(&mut tx, read_event(id, me, &read_at)).await?;
    }
    tx.commit().await?;
    let out = ReadOut { id: id.to_owned(), notification_id: id.to_owned(), is_read: true, read_at: Some(read_at) };
    Ok(ApiOk::new("Notification marked as read", out))
}
