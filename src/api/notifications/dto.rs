//! Notification bodies.

use serde::Serialize;
use utoipa::ToSchema;

use crate::db::{notifications::NotificationRow, ts};

/// A notice as anyone may see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicNotificationOut {
    pub id: String,
    pub title: String,
    pub message: String,
    /// MAINTENANCE, ANNOUNCEMENT or STATUS_UPDATE.
    #[serde(rename = "type")]
    pub kind: String,
    /// INFO, WARNING, ERROR or SUCCESS.
    pub severity: String,
    pub is_public: bool,
    /// For every account (else targeted).
    pub is_global: bool,
    /// Null for a global notice; for a targeted one, only the caller's own id is shown (never
    /// the other accounts it is for).
    pub target_user_ids: Option<Vec<String>>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl PublicNotificationOut {
    /// `viewer`: the account it is shown to (None: shown publicly).
    pub fn new(r: &NotificationRow, viewer: Option<&str>) -> Self {
        Self {
            id: r.notification_id.clone(),
            title: r.title.clone(),
            message: r.message.clone(),
            kind: r.r#type.clone(),
            severity: r.severity.clone(),
            is_public: r.is_public,
            is_global: r.is_global,
            target_user_ids: match (&r.target_user_ids, viewer) {
                (Some(_), Some(me)) => Some(vec![me.to_owned()]),
                _ => None,
            },
            expires_at: r.expires_at.map(ts),
            created_at: ts(r.created_at),
            updated_at: ts(r.updated_at),
        }
    }
}

/// A notification in the account's inbox, with its read state (the account's own).
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationOut {
    #[serde(flatten)]
    pub notice: PublicNotificationOut,
    pub is_read: bool,
    pub read_at: Option<String>,
}

impl NotificationOut {
    pub fn new(r: &NotificationRow, viewer: &str) -> Self {
        Self {
            notice: PublicNotificationOut::new(r, Some(viewer)),
            is_read: r.read_at.is_some(),
            read_at: r.read_at.map(ts),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadOut {
    pub id: String,
    pub notification_id: String,
    pub is_read: bool,
    pub read_at: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadAllOut {
    /// How many notifications this call marked read (those read before are not counted).
    pub count: i64,
}
