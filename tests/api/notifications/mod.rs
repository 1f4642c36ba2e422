//! The account inbox: operators' notices, read state, and the security signals.

mod inbox;
mod signals;

use serde_json::Value;

use crate::harness::{run_cli, TestApp};

pub const LIST: &str = "/api/v1/notifications/";
pub const PUBLIC: &str = "/api/v1/notifications/public";
pub const READ_ALL: &str = "/api/v1/notifications/read-all";

/// `hoody-api notifications <args>` against the app's database: (success, stdout, stderr).
pub fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    run_cli("notifications", &app.database_url(), &app.data_dir, args)
}

/// The notifications the account's inbox shows, as the API answers.
pub async fn inbox(app: &TestApp, token: &str) -> Vec<Value> {
    let r = app.get(LIST, Some(token)).await;
    r.expect(200);
    r.data().as_array().expect("an array").clone()
}

/// The security signals stored for an account, oldest first (ground truth).
pub async fn signals_of(app: &TestApp, user_id: &str) -> Vec<(String, String)> {
    sqlx::query_as(
        "select signal, message from notification where $1 = any(target_user_ids) and signal is not null \
         order by created_at, notification_id",
    )
    .bind(user_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}
