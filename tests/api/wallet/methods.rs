//! Payment methods: add, list, update, default (one per user, also under concurrency),
//! delete, card numbers refused, another user's → 404, token leaves.

use futures::future::join_all;
use serde_json::json;

use crate::harness::TestApp;

const METHODS: &str = "/api/v1/wallet/payment-methods/";

async fn defaults(app: &TestApp, user_id: &str) -> i64 {
    sqlx::query_scalar("select count(*) from payment_method where user_id = $1 and is_default")
        .bind(user_id)
        .fetch_one(&app.db)
        .await
        .unwrap()
}

#[tokio::test]
async fn methods_have_one_default_and_never_store_card_numbers() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("pm@example.com").await;
    // A card saved with Stripe needs Stripe (wallet/stripe.rs); without it: 412, nothing stored.
    let r = app
        .post_auth(
            METHODS,
            &u.token,
            Some(json!({"name": "Visa", "details": {"stripe_payment_method": "pm_card_visa"}})),
        )
        .await;
    r.expect(412);
    assert_eq!(r.code(), "payment_provider_not_configured");
    let first =
        app.post_auth(METHODS, &u.token, Some(json!({"name": "Invoice account", "details": {"po": "PO-7"}}))).await;
    first.expect(201);
    let d = first.data();
    assert_eq!((&d["type"], &d["status"], &d["is_default"]), (&json!("other"), &json!("active"), &json!(true)));
    let first_id = d["id"].as_str().unwrap().to_owned();
    let second = app.post_auth(METHODS, &u.token, Some(json!({"name": "Backup"}))).await;
    second.expect(201);
    assert_eq!(second.data()["is_default"], false);
    assert_eq!(second.data()["type"], "other");
    let second_id = second.data()["id"].as_str().unwrap().to_owned();
    // Bad input: named, nothing stored.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(101)}), "name"),
        (json!({"name": "n", "details": [1]}), "details"),
        (json!({"name": "n", "details": {"number": "4242 4242 4242 4242"}}), "details"),
        (json!({"name": "n", "details": {"stripe_payment_method": "card_123"}}), "details.stripe_payment_method"),
        (json!({"name": "n", "details": {"blob": "x".repeat(9000)}}), "details"),
        (json!({"name": "n", "details": {"stripe_customer": "cus_123"}}), "details.stripe_customer"),
    ] {
        let r = app.post_auth(METHODS, &u.token, Some(body.clone())).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{body}");
    }
    app.post_auth(METHODS, &u.token, Some(json!({"name": "n", "cvc": "123"}))).await.expect(422);
    let stored: i64 = sqlx::query_scalar("select count(*) from payment_method where user_id = $1")
        .bind(&u.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, 2);
    // Default moves; exactly one at a time.
    let r = app.request(reqwest::Method::PUT, &format!("{METHODS}{second_id}/default"), Some(&u.token), None).await;
    r.expect(200);
    assert_eq!(r.data()["is_default"], true);
    let list = app.get(METHODS, Some(&u.token)).await;
    list.expect(200);
    let items = list.data().as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|m| m["is_default"] == true).count(), 1);
    assert_eq!(items.iter().find(|m| m["id"] == first_id.as_str()).unwrap()["is_default"], false);
    // Update: deactivating the default leaves none; an inactive one cannot become the default.
    let path = format!("{METHODS}{second_id}");
    let r = app.request(reqwest::Method::PUT, &path, Some(&u.token), Some(json!({"status": "inactive"}))).await;
    r.expect(200);
    assert_eq!((&r.data()["status"], &r.data()["is_default"]), (&json!("inactive"), &json!(false)));
    app.request(reqwest::Method::PUT, &path, Some(&u.token), Some(json!({"is_default": true}))).await.expect(422);
    app.request(reqwest::Method::PUT, &format!("{path}/default"), Some(&u.token), None).await.expect(422);
    app.request(reqwest::Method::PUT, &path, Some(&u.token), Some(json!({"status": "paused"}))).await.expect(400);
    assert_eq!(defaults(&app, &u.user_id).await, 0);
    // Delete the default: none is promoted, and the message says so.
    app.request(reqwest::Method::PUT, &format!("{METHODS}{first_id}/default"), Some(&u.token), None).await.expect(200);
    let del = app.request(reqwest::Method::DELETE, &format!("{METHODS}{first_id}"), Some(&u.token), None).await;
    del.expect(200);
    assert!(del.body["message"].as_str().unwrap().contains("no default"), "{}", del.text);
    assert_eq!(defaults(&app, &u.user_id).await, 0);
    app.get(&format!("{METHODS}{first_id}"), Some(&u.token)).await.expect(404);
    // Another user: 404 for every verb; a malformed id is the same 404.
    let v = app.verified_user("pm-other@example.com").await;
    app.get(&path, Some(&v.token)).await.expect(404);
    app.request(reqwest::Method::PUT, &path, Some(&v.token), Some(json!({"status": "active"}))).await.expect(404);
    app.request(reqwest::Method::DELETE, &path, Some(&v.token), None).await.expect(404);
    app.get(&format!("{METHODS}xyz"), Some(&u.token)).await.expect(404);
    // Token leaves.
    let (read, _) = app.new_token(&u.token, json!({"permissions": {"financial": {"billing": {"read": true}}}})).await;
    app.get(METHODS, Some(&read)).await.expect(200);
    app.post_auth(METHODS, &read, Some(json!({"name": "x"}))).await.expect(403);
    let (manage, _) = app
        .new_token(&u.token, json!({"permissions": {"financial": {"billing": {"manage_payment_methods": true}}}}))
        .await;
    app.post_auth(METHODS, &manage, Some(json!({"name": "x"}))).await.expect(201);
}

/// Ten methods added at once, each asking to be the default: one default at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_defaults_leave_exactly_one() {
    let app = TestApp::spawn().await;
    let u = app.verified_user("pm-race@example.com").await;
    let answers = join_all((0..10).map(|i| {
        let app = &app;
        let token = u.token.clone();
        async move {
            app.post_auth(METHODS, &token, Some(json!({"name": format!("m{i}"), "is_default": true})))
                .await
                .status
                .as_u16()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 201), "{answers:?}");
    assert_eq!(defaults(&app, &u.user_id).await, 1);
    let ids: Vec<String> = sqlx::query_scalar("select payment_method_id from payment_method where user_id = $1")
        .bind(&u.user_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    let answers = join_all(ids.iter().map(|id| {
        let app = &app;
        let token = u.token.clone();
        async move {
            app.request(reqwest::Method::PUT, &format!("{METHODS}{id}/default"), Some(&token), None)
                .await
                .status
                .as_u16()
        }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    assert_eq!(defaults(&app, &u.user_id).await, 1);
}
