//! Renting and extending: the debit, the rental and its end in one transaction (checked in the
//! database), the refusals in their order (422, 412, 402, 409), idempotency, concurrency (one
//! renter wins a server; two extensions from one read pay once), reads and their aliases.

use futures::future::join_all;
use reqwest::Method;
use serde_json::json;

use super::{general_cents, listed_server, rent, renter};
use crate::{harness::TestApp, wallet::assert_ledger_verifies};

async fn rental_rows(app: &TestApp, server_id: &str) -> Vec<(String, String, i64)> {
    sqlx::query_as("select user_id, status, total_paid_cents from rental where server_id = $1 order by created_at")
        .bind(server_id)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn rent_extend_read_and_every_refusal() {
    let app = TestApp::spawn().await;
    let u = renter(&app, "rent@example.com", "100").await;
    let s = listed_server(&app, "r1", 150, &[7, 30], &[("hold_days", "3")]).await;
    let fee = listed_server(&app, "r2", 100, &[7], &[("setup_fee_cents", "1000")]).await;

    // Bad input: named, nothing charged.
    for (body, field) in [
        (json!({"rental_days": 0}), "rental_days"),
        (json!({"rental_days": 3651}), "rental_days"),
        (json!({"rental_days": 10}), "rental_days"),
        (json!({"rental_days": 7, "max_charge_cents": -1}), "max_charge_cents"),
        (json!({"rental_days": 7, "max_charge_cents": 1049}), "max_charge_cents"),
        (json!({"rental_days": "7"}), "rental_days"),
    ] {
        let r = rent(&app, &u.token, &s, body.clone()).await;
        assert!(r.status == 422 || r.status == 400, "{body}: {}", r.text);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}");
    }
    // A pool that is not yours: 404 (pools/rentals.rs has the rest).
    let r = rent(&app, &u.token, &s, json!({"rental_days": 7, "pool_id": "0123456789abcdef01234567"})).await;
    r.expect(404);
    assert_eq!(r.code(), "pool_not_found");
    // A setup fee needs max_charge_cents confirming the total (7 × 1.00 + 10.00).
    let r = rent(&app, &u.token, &fee, json!({"rental_days": 7})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "max_charge_cents");
    rent(&app, &u.token, &fee, json!({"rental_days": 7, "max_charge_cents": 1699})).await.expect(422);
    // A server without a price cannot be rented (and is not in the marketplace).
    let free_of_charge = listed_server(&app, "zero", 0, &[7], &[]).await;
    rent(&app, &u.token, &free_of_charge, json!({"rental_days": 7})).await.expect(404);
    // Unknown and malformed server ids: 404.
    rent(&app, &u.token, "0123456789abcdef01234567", json!({"rental_days": 7})).await.expect(404);
    rent(&app, &u.token, "nope", json!({"rental_days": 7})).await.expect(404);
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000, "nothing charged");
    assert!(rental_rows(&app, &s).await.is_empty());

    // No payment method: 412; a balance that does not cover it: 402; nothing stored.
    let poor = app.verified_user("nopm@example.com").await;
    let r = rent(&app, &poor.token, &s, json!({"rental_days": 7})).await;
    r.expect(412);
    assert_eq!(r.code(), "payment_method_required");
    let broke = renter(&app, "broke@example.com", "10").await;
    let r = rent(&app, &broke.token, &s, json!({"rental_days": 7})).await;
    r.expect(402);
    assert_eq!(r.code(), "insufficient_funds");
    assert!(rental_rows(&app, &s).await.is_empty());
    assert_eq!(general_cents(&app, &broke.user_id).await, 1_000);

    // Rent: 7 × 1.50 = 10.50, debited once; the row says so.
    let r = app
        .request_with(
            Method::POST,
            &format!("/api/v1/servers/{s}/rent"),
            Some(&u.token),
            &[("idempotency-key", "rent-1")],
            Some(json!({"rental_days": 7})),
        )
        .await;
    r.expect(200);
    let d = r.data().clone();
    let rental = d["rental"]["id"].as_str().unwrap().to_owned();
    assert_eq!(d["rental"]["server_id"], s.as_str());
    assert_eq!((d["rental"]["status"].as_str(), d["rental"]["hold_days"].as_i64()), (Some("active"), Some(3)));
    assert_eq!(
        (d["rental"]["total_paid_cents"].as_i64(), d["rental"]["setup_fee_cents"].as_i64()),
        (Some(1050), Some(0))
    );
    assert_eq!(d["transaction"]["amount"], 10.5);
    assert_eq!(d["transaction"]["currency"], "USD");
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 1050);
    assert_eq!(rental_rows(&app, &s).await, [(u.user_id.clone(), "active".into(), 1050)]);
    let kind: String = sqlx::query_scalar("select kind from ledger_txn where txn_id = $1")
        .bind(d["transaction"]["id"].as_str().unwrap())
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(kind, "rent");
    // The same key: the first answer, nothing more paid; another body with it: 422.
    let again = app
        .request_with(
            Method::POST,
            &format!("/api/v1/servers/{s}/rent"),
            Some(&u.token),
            &[("idempotency-key", "rent-1")],
            Some(json!({"rental_days": 7})),
        )
        .await;
    again.expect(200);
    assert_eq!(again.data()["rental"]["id"], rental.as_str());
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 1050);
    app.request_with(
        Method::POST,
        &format!("/api/v1/servers/{s}/rent"),
        Some(&u.token),
        &[("idempotency-key", "rent-1")],
        Some(json!({"rental_days": 30})),
    )
    .await
    .expect(422);
    // Rented: someone else gets 409, and so do you (one active rental per server).
    let other = renter(&app, "other@example.com", "100").await;
    let r = rent(&app, &other.token, &s, json!({"rental_days": 7})).await;
    r.expect(409);
    assert_eq!(r.code(), "server_not_available");
    assert_eq!(general_cents(&app, &other.user_id).await, 10_000);

    // Reads: the list, one, and the /servers aliases give the same.
    let list = app.get("/api/v1/rentals", Some(&u.token)).await;
    list.expect(200);
    let one = &list.data()[0];
    assert_eq!(one["id"], rental.as_str());
    assert_eq!(one["amount"], "10.50");
    assert_eq!(one["remaining_days"], 7);
    assert_eq!(one["usage_days"], 0);
    assert_eq!(one["is_free_tier"], false);
    assert_eq!(one["pool_id"], serde_json::Value::Null);
    assert_eq!(one["server"]["id"], s.as_str());
    assert_eq!(one["server"]["container_capacity"], json!({"used": 0, "max": 50}));
    assert_eq!(one["transaction"]["amount"], 10.5);
    assert_eq!(one["renewal_pricing_frozen"]["price_per_day_cents"], 150);
    let aliased = app.get("/api/v1/servers", Some(&u.token)).await;
    assert_eq!(aliased.data(), list.data());
    let got = app.get(&format!("/api/v1/rentals/{rental}"), Some(&u.token)).await;
    got.expect(200);
    assert_eq!(&got.data()["id"], &one["id"]);
    assert_eq!(app.get(&format!("/api/v1/servers/{rental}"), Some(&u.token)).await.data(), got.data());
    // Another user's rental: 404 on every route.
    app.get(&format!("/api/v1/rentals/{rental}"), Some(&other.token)).await.expect(404);
    app.get(&format!("/api/v1/servers/{rental}"), Some(&other.token)).await.expect(404);
    assert_eq!(app.get("/api/v1/rentals", Some(&other.token)).await.data(), &json!([]));
    let end = one["rental_end"].as_str().unwrap().to_owned();
    let extend = format!("/api/v1/rentals/{rental}/extend");
    app.post_auth(&extend, &other.token, Some(json!({"expected_rental_end": end, "additional_days": 7})))
        .await
        .expect(404);

    // Extend: bad input named; a stale expected end → 409; nothing paid.
    for (body, field) in [
        (json!({"expected_rental_end": end, "additional_days": 5}), "additional_days"),
        (json!({"expected_rental_end": end, "additional_days": 0}), "additional_days"),
        (json!({"expected_rental_end": "tomorrow", "additional_days": 7}), "expected_rental_end"),
        (json!({"expected_rental_end": end, "additional_days": 7, "max_charge_cents": 100}), "max_charge_cents"),
    ] {
        let r = app.post_auth(&extend, &u.token, Some(body.clone())).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}");
    }
    let r = app.post_auth(&extend, &u.token, Some(json!({"additional_days": 7}))).await;
    assert!(r.status == 400 || r.status == 422, "expected_rental_end is required: {}", r.text);
    let r = app
        .post_auth(
            &extend,
            &u.token,
            Some(json!({"expected_rental_end": "2030-01-01T00:00:00.000Z", "additional_days": 7})),
        )
        .await;
    r.expect(409);
    assert_eq!(r.code(), "rental_changed");
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 1050);
    // Extend by 30 days at the frozen price (the server's price changed since: not applied).
    sqlx::query("update server set price_per_day_cents = 999 where server_id = $1")
        .bind(&s)
        .execute(&app.db)
        .await
        .unwrap();
    let r = app.post_auth(&extend, &u.token, Some(json!({"expected_rental_end": end, "additional_days": 30}))).await;
    r.expect(200);
    assert_eq!(r.data()["rental"]["total_paid_cents"], 1050 + 4500);
    assert_eq!(r.data()["rental"]["amount"], "55.50");
    assert_eq!(r.data()["rental"]["remaining_days"], 37);
    assert_eq!(r.data()["transaction"]["amount"], 45.0);
    let stored_end: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("select rental_end from rental where rental_id = $1")
            .bind(&rental)
            .fetch_one(&app.db)
            .await
            .unwrap();
    let before = chrono::DateTime::parse_from_rfc3339(&end).unwrap();
    assert_eq!((stored_end - before.with_timezone(&chrono::Utc)).num_days(), 30);
    assert_eq!(r.data()["rental"]["rental_end"], hoody_api::db::ts(stored_end));
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 1050 - 4500);
    assert_ledger_verifies(&app.db).await;

    // The setup fee is paid once, with the rent, when max_charge_cents confirms it.
    let r = rent(&app, &u.token, &fee, json!({"rental_days": 7, "max_charge_cents": 1700})).await;
    r.expect(200);
    assert_eq!(
        (r.data()["rental"]["setup_fee_cents"].as_i64(), r.data()["rental"]["total_paid_cents"].as_i64()),
        (Some(1000), Some(1700))
    );

    // Token leaves: rent, extend and reading each need their own.
    let (read_only, _) = app
        .new_token(&u.token, json!({"permissions": {"financial": {"server_rental": {"view_marketplace": true}}}}))
        .await;
    app.get("/api/v1/rentals", Some(&read_only)).await.expect(200);
    let s3 = listed_server(&app, "r3", 100, &[7], &[]).await;
    rent(&app, &read_only, &s3, json!({"rental_days": 7})).await.expect(403);
    app.post_auth(&extend, &read_only, Some(json!({"expected_rental_end": end, "additional_days": 7})))
        .await
        .expect(403);
    let (none, _) = app.new_token(&u.token, json!({})).await;
    app.get("/api/v1/rentals", Some(&none)).await.expect(403);
    let (renting, _) =
        app.new_token(&u.token, json!({"permissions": {"financial": {"server_rental": {"rent_servers": true}}}})).await;
    rent(&app, &renting, &s3, json!({"rental_days": 7})).await.expect(200);
}

