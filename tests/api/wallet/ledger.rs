//! Balances, transfers and the ledger's invariants: double spends, idempotency, overdrafts,
//! malformed amounts, token leaves, and the operator's CLI.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc,
};

use futures::{stream, StreamExt};
use reqwest::Method;
use serde_json::json;

use super::{assert_ledger_verifies, fund, kept, s};
use crate::harness::{run_cli, TestApp};

const TRANSFERS: &str = "/api/v1/wallet/transfers";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_gross_fee_and_net_and_the_ledger_balances() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("transfer@example.com").await;
    let b = app.get("/api/v1/wallet/balances", Some(&u.token)).await;
    b.expect(200);
    assert_eq!(
        b.data(),
        &json!({"general_balance": "0.00", "ai_limit": "0.00", "ai_usage": "0.00", "ai_remaining": "0.00", "ai_usage_status": "live"})
    );
    app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": "1.00"}))).await.expect(402);
    fund(&app, &u.user_id, "100").await;
    let r = app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": "10.5", "expected_fee_bps": 500}))).await;
    r.expect(200);
    let d = r.data();
    assert_eq!((s(&d["gross_transferred"]), s(&d["fee"]), s(&d["net_ai_credit"])), ("10.50", "0.52", "9.98"));
    assert_eq!((s(&d["general_balance"]), s(&d["ai_balance"])), ("89.50", "9.98"));
    assert_eq!(d["replayed"], false);
    // What the database holds.
    assert_eq!(kept(&app.db, &u.user_id).await, (8950, 998));
    let fees: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_cents), 0)::bigint from ledger_posting where account_id = 'platform_fees'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(fees, 52);
    assert_ledger_verifies(&app.db).await;
    let ai = app.get("/api/v1/wallet/balances/ai", Some(&u.token)).await;
    assert_eq!(ai.data(), &json!({"ai_limit": "9.98", "ai_usage": "0.00", "ai_remaining": "9.98"}));
    let g = app.get("/api/v1/wallet/balances/general", Some(&u.token)).await;
    assert_eq!((s(&g.data()["general_balance"]), s(&g.data()["user_id"])), ("89.50", u.user_id.as_str()));
    // The transactions list and one transaction.
    let list = app.get("/api/v1/wallet/transactions?sort_by=amount&sort_order=asc", Some(&u.token)).await;
    list.expect(200);
    let txns = list.data()["transactions"].as_array().unwrap();
    assert_eq!(txns.len(), 2);
    assert_eq!(
        (s(&txns[0]["transaction_type"]), &txns[0]["amount"], s(&txns[0]["general_change"]), s(&txns[0]["ai_change"])),
        ("transfer", &json!(10.5), "-10.50", "9.98")
    );
    assert_eq!(list.data()["pagination"], json!({"total": 2, "page": 1, "limit": 20, "totalPages": 1}));
    let id = s(&txns[0]["id"]);
    app.get(&format!("/api/v1/wallet/transactions/{id}"), Some(&u.token)).await.expect(200);
    // Fee history.
    let fees = app.get("/api/v1/wallet/ai-fee-history", Some(&u.token)).await;
    fees.expect(200);
    assert_eq!(fees.data()["fees"][0]["amount"], "0.52");
    assert_eq!(fees.data()["fees"][0]["transaction"]["amount"], "10.50");
    // A fee the caller did not expect: 409, nothing moved.
    let stale = app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": "1", "expected_fee_bps": 100}))).await;
    stale.expect(409);
    assert_eq!(stale.code(), "fee_changed");
    assert_eq!(kept(&app.db, &u.user_id).await, (8950, 998));
    // Another user sees none of it.
    let other = app.verified_user("other@example.com").await;
    // A user who never had a balance (no ledger account at all) cannot transfer: 402, nothing kept.
    let none = app.post_auth(TRANSFERS, &other.token, Some(json!({"amount": "1.00"}))).await;
    assert_eq!((none.status.as_u16(), none.code()), (402, "insufficient_funds"));
    let rows: i64 = sqlx::query_scalar(
        "select (select count(*) from ledger_txn where user_id = $1) + (select count(*) from ledger_account where user_id = $1)",
    )
    .bind(&other.user_id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(rows, 0);
    app.get(&format!("/api/v1/wallet/transactions/{id}"), Some(&other.token)).await.expect(404);
    app.get("/api/v1/wallet/transactions/nothex", Some(&other.token)).await.expect(404);
    let theirs = app.get("/api/v1/wallet/transactions", Some(&other.token)).await;
    assert_eq!(theirs.data()["transactions"], json!([]));
}

