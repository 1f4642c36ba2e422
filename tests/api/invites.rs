//! The free tier's invite gate: codes made by `hoody-api invites create` (the binary, run here),
//! `POST /users/me/redeem-invite`, `GET /users/me/free-tier-status`, and the free-tier setup
//! held back until an invite is redeemed (`HOODY_FREE_TIER_INVITES=on`).

use std::process::Command;

use futures::future::join_all;
use serde_json::json;

use crate::{harness::TestApp, permissions::tree};

const REDEEM: &str = "/api/v1/users/me/redeem-invite";
const STATUS: &str = "/api/v1/users/me/free-tier-status";

/// Run `hoody-api invites <args>` against the app's own database; (success, stdout, stderr).
fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let url = std::env::var("DATABASE_URL").unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    let name = app.db.connect_options().get_database().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_hoody-api"))
        .arg("invites")
        .args(args)
        .env("DATABASE_URL", format!("{base}/{name}"))
        .env("HOODY_DATA_DIR", app.data_dir.join("cli"))
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn create(app: &TestApp, count: &str, uses: &str) -> Vec<String> {
    let (ok, out, err) = cli(app, &["create", "--count", count, "--uses", uses]);
    assert!(ok, "{err}");
    out.lines().map(str::to_owned).collect()
}

