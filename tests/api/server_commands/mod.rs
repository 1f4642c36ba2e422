//! The `serverCommands` tag on the real LXD: `list` (the catalogue, its filters, who may read
//! it), `run` (commands run in the server's helper and checked against what this machine
//! itself reports: `df`, `/proc/uptime`, `/proc/meminfo`; not waiting; timeouts; cooldowns),
//! `refuse` (every bad input and every caller refused with nothing stored and nothing run) and
//! `confirm` (high-risk commands and their single-use confirmation tokens, used concurrently).
//! The rental a caller needs is inserted directly.

mod confirm;
mod list;
mod refuse;
mod run;

use std::{ops::Deref, process::Command, time::Duration};

use reqwest::Method;
use serde_json::Value;

use crate::{
    fixtures::{exists, lxc, LxdApp},
    harness::{Resp, Session, TestApp, PASSWORD},
};

/// The app on the local LXD with one renter of its `local` server; the server's command helper
/// goes when the test ends, even when it fails.
pub struct Cmds {
    pub app: LxdApp,
    pub renter: Session,
}

impl Deref for Cmds {
    type Target = LxdApp;
    fn deref(&self) -> &LxdApp {
        &self.app
    }
}

impl Drop for Cmds {
    fn drop(&mut self) {
        let _ = Command::new("lxc").args(["delete", &self.helper(), "--force"]).output();
    }
}

impl Cmds {
    /// The server's command helper instance.
    pub fn helper(&self) -> String {
        format!("hoody-agent-{}", self.server_id)
    }

    pub fn execute_path(&self) -> String {
        format!("/api/v1/servers/{}/execute-command", self.server_id)
    }

    pub fn list_path(&self) -> String {
        format!("/api/v1/servers/{}/available-commands", self.server_id)
    }

    pub async fn execute(&self, token: &str, body: Value) -> Resp {
        self.call(Method::POST, &self.execute_path(), token, Some(body)).await
    }

    /// Rows of the command log.
    pub async fn log_rows(&self) -> i64 {
        sqlx::query_scalar("select count(*) from server_command_log").fetch_one(&self.db).await.unwrap()
    }

    /// One log row as JSON.
    pub async fn log_row(&self, id: &str) -> Value {
        sqlx::query_scalar("select to_jsonb(l) from server_command_log l where command_log_id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn command_id(&self, slug: &str) -> String {
        sqlx::query_scalar("select command_id from server_command where slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn executions(&self, slug: &str) -> i64 {
        sqlx::query_scalar("select execution_count from server_command where slug = $1")
            .bind(slug)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    /// Wait until log row `id` leaves `running`; the row.
    pub async fn settled(&self, id: &str) -> Value {
        for _ in 0..300 {
            let row = self.log_row(id).await;
            if row["status"] != "running" {
                return row;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("command log {id} is still running");
    }

    /// Add `sleep {seconds}` to the catalogue (timeouts: 1 s by default, 30 s at most).
    pub async fn add_sleep(&self) {
        sqlx::query(
            "insert into server_command (command_id, slug, name, category, risk_level, argv, parameter_schema, \
             default_timeout, max_timeout) values ($1, 'sleep', 'Sleep', 'test', 'low', array['sleep', '{seconds}'], \
             '{\"seconds\": {\"type\": \"integer\", \"min\": 1, \"max\": 60, \"required\": true}}', 1, 30)",
        )
        .bind(hoody_api::db::new_id())
        .execute(&self.db)
        .await
        .unwrap();
    }

    /// Whether the helper exists on LXD: whether anything was ever run.
    pub fn helper_exists(&self) -> bool {
        exists(&self.helper())
    }
}

/// The app with its renter (an active rental of `local`, inserted directly).
pub async fn spawn() -> Cmds {
    spawn_with(|_| {}).await
}

/// [`spawn`] with the config adjusted.
pub async fn spawn_with(adjust: impl FnOnce(&mut hoody_api::config::Config)) -> Cmds {
    let app = LxdApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
        adjust(c)
    })
    .await;
    let renter = user(&app, "renter").await;
    rent(&app, &renter.user_id, &app.server_id, "1 day").await;
    Cmds { app, renter }
}

/// A verified user, inserted directly, signed in.
pub async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

/// A rental of `server_id` by `user_id` ending `ends_in` from now (`-1 day`: an expired one; a
/// server has one active rental at most).
pub async fn rent(app: &TestApp, user_id: &str, server_id: &str, ends_in: &str) {
    sqlx::query(
        "insert into rental (rental_id, user_id, server_id, rental_start, rental_end, status, amount_cents, \
         total_paid_cents, renewal_pricing_frozen) \
         values ($1, $2, $3, least(now(), now() + $4::interval) - interval '1 day', now() + $4::interval, \
                 case when now() + $4::interval > now() then 'active' else 'expired' end, 0, 0, '{}')",
    )
    .bind(hoody_api::db::new_id())
    .bind(user_id)
    .bind(server_id)
    .bind(ends_in)
    .execute(&app.db)
    .await
    .unwrap();
}

/// Make `s` an administrator.
pub async fn make_admin(app: &TestApp, s: &Session) {
    sqlx::query("update app_user set is_admin = true where user_id = $1")
        .bind(&s.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    app.forget_cached();
}

/// A command line run on this machine (where LXD runs): its exit code and stdout.
pub fn local(program: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let out = Command::new(program).args(args).envs(env.iter().copied()).output().expect(program);
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The instance as LXD reports it.
pub fn instance(name: &str) -> Value {
    serde_json::from_str(&lxc(&["query", &format!("/1.0/instances/{name}")])).unwrap_or(Value::Null)
}

/// The field names of a 422's `details.fields`.
pub fn fields(r: &Resp) -> Vec<String> {
    r.body["details"]["fields"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["path"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
