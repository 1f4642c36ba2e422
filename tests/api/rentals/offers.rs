//! Machines to order: an operator's offer (the real CLI), a reservation paid at once (ledger
//! checked), once per key, stock that never goes below zero under concurrency, the reads, and
//! delivery by `servers add --reservation`, which makes the buyer's rental. Also the CLI's
//! `--listing`, which puts a server in the marketplace.

use futures::future::join_all;
use serde_json::json;

use super::{general_cents, renter, MARKET};
use crate::{
    harness::{run_cli, TestApp},
    wallet::assert_ledger_verifies,
};

fn cli(app: &TestApp, command: &str, args: &[&str]) -> String {
    let (ok, out, err) = run_cli(command, &app.database_url(), &app.data_dir, args);
    assert!(ok, "hoody-api {command} {args:?}: {err}");
    out
}

#[tokio::test]
async fn order_pay_once_and_deliver_by_registering_the_server() {
    let app = TestApp::spawn_with(|c| c.limits.signup_per_hour = 100).await;
    let spec = json!({"country": "DE", "region": "eu-central", "cpu_model": "Ryzen 9 7950X", "cpu_cores": 16,
        "ram_gb": 128, "disks": [{"count": 2, "capacity_gb": 1920, "type": "NVMe"}], "price_per_day_cents": 200,
        "rental_days": [30, 90], "hold_days": 2, "setup_fee_cents": 5000, "delivery_hours": 48, "stock": 3});
    let out = cli(&app, "offers", &["add", "ryzen", "--json", &spec.to_string()]);
    assert!(out.contains("added offer ryzen"), "{out}");
    let (ok, _, err) = run_cli(
        "offers",
        &app.database_url(),
        &app.data_dir,
        &["add", "bad", "--json", r#"{"country":"DE","colour":"red"}"#],
    );
    assert!(!ok && err.contains("colour"), "{err}");
    let (ok, _, err) = run_cli(
        "offers",
        &app.database_url(),
        &app.data_dir,
        &["add", "bad", "--json", r#"{"country":"DE","price_per_day_cents":1,"rental_days":[30],"delivery_hours":0}"#],
    );
    assert!(!ok, "delivery_hours 0 is refused by the table: {err}");

    let u = renter(&app, "order@example.com", "200").await;
    let offers = app.get("/api/v1/offers", Some(&u.token)).await;
    offers.expect(200);
    let o = &offers.data()[0];
    assert_eq!(offers.data().as_array().unwrap().len(), 1);
    let offer = o["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (o["delivery_hours"].as_i64(), o["stock"].as_i64(), o["setup_fee_cents"].as_i64()),
        (Some(48), Some(3), Some(5000))
    );
    assert_eq!(o["pricing_rules"]["prices"], json!({"30": "60.00", "90": "180.00"}));
    assert_eq!(o["disks"][0]["type"], "NVMe");
    let reserve = format!("/api/v1/offers/{offer}/reserve");

    // Refusals: named, nothing charged.
    for (body, field) in [
        (json!({"days": 7, "idempotency_key": "k0", "max_charge_cents": 99999}), "days"),
        (json!({"days": 30, "idempotency_key": "k0"}), "max_charge_cents"),
        (json!({"days": 30, "idempotency_key": "k0", "max_charge_cents": 10999}), "max_charge_cents"),
        (json!({"days": 30, "idempotency_key": "", "max_charge_cents": 11000}), "idempotency_key"),
    ] {
        let r = app.post_auth(&reserve, &u.token, Some(body.clone())).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}");
    }
    let r = app.post_auth(&reserve, &u.token, Some(json!({"days": 30, "max_charge_cents": 11000}))).await;
    assert!(r.status == 400 || r.status == 422, "idempotency_key is required: {}", r.text);
    let r = app
        .post_auth(
            &reserve,
            &u.token,
            Some(json!({"days": 30, "idempotency_key": "k0", "max_charge_cents": 11000, "pool_id": "x"})),
        )
        .await;
    assert_eq!((r.status.as_u16(), r.body["details"]["fields"][0]["path"].as_str()), (422, Some("pool_id")));
    app.post_auth(
        "/api/v1/offers/0123456789abcdef01234567/reserve",
        &u.token,
        Some(json!({"days": 30, "idempotency_key": "k0"})),
    )
    .await
    .expect(404);
    let nopm = app.verified_user("order-nopm@example.com").await;
    let r = app
        .post_auth(&reserve, &nopm.token, Some(json!({"days": 30, "idempotency_key": "k0", "max_charge_cents": 11000})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (412, "payment_method_required"));
    let poor = renter(&app, "order-poor@example.com", "100").await;
    let r = app
        .post_auth(&reserve, &poor.token, Some(json!({"days": 30, "idempotency_key": "k0", "max_charge_cents": 11000})))
        .await;
    assert_eq!((r.status.as_u16(), r.code()), (402, "insufficient_funds"));
    assert_eq!(general_cents(&app, &u.user_id).await, 20_000);

    // Reserve: 30 × 2.00 + 50.00 setup, charged at once; the same key again: the same order.
    let body = json!({"days": 30, "idempotency_key": "order-1", "max_charge_cents": 11000});
    let r = app.post_auth(&reserve, &u.token, Some(body.clone())).await;
    r.expect(200);
    let res = r.data()["reservation"].clone();
    assert_eq!(r.data()["replayed"], false);
    assert_eq!(
        (res["state"].as_str(), res["days"].as_i64(), res["total_paid_cents"].as_i64()),
        (Some("pending"), Some(30), Some(11000))
    );
    assert_eq!((res["rental_cents"].as_i64(), res["setup_fee_cents"].as_i64()), (Some(6000), Some(5000)));
    assert_eq!(res["server_id"], serde_json::Value::Null);
    assert_eq!(res["offer_snapshot"]["name"], "ryzen");
    let ready = chrono::DateTime::parse_from_rfc3339(res["ready_by"].as_str().unwrap()).unwrap();
    let made = chrono::DateTime::parse_from_rfc3339(res["created_at"].as_str().unwrap()).unwrap();
    assert_eq!((ready - made).num_hours(), 48);
    let again = app.post_auth(&reserve, &u.token, Some(body.clone())).await;
    again.expect(200);
    assert_eq!((again.data()["replayed"].as_bool(), &again.data()["reservation"]["id"]), (Some(true), &res["id"]));
    assert_eq!(general_cents(&app, &u.user_id).await, 20_000 - 11000);
    let stock: Option<i32> = sqlx::query_scalar("select stock from server_offer where offer_id = $1")
        .bind(&offer)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stock, Some(2));

    // Two machines left, five buyers at once: two orders, never a negative stock.
    let mut buyers = Vec::new();
    for i in 0..5 {
        buyers.push(renter(&app, &format!("buyer{i}@example.com"), "200").await);
    }
    let results = join_all(buyers.iter().map(|b| {
        app.post_auth(&reserve, &b.token, Some(json!({"days": 30, "idempotency_key": "b", "max_charge_cents": 11000})))
    }))
    .await;
    assert_eq!(results.iter().filter(|r| r.status == 200).count(), 2);
    assert!(results.iter().all(|r| r.status == 200 || r.code() == "offer_out_of_stock"));
    let paid = join_all(buyers.iter().map(|b| general_cents(&app, &b.user_id))).await;
    assert_eq!(paid.iter().filter(|c| **c == 20_000 - 11000).count(), 2, "{paid:?}");
    assert_eq!(paid.iter().filter(|c| **c == 20_000).count(), 3, "{paid:?}");
    assert_eq!(app.get("/api/v1/offers", Some(&u.token)).await.data()[0]["stock"], 0);
    assert_ledger_verifies(&app.db).await;

    // An order that will not be delivered: listed as pending, refunded once (the buyer's balance
    // whole again), its unit back in stock; a refunded order cannot be delivered.
    let won: Vec<(usize, String)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status == 200)
        .map(|(i, r)| (i, r.data()["reservation"]["id"].as_str().unwrap().to_owned()))
        .collect();
    let (buyer, order) = (&buyers[won[0].0], won[0].1.clone());
    assert!(cli(&app, "offers", &["pending"]).contains(&order));
    let out = cli(&app, "offers", &["refund", &order, "--reason", "the machine is back", "--restock"]);
    assert!(out.contains("refunded reservation"), "{out}");
    assert_eq!(general_cents(&app, &buyer.user_id).await, 20_000);
    let (ok, _, err) = run_cli("offers", &app.database_url(), &app.data_dir, &["refund", &order, "--reason", "again"]);
    assert!(!ok && err.contains("no pending reservation"), "{err}");
    assert_eq!(general_cents(&app, &buyer.user_id).await, 20_000, "refunded once");
    let got = app.get(&format!("/api/v1/reservations/{order}"), Some(&buyer.token)).await;
    assert_eq!(got.data()["state"], "refunded");
    assert_eq!(app.get("/api/v1/offers", Some(&u.token)).await.data()[0]["stock"], 1);
    assert!(!cli(&app, "offers", &["pending"]).contains(&order));
    let (ok, _, err) = run_cli(
        "servers",
        &app.database_url(),
        &app.data_dir,
        &["add", "never", "--region", "x", "--reservation", &order],
    );
    assert!(!ok && err.contains("no pending reservation"), "a refunded reservation is not delivered: {err}");
    let n: i64 =
        sqlx::query_scalar("select count(*) from server where name = 'never'").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0);
    // Without --restock (the default), the stock stays as it is.
    let other = (&buyers[won[1].0], won[1].1.clone());
    cli(&app, "offers", &["refund", &other.1, "--reason", "no machine came"]);
    assert_eq!(general_cents(&app, &other.0.user_id).await, 20_000);
    assert_eq!(app.get("/api/v1/offers", Some(&u.token)).await.data()[0]["stock"], 1);
    assert_ledger_verifies(&app.db).await;

    // Reads: the page with total/limit/offset beside data; one; another user's is 404.
    let list = app.get("/api/v1/reservations?limit=1&offset=0", Some(&u.token)).await;
    list.expect(200);
    assert_eq!(
        (list.body["total"].as_i64(), list.body["limit"].as_i64(), list.body["offset"].as_i64()),
        (Some(1), Some(1), Some(0))
    );
    assert_eq!(list.data()[0]["id"], res["id"]);
    app.get("/api/v1/reservations?limit=0", Some(&u.token)).await.expect(422);
    app.get("/api/v1/reservations?limit=201", Some(&u.token)).await.expect(422);
    let id = res["id"].as_str().unwrap();
    app.get(&format!("/api/v1/reservations/{id}"), Some(&u.token)).await.expect(200);
    app.get(&format!("/api/v1/reservations/{id}"), Some(&poor.token)).await.expect(404);

    // Delivery: the operator registers the server with the reservation; the buyer rents it now.
    let out = cli(&app, "servers", &["add", "ryzen-1", "--region", "eu-central", "--reservation", id]);
    assert!(out.contains("delivered reservation"), "{out}");
    let got = app.get(&format!("/api/v1/reservations/{id}"), Some(&u.token)).await;
    assert_eq!(got.data()["state"], "fulfilled");
    let rental = got.data()["rental_id"].as_str().unwrap().to_owned();
    let rentals = app.get("/api/v1/rentals", Some(&u.token)).await;
    assert_eq!(rentals.data()[0]["id"], rental.as_str());
    assert_eq!(rentals.data()[0]["server"]["name"], "ryzen-1");
    assert_eq!(rentals.data()[0]["remaining_days"], 30);
    assert_eq!(rentals.data()[0]["total_paid_cents"], 11000);
    assert_eq!(rentals.data()[0]["renewal_pricing_frozen"]["price_per_day_cents"], 200);
    // A reservation is delivered once.
    let (ok, _, err) = run_cli(
        "servers",
        &app.database_url(),
        &app.data_dir,
        &["add", "ryzen-2", "--region", "eu-central", "--reservation", id],
    );
    assert!(!ok && err.contains("no pending reservation"), "{err}");

    // `--listing` puts a server in the marketplace with its specs; bad listings are refused.
    let n: i64 =
        sqlx::query_scalar("select count(*) from server where name = 'ryzen-2'").fetch_one(&app.db).await.unwrap();
    assert_eq!(n, 0, "nothing registered for a reservation that cannot be delivered");
    let listing =
        json!({"listed": true, "category": "compute", "disks": [{"count": 1, "capacity_gb": 960, "type": "SSD"}]});
    cli(
        &app,
        "servers",
        &["add", "ryzen-2", "--region", "eu-central", "--price-per-day-cents", "300", "--rental-days", "30"],
    );
    cli(&app, "servers", &["update", "ryzen-2", "--listing", &listing.to_string()]);
    let m = app.get(&format!("{MARKET}?disk_types=SSD&category=compute"), Some(&u.token)).await;
    assert_eq!(m.data()[0]["name"], "ryzen-2");
    for bad in [r#"{"category":"toaster"}"#, r#"{"disks":[{"count":1}]}"#, r#"{"speed":1}"#, "[]"] {
        let (ok, _, _) =
            run_cli("servers", &app.database_url(), &app.data_dir, &["update", "ryzen-2", "--listing", bad]);
        assert!(!ok, "{bad}");
    }
    // Withdrawn: no longer offered.
    cli(&app, "offers", &["remove", "ryzen"]);
    assert_eq!(app.get("/api/v1/offers", Some(&u.token)).await.data(), &json!([]));
}