async fn invites(app: &TestApp) -> Vec<(i32, i32)> {
    sqlx::query_as("select max_uses, uses from invite_code order by created_at, invite_id")
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// A free server whose host does not exist: setting up the free tier makes its rows at once and
/// fails in the background, with no instance anywhere.
async fn free_server(app: &TestApp) {
    let fields = hoody_api::servers::ServerFields {
        region: Some("nowhere".into()),
        is_free: Some(true),
        lxd_endpoint: Some("unix:///nonexistent/hoody-invites-test.socket".into()),
        ..Default::default()
    };
    hoody_api::servers::add(&app.db, &app.state.sealer, "free-1", &fields).await.unwrap();
}

async fn projects_of(app: &TestApp, user_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from project where user_id = $1")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_cli_makes_codes_shown_once_and_stored_hashed() {
    let app = TestApp::spawn().await;
    let codes = create(&app, "3", "2");
    assert_eq!(codes.len(), 3);
    for c in &codes {
        assert_eq!(c.len(), 14, "{c}");
        assert!(c.split('-').all(|g| g.len() == 4), "{c}");
        assert!(!c.contains(['0', 'O', '1', 'I']), "{c}");
    }
    assert_eq!(invites(&app).await, vec![(2, 0); 3]);
    let dump: Vec<String> =
        sqlx::query_scalar("select invite_code::text from invite_code").fetch_all(&app.db).await.unwrap();
    assert!(dump.iter().all(|row| codes.iter().all(|c| !row.contains(&c.replace('-', "")))));
    // Defaults: one code, one use.
    let (ok, out, err) = cli(&app, &["create"]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 1);
    // Refusals store nothing.
    for args in [
        &["create", "--count", "0"][..],
        &["create", "--uses", "0"],
        &["create", "--count", "1001"],
        &["create", "--count", "x"],
    ] {
        let (ok, _, err) = cli(&app, args);
        assert!(!ok, "{args:?} succeeded");
        assert!(!err.is_empty());
    }
    assert_eq!(invites(&app).await.len(), 4);
}

#[tokio::test]
async fn the_gate_holds_the_free_tier_until_an_invite_is_redeemed() {
    let app = TestApp::spawn_with(|c| {
        c.free_tier = true;
        c.free_tier_invites = true;
    })
    .await;
    free_server(&app).await;
    let code = create(&app, "1", "1").remove(0);
    let a = app.verified_user("gated@example.com").await;
    assert_eq!(projects_of(&app, &a.user_id).await, 0, "no free tier before an invite");
    let r = app.get(STATUS, Some(&a.token)).await;
    r.expect(200);
    assert_eq!(
        r.data(),
        &json!({"gate_enabled": true, "unlocked": false, "has_free_server": false, "can_claim": false,
                "claim_blocked_reason": "invite_required", "signup_code_failed": false})
    );
    let r = app.post_auth("/api/v1/users/me/retry-setup", &a.token, None).await;
    r.expect(412);
    assert_eq!(r.code(), "invite_required");
    assert_eq!(projects_of(&app, &a.user_id).await, 0);

    // Bad input and wrong codes change nothing.
    for bad in [json!({"code": ""}), json!({"code": "x".repeat(65)})] {
        let r = app.post_auth(REDEEM, &a.token, Some(bad)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "code");
    }
    app.post_auth(REDEEM, &a.token, Some(json!({}))).await.expect(400);
    let r = app.post_auth(REDEEM, &a.token, Some(json!({"code": "2345-6789-ABCD"}))).await;
    r.expect(400);
    assert_eq!(r.code(), "invalid_invite_code");
    assert_eq!(invites(&app).await, vec![(1, 0)]);

    // The code, typed loosely: unlocked, and the free tier is set up at once.
    let r = app.post_auth(REDEEM, &a.token, Some(json!({"code": code.to_lowercase().replace('-', " ")}))).await;
    r.expect(200);
    assert_eq!((r.data()["unlocked"].as_bool(), r.data()["required"].as_bool()), (Some(true), Some(true)));
    assert_eq!(r.data()["claim_blocked_reason"], "none");
    assert_eq!(r.data()["project"]["alias"], "Default");
    assert_eq!(r.data()["container"]["name"], "default");
    assert_eq!(invites(&app).await, vec![(1, 1)]);
    let (unlocked, source): (bool, Option<String>) =
        sqlx::query_as("select free_tier_unlocked, free_tier_unlock_source from app_user where user_id = $1")
            .bind(&a.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(unlocked);
    assert_eq!(source.as_deref(), Some("invite"));
    // Idempotent: nothing more is spent.
    app.post_auth(REDEEM, &a.token, Some(json!({"code": "2345-6789-ABCD"}))).await.expect(200);
    assert_eq!(invites(&app).await, vec![(1, 1)]);
    let r = app.get(STATUS, Some(&a.token)).await;
    assert_eq!(r.data()["claim_blocked_reason"], "already_claimed");
    assert_eq!((r.data()["has_free_server"].as_bool(), r.data()["can_claim"].as_bool()), (Some(true), Some(false)));

    // Used up for the next account.
    let b = app.verified_user("late@example.com").await;
    let r = app.post_auth(REDEEM, &b.token, Some(json!({"code": code}))).await;
    r.expect(400);
    assert_eq!(projects_of(&app, &b.user_id).await, 0);

    // Who may call: sessions redeem; tokens read the status with resources.read_account.
    let (full, _) = app.new_token(&b.token, json!({"permission_template": "full_access"})).await;
    let r = app.post_auth(REDEEM, &full, Some(json!({"code": code}))).await;
    r.expect(403);
    assert_eq!(r.code(), "session_required");
    let (bare, _) = app.new_token(&b.token, json!({})).await;
    app.get(STATUS, Some(&bare)).await.expect(403);
    let (reader, _) = app.new_token(&b.token, json!({"permissions": tree(&["resources.read_account"])})).await;
    app.get(STATUS, Some(&reader)).await.expect(200);
    app.get(STATUS, None).await.expect(401);
}

#[tokio::test]
async fn concurrent_redemptions_spend_exactly_what_they_should() {
    let app = TestApp::spawn_with(|c| c.free_tier_invites = true).await;
    // One single-use code, five accounts at once: one wins.
    let code = create(&app, "1", "1").remove(0);
    let mut sessions = Vec::new();
    for i in 0..5 {
        let id = app.seed_user(&format!("racer{i}@example.com"), &format!("racer{i}"), crate::harness::PASSWORD).await;
        let s = app.login(&format!("racer{i}@example.com"), crate::harness::PASSWORD).await;
        assert_eq!(s.user_id, id);
        sessions.push(s);
    }
    let results = join_all(sessions.iter().map(|s| app.post_auth(REDEEM, &s.token, Some(json!({"code": code}))))).await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    assert_eq!(results.iter().filter(|r| r.status == 400).count(), 4);
    // One account, five requests with a five-use code: one use spent.
    let code = create(&app, "1", "5").remove(0);
    app.seed_user("solo@example.com", "solo", crate::harness::PASSWORD).await;
    let s = app.login("solo@example.com", crate::harness::PASSWORD).await;
    let results = join_all((0..5).map(|_| app.post_auth(REDEEM, &s.token, Some(json!({"code": code}))))).await;
    assert!(results.iter().all(|r| r.status == 200), "{:?}", results.iter().map(|r| &r.text).collect::<Vec<_>>());
    let uses: i32 =
        sqlx::query_scalar("select uses from invite_code where max_uses = 5").fetch_one(&app.db).await.unwrap();
    assert_eq!(uses, 1);
}

#[tokio::test]
async fn with_the_gate_off_redeeming_is_a_no_op() {
    let app = TestApp::spawn().await;
    let code = create(&app, "1", "1").remove(0);
    let s = app.verified_user("open@example.com").await;
    let r = app.post_auth(REDEEM, &s.token, Some(json!({"code": code}))).await;
    r.expect(200);
    assert_eq!((r.data()["unlocked"].as_bool(), r.data()["required"].as_bool()), (Some(true), Some(false)));
    assert_eq!(invites(&app).await, vec![(1, 0)], "the code is not spent");
    let r = app.get(STATUS, Some(&s.token)).await;
    assert_eq!(r.data()["gate_enabled"], false);
    assert_eq!(r.data()["unlocked"], true);
    // No free server (and the free tier is off in tests): the pool is empty.
    assert_eq!(r.data()["claim_blocked_reason"], "pool_empty");
    assert_eq!(r.data()["can_claim"], false);
}

#[tokio::test]
async fn wrong_codes_are_limited_per_account() {
    let app = TestApp::spawn_with(|c| c.free_tier_invites = true).await;
    let code = create(&app, "1", "1").remove(0);
    let s = app.verified_user("guesser@example.com").await;
    for _ in 0..10 {
        app.post_auth(REDEEM, &s.token, Some(json!({"code": "2345-6789-ABCD"}))).await.expect(400);
    }
    let r = app.post_auth(REDEEM, &s.token, Some(json!({"code": code}))).await;
    r.expect(429);
    assert_eq!(invites(&app).await, vec![(1, 0)]);
}
