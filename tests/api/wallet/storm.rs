//! R6 and R7 of QUALITY.md: a mixed storm of money moves over ten wallets from 64 clients at
//! once against the real binary, killed with SIGKILL half way and started again. Afterwards
//! every balance equals its postings, no balance is negative, the money in the system is what
//! came in, no request was answered 500, and every transfer acknowledged before the kill is in
//! the ledger.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use futures::{stream, StreamExt};
use rand::{Rng, SeedableRng};
use serde_json::json;

use super::{assert_ledger_verifies, fund};
use crate::harness::{Served, TestApp};

const OPS: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_storm_with_a_kill_half_way_keeps_every_invariant() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 100).await;
    // (user id, an auth token that may transfer: tokens work on any server process of the
    // database, sessions only where their signing key is)
    let mut users = Vec::new();
    for i in 0..10 {
        let u = app.verified_user(&format!("storm{i}@example.com")).await;
        fund(&app, &u.user_id, "100.00").await;
        let (token, _) =
            app.new_token(&u.token, json!({"permissions": {"financial": {"wallet": {"transfer": true}}}})).await;
        users.push((u.user_id.clone(), token));
    }
    let url = app.database_url();
    let env = [("HOODY_AI_CREDIT_FEE_BPS", "500"), ("HOODY_DB_MAX_CONNECTIONS", "24")];
    let mut served = Some(Served::start(&url, "warn", &env, "/readyz").await);
    let base = Arc::new(std::sync::Mutex::new(served.as_ref().unwrap().base.clone()));
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(60)).build().unwrap();
    let sent = Arc::new(AtomicUsize::new(0));
    let mut funded = 10 * 10_000i64;
    let mut acknowledged: Vec<String> = Vec::new();
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    let mut cut = 0usize;
    // Two halves: the server is killed between them, with requests of the first still in flight.
    for half in 0..2 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7 + half);
        let ops: Vec<(usize, i64, bool)> =
            (0..OPS / 2).map(|_| (rng.gen_range(0..10), rng.gen_range(1..=300), rng.gen_bool(0.05))).collect();
        let results: Vec<(u16, Option<String>, i64)> = stream::iter(ops)
            .map(|(who, cents, credit)| {
                let (client, base, sent, app) = (&client, base.clone(), sent.clone(), &app);
                let u = &users[who];
                async move {
                    sent.fetch_add(1, Ordering::Relaxed);
                    if credit {
                        // An operator's credit, straight through the ledger (a payment credit's shape).
                        hoody_api::ledger::credit(&app.db, &u.0, cents, "storm credit").await.unwrap();
                        return (201, None, cents);
                    }
                    let amount = hoody_api::money::dollars(cents);
                    let url = format!("{}/api/v1/wallet/transfers", base.lock().unwrap().clone());
                    match client.post(url).bearer_auth(&u.1).json(&json!({"amount": amount})).send().await {
                        Ok(r) => {
                            let status = r.status().as_u16();
                            let body: serde_json::Value = r.json().await.unwrap_or_default();
                            (status, body["data"]["transaction_id"].as_str().map(str::to_owned), 0)
                        }
                        Err(_) => (0, None, 0),
                    }
                }
            })
            .buffer_unordered(64)
            .collect()
            .await;
        for (status, txn, credited) in results {
            *statuses.entry(status).or_default() += 1;
            funded += credited;
            if let (200, Some(t)) = (status, txn) {
                acknowledged.push(t);
            }
        }
        if half == 0 {
            // SIGKILL while the next requests arrive: a burst in flight at the moment of the kill.
            let s = served.take().unwrap();
            let burst = {
                let (client, base) = (client.clone(), base.lock().unwrap().clone());
                let tokens: Vec<String> = users.iter().map(|u| u.1.clone()).collect();
                tokio::spawn(async move {
                    let mut out = Vec::new();
                    for t in tokens.iter().cycle().take(200) {
                        let r = client
                            .post(format!("{base}/api/v1/wallet/transfers"))
                            .bearer_auth(t)
                            .json(&json!({"amount": "0.01"}))
                            .send()
                            .await;
                        out.push(match r {
                            Ok(r) => (
                                r.status().as_u16(),
                                r.json::<serde_json::Value>()
                                    .await
                                    .ok()
                                    .and_then(|b| b["data"]["transaction_id"].as_str().map(str::to_owned)),
                            ),
                            Err(_) => (0, None),
                        });
                    }
                    out
                })
            };
            tokio::time::sleep(std::time::Duration::from_millis(150)).await;
            s.kill();
            for (status, txn) in burst.await.unwrap() {
                *statuses.entry(status).or_default() += 1;
                cut += usize::from(status == 0);
                if let (200, Some(t)) = (status, txn) {
                    acknowledged.push(t);
                }
            }
            let restarted = Served::start(&url, "warn", &env, "/readyz").await;
            *base.lock().unwrap() = restarted.base.clone();
            served = Some(restarted);
        }
    }
    served.take().unwrap().kill();
    assert!(!statuses.contains_key(&500), "{statuses:?}");
    assert!(statuses.keys().all(|s| matches!(s, 0 | 200 | 201 | 402)), "{statuses:?}");
    assert!(statuses.get(&402).copied().unwrap_or(0) > 0, "the storm drained some wallets: {statuses:?}");
    assert!(cut > 0, "the kill cut requests in flight: {statuses:?}");
    // Every acknowledged transfer is in the ledger.
    let known: Vec<String> = sqlx::query_scalar("select txn_id from ledger_txn where txn_id = any($1)")
        .bind(&acknowledged)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(known.len(), acknowledged.len());
    // Balances equal postings, no negative balance, every transaction balanced.
    assert_ledger_verifies(&app.db).await;
    // The money in the wallets plus the fees taken is what came in.
    let (balances, fees): (i64, i64) = sqlx::query_as(
        "select (select coalesce(sum(balance_cents), 0)::bigint from ledger_account where user_id is not null), \
                (select coalesce(sum(amount_cents), 0)::bigint from ledger_posting where account_id = 'platform_fees')",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(balances + fees, funded);
    let negative: i64 = sqlx::query_scalar("select count(*) from ledger_account where balance_cents < 0")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(negative, 0);
}
