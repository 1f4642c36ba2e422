//! Operators' notices (`hoody-api notifications publish|list|remove`): a maintenance window, an
//! announcement or a status update, for every account (global) or for some, and shown without
//! signing in when public. Checked here, so the command refuses what the inbox could not show.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::{
    accounts,
    db::notifications::{self, NewNotification},
    events::{self, Event, EventKind, ResourceType},
};

pub const TYPES: &[&str] = &["MAINTENANCE", "ANNOUNCEMENT", "STATUS_UPDATE"];
pub const SEVERITIES: &[&str] = &["INFO", "WARNING", "ERROR", "SUCCESS"];

pub struct Notice {
    pub title: String,
    pub message: String,
    pub r#type: String,
    pub severity: String,
    pub public: bool,
    /// Accounts (id, e-mail or username); empty: global.
    pub users: Vec<String>,
    /// RFC 3339; must be in the future.
    pub expires_at: Option<String>,
}

/// Publish `n`: checked, stored, and (when targeted) a `notification.created` event for each
/// account, in one transaction. Returns its id.
pub async fn publish(db: &sqlx::PgPool, n: Notice) -> anyhow::Result<String> {
    let title = n.title.trim();
    let message = n.message.trim();
    anyhow::ensure!((1..=200).contains(&title.chars().count()), "--title must be 1-200 characters");
    anyhow::ensure!((1..=5000).contains(&message.chars().count()), "--message must be 1-5000 characters");
    let kind = n.r#type.trim().to_ascii_uppercase();
    anyhow::ensure!(TYPES.contains(&kind.as_str()), "--type must be one of {}", TYPES.join(", "));
    let severity = n.severity.trim().to_ascii_uppercase();
    anyhow::ensure!(SEVERITIES.contains(&severity.as_str()), "--severity must be one of {}", SEVERITIES.join(", "));
    anyhow::ensure!(n.users.len() <= 1000, "at most 1000 --user");
    anyhow::ensure!(!n.public || n.users.is_empty(), "a --public notice is for everyone: no --user");
    let expires_at = match n.expires_at.as_deref() {
        None => None,
        Some(v) => {
            let at = DateTime::parse_from_rfc3339(v.trim())
                .map_err(|_| anyhow::anyhow!("--expires-at must be RFC 3339 (2026-12-24T18:00:00Z)"))?
                .with_timezone(&Utc);
            anyhow::ensure!(at > Utc::now(), "--expires-at must be in the future");
            Some(at)
        }
    };
    let mut targets = Vec::new();
    for u in &n.users {
        let id = accounts::find(db, u).await?.user_id;
        if !targets.contains(&id) {
            targets.push(id);
        }
    }
    let row = NewNotification {
        title,
        message,
        r#type: &kind,
        severity: &severity,
        is_public: n.public,
        target_user_ids: (!targets.is_empty()).then_some(targets.as_slice()),
        signal: None,
        expires_at,
    };
    let mut tx = db.begin().await?;
    let id = notifications::insert(&mut *tx, &row).await?;
    let data = json!({"notification_id": id, "title": title, "type": kind, "severity": severity});
    events::publish_all(&mut tx, &for_each(&targets, EventKind::NotificationCreated, &id, &data)).await?;
    tx.commit().await?;
    Ok(id)
}

/// Remove a published notice from every inbox (with a `notification.deleted` event for each
/// account it targeted); false when there is none.
pub async fn remove(db: &sqlx::PgPool, id: &str) -> anyhow::Result<bool> {
    let mut tx = db.begin().await?;
    let Some(targets) = notifications::remove(&mut *tx, id).await? else { return Ok(false) };
    let data = json!({"notification_id": id});
    events::publish_all(&mut tx, &for_each(&targets, EventKind::NotificationDeleted, id, &data)).await?;
    tx.commit().await?;
    Ok(true)
}

/// One event about notice `id` for each of `users`.
fn for_each(users: &[String], kind: EventKind, id: &str, data: &serde_json::Value) -> Vec<Event> {
    users.iter().map(|u| Event::new(kind, ResourceType::Notification, id, u, data.clone())).collect()
}
