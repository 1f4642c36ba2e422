//! The wallet over HTTP on real Postgres: the ledger's invariants under concurrency (what the
//! database holds, not only what the API answers), transfers and their idempotency, payment
//! methods, invoices (the PDF read back with poppler) and the GitHub bonus.

mod bonus;
mod crypto;
mod invoices;
mod ledger;
mod methods;
mod storm;
mod stripe;

use serde_json::Value;
use sqlx::PgPool;

use crate::harness::TestApp;

/// Credit `user_id`'s general balance through the ledger (as the operator's CLI does).
pub async fn fund(app: &TestApp, user_id: &str, dollars: &str) -> String {
    let cents = hoody_api::money::amount("amount", dollars).unwrap();
    hoody_api::ledger::credit(&app.db, user_id, cents, "test funds").await.unwrap()
}

/// The user's kept balances in cents as the database holds them: (general, ai).
pub async fn kept(db: &PgPool, user_id: &str) -> (i64, i64) {
    let rows: Vec<(String, i64)> = sqlx::query_as("select kind, balance_cents from ledger_account where user_id = $1")
        .bind(user_id)
        .fetch_all(db)
        .await
        .unwrap();
    let get = |k: &str| rows.iter().find(|r| r.0 == k).map(|r| r.1).unwrap_or(0);
    (get("general"), get("ai"))
}

/// `hoody_api::db::ledger::verify` found nothing wrong (kept balances = postings, every
/// transaction balanced, no negative balance).
pub async fn assert_ledger_verifies(db: &PgPool) {
    let mismatches = hoody_api::db::ledger::verify(db).await.unwrap();
    assert!(mismatches.is_empty(), "{mismatches:?}");
}

pub fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}
