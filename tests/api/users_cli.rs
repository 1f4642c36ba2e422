//! Issue 12, item 15: `hoody-api users list|ban|unban|make-admin`, the binary run against the live
//! app's database. A ban refuses the user's sessions, refresh tokens and auth tokens on the very
//! next request.

use std::{path::PathBuf, process::Command};

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{TestApp, PASSWORD};

const ME: &str = "/api/v1/users/auth/me";

struct Cli {
    url: String,
    dir: PathBuf,
}

impl Cli {
    fn new(app: &TestApp) -> Self {
        let dir = std::env::temp_dir().join(format!("hoody-users-cli-{}", hoody_api::db::new_id()));
        Self { url: app.database_url(), dir }
    }

    /// Run `hoody-api users <args>`; (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_hoody-api"))
            .arg("users")
            .args(args)
            .env("DATABASE_URL", &self.url)
            .env("HOODY_DATA_DIR", &self.dir)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "users {args:?}: {err}");
        out
    }

    fn list(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["list", "--json"];
        all.extend_from_slice(args);
        serde_json::from_str::<Value>(&self.ok(&all)).unwrap().as_array().unwrap().clone()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn a_ban_from_the_cli_refuses_sessions_and_tokens_at_once() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let alice = app.verified_user("alice@example.com").await;
    let bob = app.verified_user("bob@example.com").await;
    let (token, token_id) = app.new_token(&alice.token, json!({"permission_template": "read_only"})).await;
    app.get(ME, Some(&alice.token)).await.expect(200);
    app.get(ME, Some(&token)).await.expect(200);

    // list: both, as a table and as JSON, with filters.
    let table = cli.ok(&["list"]);
    assert!(table.contains("alice@example.com") && table.contains("bob@example.com"), "{table}");
    let rows = cli.list(&[]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["email"], "alice@example.com");
    assert_eq!(rows[0]["user_id"], alice.user_id.as_str());
    assert_eq!(rows[0]["is_banned"], false);
    assert!(rows[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(cli.list(&["--search", "BOB"]).len(), 1);
    assert!(cli.list(&["--banned"]).is_empty());

    // Ban (by an e-mail spelt another way): the very next request with the session, the auth token
    // or the refresh token is refused, and so is a new login.
    let out = cli.ok(&["ban", "ALICE@example.com"]);
    assert!(out.contains("banned") && out.contains(&alice.user_id), "{out}");
    // The ban is another process's commit: this replica hears of it by notification, which a
    // loaded machine may deliver a moment after the CLI returns. Refused within half the cache's
    // lifetime (only the notification can do that; the lifetime alone would take 1 s).
    let banned_at = std::time::Instant::now();
    let mut r = app.get(ME, Some(&alice.token)).await;
    while r.status.as_u16() == 200 && banned_at.elapsed() < std::time::Duration::from_millis(500) {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        r = app.get(ME, Some(&alice.token)).await;
    }
    assert!(matches!(r.status.as_u16(), 401 | 403), "{}", r.text);
    let r = app.get(ME, Some(&token)).await;
    r.expect(403);
    assert_eq!(r.code(), "account_banned");
    let r = app
        .request(Method::POST, "/api/v1/users/auth/refresh", None, Some(json!({"refreshToken": alice.refresh})))
        .await;
    assert!(matches!(r.status.as_u16(), 401 | 403), "{}", r.text);
    let r = app.post("/api/v1/users/auth/login", json!({"email": "alice@example.com", "password": PASSWORD})).await;
    r.expect(403);
    assert_eq!(r.code(), "account_banned");
    let live: i64 = sqlx::query_scalar("select count(*) from refresh_token where user_id = $1 and revoked_at is null")
        .bind(&alice.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(live, 0, "every refresh token is revoked");
    assert_eq!(cli.list(&["--banned"])[0]["user_id"], alice.user_id.as_str());
    // Bob is untouched.
    app.get(ME, Some(&bob.token)).await.expect(200);

    // Unban (by user id): sign in again; the auth token works again (it was not disabled); the old
    // session stays revoked.
    cli.ok(&["unban", &alice.user_id]);
    let again = app.login("alice@example.com", PASSWORD).await;
    app.get(ME, Some(&again.token)).await.expect(200);
    app.get(ME, Some(&token)).await.expect(200);
    assert_eq!(app.get(ME, Some(&alice.token)).await.status.as_u16(), 401);

    // A ban with --disable-tokens leaves the tokens disabled after the unban.
    let username = cli.list(&["--search", "alice"])[0]["username"].as_str().unwrap().to_owned();
    cli.ok(&["ban", &username, "--disable-tokens"]);
    cli.ok(&["unban", &username]);
    let r = app.get(ME, Some(&token)).await;
    r.expect(401);
    assert_eq!(r.code(), "token_disabled");
    let enabled: bool = sqlx::query_scalar("select is_enabled from auth_token where token_id = $1")
        .bind(&token_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(!enabled);

    // Each change is on the account's security record.
    let kinds: Vec<String> = sqlx::query_scalar(
        "select kind from security_event where user_id = $1 and kind like 'account.%' order by created_at",
    )
    .bind(&alice.user_id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(kinds, ["account.banned", "account.unbanned", "account.banned", "account.unbanned"]);
}

#[tokio::test]
async fn make_admin_grants_and_revokes_and_admins_cannot_be_banned() {
    let app = TestApp::spawn().await;
    let cli = Cli::new(&app);
    let carol = app.verified_user("carol@example.com").await;
    let out = cli.ok(&["make-admin", "carol@example.com"]);
    assert!(out.contains("now admin"), "{out}");
    let is_admin: bool = sqlx::query_scalar("select is_admin from app_user where user_id = $1")
        .bind(&carol.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(is_admin);
    assert_eq!(cli.list(&["--admins"]).len(), 1);
    // The admin flag is read on the next request: carol may now set another user's flags.
    let dave = app.verified_user("dave@example.com").await;
    let r = app
        .request(
            Method::PUT,
            &format!("/api/v1/users/{}", dave.user_id),
            Some(&carol.token),
            Some(json!({"alias": "Dave"})),
        )
        .await;
    r.expect(200);

    let (ok, _, err) = cli.run(&["ban", "carol@example.com"]);
    assert!(!ok && err.contains("administrator"), "{err}");
    cli.ok(&["make-admin", "--revoke", &carol.user_id]);
    assert!(cli.list(&["--admins"]).is_empty());
    cli.ok(&["ban", "carol@example.com"]);

    for args in [&["ban", "nobody@example.com"][..], &["unban", "000000000000000000000000"], &["make-admin", "ghost"]] {
        let (ok, _, err) = cli.run(args);
        assert!(!ok && err.contains("no account matches"), "{args:?}: {err}");
    }
    let (ok, _, err) = cli.run(&["make-admin", "carol@example.com"]);
    assert!(!ok && err.contains("banned"), "{err}");
}