/// R7: amounts that are not strict dollar strings are refused by name and move nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_amounts_move_nothing() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("fuzz@example.com").await;
    fund(&app, &u.user_id, "50").await;
    let bad = [
        json!("-1"),
        json!("+1"),
        json!("1e2"),
        json!("1.001"),
        json!(" 1"),
        json!("1 "),
        json!("0"),
        json!("0.00"),
        json!("1,00"),
        json!("NaN"),
        json!("Infinity"),
        json!("0x10"),
        json!(""),
        json!("."),
        json!("1."),
        json!(".5"),
        json!("1000000.01"),
        json!("99999999999999999999"),
        json!("١"),
        json!(1),
        json!(1.5),
        json!(null),
        json!(["1"]),
    ];
    for a in bad {
        let r = app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": a}))).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{a}: {} {}", r.status, r.text);
        if r.status == 422 {
            assert!(r.text.contains("amount"), "{a}: {}", r.text);
        }
    }
    for body in [
        json!({}),
        json!({"amount": "1", "expected_fee_bps": -1}),
        json!({"amount": "1", "expected_fee_bps": 10000}),
        json!({"amount": "1", "idempotency_key": ""}),
        json!({"amount": "1", "idempotency_key": "a b"}),
        json!({"amount": "1", "extra": true}),
    ] {
        let r = app.post_auth(TRANSFERS, &u.token, Some(body.clone())).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {} {}", r.status, r.text);
    }
    assert_eq!(kept(&app.db, &u.user_id).await, (5000, 0));
    let txns: i64 =
        sqlx::query_scalar("select count(*) from ledger_txn where kind = 'transfer'").fetch_one(&app.db).await.unwrap();
    assert_eq!(txns, 0);
}

/// R5: 1,000 concurrent transfers of 1.00 from 100.00 (64 at a time): exactly 100 succeed,
/// 900 are 402, and a sampler reading the database every 10 ms never sees a negative balance
/// or money appear or vanish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_transfers_never_overdraw() {
    let app = TestApp::spawn_with(|c| {
        c.db_max_connections = 24;
        c.money.ai_fee_bps = 500;
    })
    .await;
    let u = app.verified_user("storm@example.com").await;
    fund(&app, &u.user_id, "100.00").await;
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (db, user, stop) = (app.db.clone(), u.user_id.clone(), stop.clone());
        tokio::spawn(async move {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                // One statement: one snapshot.
                let (general, ai, fees): (i64, i64, i64) = sqlx::query_as(
                    "select (select balance_cents from ledger_account where user_id = $1 and kind = 'general'), \
                            (select balance_cents from ledger_account where user_id = $1 and kind = 'ai'), \
                            (select coalesce(sum(p.amount_cents), 0)::bigint from ledger_posting p join ledger_txn t using (txn_id) \
                              where t.user_id = $1 and p.account_id = 'platform_fees')",
                )
                .bind(&user)
                .fetch_one(&db)
                .await
                .unwrap();
                assert!(general >= 0 && ai >= 0, "negative: {general} {ai}");
                assert_eq!(general + ai + fees, 10_000, "money appeared or vanished");
                samples += 1;
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            samples
        })
    };
    let statuses: Vec<u16> = stream::iter(0..1000)
        .map(|_| {
            let app = &app;
            let token = u.token.clone();
            async move { app.post_auth(TRANSFERS, &token, Some(json!({"amount": "1.00"}))).await.status.as_u16() }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    assert!(samples > 0);
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 402).count();
    assert_eq!(
        (ok, refused),
        (100, 900),
        "{:?}",
        statuses.iter().filter(|s| !matches!(s, 200 | 402)).collect::<Vec<_>>()
    );
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 9500));
    let rows: i64 = sqlx::query_scalar("select count(*) from ledger_txn where user_id = $1 and kind = 'transfer'")
        .bind(&u.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(rows, 100);
    assert_ledger_verifies(&app.db).await;
    // The database itself refuses an overdraft, whatever the code does.
    let direct = sqlx::query("update ledger_account set balance_cents = -1 where user_id = $1 and kind = 'general'")
        .bind(&u.user_id)
        .execute(&app.db)
        .await;
    assert!(direct.unwrap_err().to_string().contains("ledger_account_no_negative"));
    // And the ledger is append-only.
    let rewrite = sqlx::query("update ledger_posting set amount_cents = 1").execute(&app.db).await;
    assert!(rewrite.unwrap_err().to_string().contains("append-only"));
    let unbalanced = async {
        let mut tx = app.db.begin().await?;
        sqlx::query("insert into ledger_txn (txn_id, user_id, kind, amount_cents) values ('aaaaaaaaaaaaaaaaaaaaaaaa', $1, 'credit', 1)")
            .bind(&u.user_id).execute(&mut *tx).await?;
        sqlx::query("insert into ledger_posting (txn_id, account_id, amount_cents) values ('aaaaaaaaaaaaaaaaaaaaaaaa', 'platform_promotions', -1)")
            .execute(&mut *tx).await?;
        tx.commit().await
    }
    .await;
    assert!(unbalanced.unwrap_err().to_string().contains("does not balance"));
}

