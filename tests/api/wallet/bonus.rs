//! The GitHub bonus: always 200 with the outcome in `data.result`; credited once per account
//! and once per GitHub identity, also when claimed many times at once.

use futures::future::join_all;
use serde_json::json;

use super::{assert_ledger_verifies, kept};
use crate::harness::TestApp;

const BONUS: &str = "/api/v1/wallet/github-bonus";
const CLAIM: &str = "/api/v1/wallet/github-bonus/claim";

async fn link(app: &TestApp, user_id: &str, github_id: &str, starred: bool) {
    sqlx::query(
        "insert into oauth_identity (provider, provider_user_id, user_id, login) values ('github', $1, $2, 'octo') \
                 on conflict (provider, provider_user_id) do update set user_id = excluded.user_id",
    )
    .bind(github_id)
    .bind(user_id)
    .execute(&app.db)
    .await
    .unwrap();
    sqlx::query("insert into github_star_check (user_id, github_user_id, repository, starred) values ($1, $2, 'hoody/hoody', $3) \
                 on conflict (user_id) do update set starred = excluded.starred, github_user_id = excluded.github_user_id")
        .bind(user_id).bind(github_id).bind(starred).execute(&app.db).await.unwrap();
}

async fn result(app: &TestApp, token: &str) -> String {
    let r = app.post_auth(CLAIM, token, None).await;
    r.expect(200);
    r.data()["result"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bonus_is_granted_once_per_account_and_per_identity() {
    let app = TestApp::spawn_with(|c| {
        c.github.star_repo = Some("hoody/hoody".into());
        c.money.github_bonus_cents = 500;
    })
    .await;
    let a = app.verified_user("star-a@example.com").await;
    let s = app.get(BONUS, Some(&a.token)).await;
    s.expect(200);
    assert_eq!(
        s.data(),
        &json!({"enabled": true, "repo": "hoody/hoody", "amount_usd": "5.00", "github_linked": false,
        "github_username": null, "claimed": false, "identity_claimed_elsewhere": false, "claim": null})
    );
    assert_eq!(result(&app, &a.token).await, "not_linked");
    link(&app, &a.user_id, "4242", false).await;
    assert_eq!(result(&app, &a.token).await, "retry");
    link(&app, &a.user_id, "4242", true).await;
    // Twenty claims at once: one grant, the rest already_claimed; 5.00 credited once.
    let results = join_all((0..20).map(|_| result(&app, &a.token))).await;
    assert_eq!(results.iter().filter(|r| *r == "granted").count(), 1, "{results:?}");
    assert!(results.iter().all(|r| r == "granted" || r == "already_claimed"), "{results:?}");
    assert_eq!(kept(&app.db, &a.user_id).await, (500, 0));
    let s = app.get(BONUS, Some(&a.token)).await;
    assert_eq!((&s.data()["claimed"], &s.data()["github_username"]), (&json!(true), &json!("octo")));
    assert_eq!(s.data()["claim"]["amount_usd"], "5.00");
    // The identity moves to another account: it cannot claim again.
    let b = app.verified_user("star-b@example.com").await;
    link(&app, &b.user_id, "4242", true).await;
    assert_eq!(app.get(BONUS, Some(&b.token)).await.data()["identity_claimed_elsewhere"], true);
    assert_eq!(result(&app, &b.token).await, "identity_claimed_elsewhere");
    assert_eq!(kept(&app.db, &b.user_id).await, (0, 0));
    assert_ledger_verifies(&app.db).await;
    let t = app.get("/api/v1/wallet/transactions", Some(&a.token)).await;
    assert_eq!(t.data()["transactions"][0]["transaction_type"], "bonus");
}

#[tokio::test]
async fn with_the_offer_off_only_enabled_false_and_an_earlier_claim() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("nooffer@example.com").await;
    let s = app.get(BONUS, Some(&a.token)).await;
    s.expect(200);
    assert_eq!(s.data(), &json!({"enabled": false}));
    assert_eq!(result(&app, &a.token).await, "offer_ended");
    let (none, _) = app.new_token(&a.token, json!({})).await;
    app.get(BONUS, Some(&none)).await.expect(403);
    app.post_auth(CLAIM, &none, None).await.expect(403);
}