#[tokio::test]
async fn many_renters_racing_for_one_server_one_wins_and_only_they_pay() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 100).await;
    let s = listed_server(&app, "hot", 100, &[7], &[]).await;
    let mut users = Vec::new();
    for i in 0..8 {
        users.push(renter(&app, &format!("race{i}@example.com"), "20").await);
    }
    let results = join_all(users.iter().map(|u| rent(&app, &u.token, &s, json!({"rental_days": 7})))).await;
    let won: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.status == 200).map(|(i, _)| i).collect();
    assert_eq!(won.len(), 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r.status == 200 || (r.status == 409 && r.code() == "server_not_available")));
    for (i, u) in users.iter().enumerate() {
        let want = if i == won[0] { 2_000 - 700 } else { 2_000 };
        assert_eq!(general_cents(&app, &u.user_id).await, want, "user {i}");
    }
    assert_eq!(rental_rows(&app, &s).await.len(), 1);
    assert_ledger_verifies(&app.db).await;
}

#[tokio::test]
async fn two_extensions_from_one_read_pay_once() {
    let app = TestApp::spawn().await;
    let u = renter(&app, "ext@example.com", "100").await;
    let s = listed_server(&app, "ext", 100, &[7], &[]).await;
    let r = rent(&app, &u.token, &s, json!({"rental_days": 7})).await;
    r.expect(200);
    let id = r.data()["rental"]["id"].as_str().unwrap().to_owned();
    let end = r.data()["rental"]["rental_end"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/rentals/{id}/extend");
    let body = json!({"expected_rental_end": end, "additional_days": 7});
    let results = join_all((0..6).map(|_| app.post_auth(&path, &u.token, Some(body.clone())))).await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", results.iter().map(|r| (r.status, r.code().to_owned())).collect::<Vec<_>>());
    assert!(results.iter().all(|r| r.status == 200 || r.code() == "rental_changed"));
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 700 - 700);
    let paid: i64 = sqlx::query_scalar("select total_paid_cents from rental where rental_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(paid, 1400);
    assert_ledger_verifies(&app.db).await;
}

#[tokio::test]
async fn one_key_sent_at_once_rents_once_and_every_answer_is_the_rental() {
    let app = TestApp::spawn().await;
    let u = renter(&app, "samekey@example.com", "100").await;
    let s = listed_server(&app, "samekey", 100, &[7], &[]).await;
    let path = format!("/api/v1/servers/{s}/rent");
    let results = join_all((0..6).map(|_| {
        app.request_with(
            Method::POST,
            &path,
            Some(&u.token),
            &[("idempotency-key", "same")],
            Some(json!({"rental_days": 7})),
        )
    }))
    .await;
    for r in &results {
        r.expect(200);
    }
    let ids: std::collections::BTreeSet<&str> =
        results.iter().map(|r| r.data()["rental"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one rental, given to every request");
    assert_eq!(general_cents(&app, &u.user_id).await, 10_000 - 700);
    assert_eq!(rental_rows(&app, &s).await.len(), 1);
}

#[tokio::test]
async fn a_rental_ending_within_a_day_is_announced_once_per_end() {
    let app = TestApp::spawn_with(|c| c.rental_sweep_interval = std::time::Duration::from_millis(100)).await;
    let u = renter(&app, "ending@example.com", "100").await;
    let s = listed_server(&app, "ending", 100, &[7], &[]).await;
    let r = rent(&app, &u.token, &s, json!({"rental_days": 7})).await;
    r.expect(200);
    let id = r.data()["rental"]["id"].as_str().unwrap().to_owned();
    let count = || async {
        let n: i64 = sqlx::query_scalar(
            "select count(*) from event where event_type = 'server.rental_expiring' and user_id = $1 and data->>'rental_id' = $2",
        )
        .bind(&u.user_id)
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
        n
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    assert_eq!(count().await, 0, "seven days left: nothing to announce");
    sqlx::query("update rental set rental_end = now() + interval '2 hours' where rental_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    let mut n = 0;
    for _ in 0..50 {
        n = count().await;
        if n > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(n, 1);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(count().await, 1, "announced once, not on every pass");
    // Extended (to 9 days left), then near its new end: announced again.
    let end: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("select rental_end from rental where rental_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let body = json!({"expected_rental_end": hoody_api::db::ts(end), "additional_days": 7});
    app.post_auth(&format!("/api/v1/rentals/{id}/extend"), &u.token, Some(body)).await.expect(200);
    sqlx::query("update rental set rental_end = now() + interval '3 hours' where rental_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    for _ in 0..50 {
        n = count().await;
        if n > 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(n, 2);
}

/// A command run whose process stopped (a crash, a restart) stays `running` in the log; the
/// sweeper records it as `failed` (`abandoned`) once it is a minute past its timeout, and leaves
/// alone a run still within its time and one whose helper is still being made ready.
#[tokio::test]
async fn command_runs_left_running_by_a_stopped_process_are_closed() {
    let app = TestApp::spawn_with(|c| c.rental_sweep_interval = std::time::Duration::from_millis(100)).await;
    let u = renter(&app, "abandoned@example.com", "1").await;
    let s = listed_server(&app, "cmds", 100, &[7], &[]).await;
    let insert = |started_secs_ago: i32, sent: bool| {
        let (app, s, user) = (&app, s.clone(), u.user_id.clone());
        async move {
            let id = hoody_api::db::new_id();
            sqlx::query(
                "insert into server_command_log (command_log_id, command_id, server_id, user_id, parameters, argv, \
                 timeout_seconds, status, start_time, sent_at) \
                 select $1, command_id, $2, $3, '{}', argv, 30, 'running', now() - make_interval(secs => $4), \
                        case when $5 then now() - make_interval(secs => $4) end \
                 from server_command where slug = 'uptime'",
            )
            .bind(&id)
            .bind(&s)
            .bind(&user)
            .bind(f64::from(started_secs_ago))
            .bind(sent)
            .execute(&app.db)
            .await
            .unwrap();
            id
        }
    };
    // Sent and past its timeout by more than a minute; sent and within it; never sent (its
    // helper still being made ready) for ten minutes: only the first is closed.
    let (old, recent, preparing) = (insert(30 + 61, true).await, insert(30 + 50, true).await, insert(600, false).await);
    let db = &app.db;
    let row = |id: String| async move {
        let r: (String, Option<String>, Option<i64>, bool) = sqlx::query_as(
            "select status, error, execution_time_ms, end_time is not null from server_command_log where command_log_id = $1",
        )
        .bind(id)
        .fetch_one(db)
        .await
        .unwrap();
        r
    };
    let mut got = row(old.clone()).await;
    for _ in 0..50 {
        if got.0 != "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        got = row(old.clone()).await;
    }
    assert_eq!((got.0.as_str(), got.1.as_deref(), got.3), ("failed", Some("abandoned"), true));
    assert!(got.2.is_some_and(|ms| ms >= 91_000), "{got:?}");
    let left = row(recent).await;
    assert_eq!((left.0.as_str(), left.1, left.3), ("running", None, false), "still within its time");
    let left = row(preparing).await;
    assert_eq!((left.0.as_str(), left.1, left.3), ("running", None, false), "still preparing");
}