/// R5's key: the same key sent 50 times at once moves money once; every answer is the same
/// transfer (the repeats say `replayed`); the key with another amount is 422.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_key_sent_fifty_times_at_once_moves_once() {
    let app = TestApp::spawn_with(|c| c.db_max_connections = 24).await;
    let u = app.verified_user("idem@example.com").await;
    fund(&app, &u.user_id, "20").await;
    let answers: Vec<(u16, serde_json::Value)> = stream::iter(0..50)
        .map(|i| {
            let app = &app;
            let token = u.token.clone();
            async move {
                // Half send the key in the header, half in the body: one key either way.
                let r = if i % 2 == 0 {
                    app.request_with(
                        Method::POST,
                        TRANSFERS,
                        Some(&token),
                        &[("idempotency-key", "order-7")],
                        Some(json!({"amount": "5"})),
                    )
                    .await
                } else {
                    app.post_auth(TRANSFERS, &token, Some(json!({"amount": "5.00", "idempotency_key": "order-7"})))
                        .await
                };
                (r.status.as_u16(), r.data().clone())
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    let ids: std::collections::HashSet<_> =
        answers.iter().map(|a| a.1["transaction_id"].as_str().unwrap().to_owned()).collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(answers.iter().filter(|a| a.1["replayed"] == false).count(), 1);
    assert_eq!(kept(&app.db, &u.user_id).await, (1500, 475));
    // Each answer, the first and the replays, shows the balances right after the transfer.
    assert!(answers.iter().all(|a| (s(&a.1["general_balance"]), s(&a.1["ai_balance"])) == ("15.00", "4.75")));
    let other = app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": "6", "idempotency_key": "order-7"}))).await;
    other.expect(422);
    // A retry that names a fee the server no longer charges still gets its transfer back (the
    // key is looked up first), not "fee changed, nothing was moved".
    let retry = app
        .post_auth(
            TRANSFERS,
            &u.token,
            Some(json!({"amount": "5", "idempotency_key": "order-7", "expected_fee_bps": 100})),
        )
        .await;
    retry.expect(200);
    assert_eq!(retry.data()["replayed"], true);
    let both = app
        .request_with(
            Method::POST,
            TRANSFERS,
            Some(&u.token),
            &[("idempotency-key", "a")],
            Some(json!({"amount": "1", "idempotency_key": "b"})),
        )
        .await;
    both.expect(422);
    // A transfer recorded before its balances were kept in its meta (its whole answer kept
    // instead) replays that answer.
    let old_answer = json!({"gross_transferred": "1.00", "net_ai_credit": "0.95", "fee": "0.05",
        "general_balance": "41.00", "ai_balance": "7.95", "key_created": false, "limit_sync_pending": false,
        "replayed": false, "transaction_id": "0000000000000000000000aa"});
    sqlx::query(
        "insert into ledger_txn (txn_id, user_id, kind, amount_cents, reason, idem_key, request_hash, meta) \
         values ('0000000000000000000000aa', $1, 'transfer', 100, 'Transfer to AI credits', 'c/before', \
                 sha256(convert_to(E'transfer\\n100', 'UTF8')), \
                 jsonb_build_object('fee_bps', 500, 'fee_cents', 5, 'net_cents', 95, 'answer', $2::jsonb))",
    )
    .bind(&u.user_id)
    .bind(&old_answer)
    .execute(&app.db)
    .await
    .unwrap();
    let before = app.post_auth(TRANSFERS, &u.token, Some(json!({"amount": "1", "idempotency_key": "before"}))).await;
    before.expect(200);
    let mut want = old_answer.clone();
    want["replayed"] = json!(true);
    assert_eq!(before.data(), &want);
    assert_eq!(kept(&app.db, &u.user_id).await, (1500, 475), "nothing moved");
    // Another user's identical key is their own.
    let v = app.verified_user("idem2@example.com").await;
    fund(&app, &v.user_id, "20").await;
    let theirs = app.post_auth(TRANSFERS, &v.token, Some(json!({"amount": "5", "idempotency_key": "order-7"}))).await;
    theirs.expect(200);
    assert_eq!(theirs.data()["replayed"], false);
    assert_ledger_verifies(&app.db).await;
}

/// Token leaves: reading needs `financial.wallet.read`, moving money `financial.wallet.transfer`.
#[tokio::test]
async fn token_leaves_guard_the_wallet() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("leaves@example.com").await;
    fund(&app, &u.user_id, "10").await;
    let (none, _) = app.new_token(&u.token, json!({})).await;
    let (read, _) = app.new_token(&u.token, json!({"permissions": {"financial": {"wallet": {"read": true}}}})).await;
    let (transfer, _) =
        app.new_token(&u.token, json!({"permissions": {"financial": {"wallet": {"transfer": true}}}})).await;
    for path in ["/api/v1/wallet/balances", "/api/v1/wallet/transactions", "/api/v1/wallet/ai-fee-history"] {
        app.get(path, Some(&none)).await.expect(403);
        app.get(path, Some(&read)).await.expect(200);
    }
    app.post_auth(TRANSFERS, &read, Some(json!({"amount": "1"}))).await.expect(403);
    app.post_auth(TRANSFERS, &transfer, Some(json!({"amount": "1"}))).await.expect(200);
    app.get("/api/v1/wallet/balances", None).await.expect(401);
    // Availability needs only a caller, and shows no secrets.
    let a = app.get("/api/v1/wallet/payment-availability", Some(&none)).await;
    a.expect(200);
    assert_eq!(a.data()["ai_credit_fee_bps"], 500);
    assert_eq!(a.data()["stripe"]["enabled"], false);
}

/// `hoody-api wallet credit` and `hoody-api ledger verify`, the real binary on the app's database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_credits_and_verifies_from_the_cli() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("cli-credit@example.com").await;
    let url = app.database_url();
    let dir = std::env::temp_dir().join(format!("hoody-wallet-cli-{}", hoody_api::db::new_id()));
    let (ok, out, err) =
        run_cli("wallet", &url, &dir, &["credit", "cli-credit@example.com", "25.5", "--reason", "refund #12"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("credited 25.50") && out.contains("general balance 25.50"), "{out}");
    let (ok, out, err) = run_cli("wallet", &url, &dir, &["credit", &u.user_id, "1e3", "--reason", "x"]);
    assert!(!ok && err.contains("amount"), "{out}{err}");
    let t = app.get("/api/v1/wallet/transactions", Some(&u.token)).await;
    assert_eq!(t.data()["transactions"][0]["reason"], "refund #12");
    assert_eq!(t.data()["transactions"][0]["transaction_type"], "credit");
    let (ok, out, err) = run_cli("ledger", &url, &dir, &["verify"]);
    assert!(ok && out.contains("ledger ok"), "{out}{err}");
    // A kept balance that disagrees with its postings (written behind the ledger's back) is found.
    sqlx::query("update ledger_account set balance_cents = balance_cents + 1 where user_id = $1 and kind = 'general'")
        .bind(&u.user_id)
        .execute(&app.db)
        .await
        .unwrap();
    let (ok, out, _) = run_cli("ledger", &url, &dir, &["verify"]);
    assert!(!ok && out.contains("MISMATCH account"), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}
