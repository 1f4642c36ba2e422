//! Your images: importing a free one, buying a paid one (412 until the wallet pays), the list of
//! what you hold, and the token leaves each route needs.

use reqwest::Method;
use serde_json::json;

use super::{held, ids, insert, quick_user, Img};
use crate::{harness::TestApp, permissions::tree};

#[tokio::test]
async fn importing_a_free_image_adds_it_to_yours_once() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let other = quick_user(&app).await;
    let free = insert(&app, Img { alias: "free", ..Default::default() }).await;
    let paid = insert(&app, Img { alias: "paid", price_cents: 300, ..Default::default() }).await;
    let hidden = insert(&app, Img { alias: "hidden", public: false, ..Default::default() }).await;

    let r = app.post_auth(&format!("/api/v1/images/import/{free}"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({}));
    assert_eq!(held(&app, &s.user_id).await, vec![(free.clone(), "import".to_owned(), 0)]);

    // Again: 409, still one row.
    let r = app.post_auth(&format!("/api/v1/images/import/{free}"), &s.token, None).await;
    r.expect(409);
    assert_eq!(r.code(), "image_already_owned");
    // A paid one cannot be imported; an unpublished or unknown one is not there.
    let r = app.post_auth(&format!("/api/v1/images/import/{paid}"), &s.token, None).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "id");
    for missing in [hidden.as_str(), "0123456789abcdef01234567", "bad"] {
        let r = app.post_auth(&format!("/api/v1/images/import/{missing}"), &s.token, None).await;
        r.expect(404);
        assert_eq!(r.code(), "image_not_found");
    }
    assert_eq!(held(&app, &s.user_id).await.len(), 1);
    assert!(held(&app, &other.user_id).await.is_empty());

    // A token needs containers.create.
    let (lacking, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    let r = app.post_auth(&format!("/api/v1/images/import/{free}"), &lacking, None).await;
    r.expect(403);
    let (lacking, _) = app.new_token(&other.token, json!({"permissions": tree(&["containers.read"])})).await;
    app.post_auth(&format!("/api/v1/images/import/{free}"), &lacking, None).await.expect(403);
    assert!(held(&app, &other.user_id).await.is_empty(), "a refused import stores nothing");
    let (able, _) = app.new_token(&other.token, json!({"permissions": tree(&["containers.create"])})).await;
    app.post_auth(&format!("/api/v1/images/import/{free}"), &able, None).await.expect(200);
    assert_eq!(held(&app, &other.user_id).await.len(), 1);
}

#[tokio::test]
async fn buying_pays_from_the_wallet_and_changes_nothing_without_funds() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let paid = insert(&app, Img { alias: "paid", price_cents: 999, ..Default::default() }).await;
    let free = insert(&app, Img { alias: "free", ..Default::default() }).await;
    let hidden = insert(&app, Img { price_cents: 100, public: false, ..Default::default() }).await;

    let r = app.post_auth(&format!("/api/v1/images/purchase/{paid}"), &s.token, None).await;
    r.expect(402);
    assert_eq!(r.code(), "insufficient_funds");
    assert!(held(&app, &s.user_id).await.is_empty());
    let paid_too = insert(&app, Img { alias: "paid-too", price_cents: 250, ..Default::default() }).await;
    crate::wallet::fund(&app, &s.user_id, "12.00").await;
    // Eight buys of one image at once, with one key: one charge, the same answer for all.
    let answers = futures::future::join_all((0..8).map(|_| {
        let (app, token, path) = (&app, s.token.clone(), format!("/api/v1/images/purchase/{paid_too}"));
        async move {
            let r = app
                .request_with(reqwest::Method::POST, &path, Some(&token), &[("idempotency-key", "img-1")], None)
                .await;
            (r.status.as_u16(), r.data().clone())
        }
    }))
    .await;
    assert!(
        answers.iter().all(|a| a.0 == 200 && a.1 == json!({"price_paid": 2.5, "remaining_balance": 9.5})),
        "{answers:?}"
    );
    assert_eq!(crate::wallet::kept(&app.db, &s.user_id).await, (950, 0));
    // Without a key, a second buy of a held image is 409 and pays nothing.
    let again = app.post_auth(&format!("/api/v1/images/purchase/{paid_too}"), &s.token, None).await;
    again.expect(409);
    assert_eq!(crate::wallet::kept(&app.db, &s.user_id).await, (950, 0));
    let revenue: i64 = sqlx::query_scalar(
        "select coalesce(sum(amount_cents), 0)::bigint from ledger_posting where account_id = 'platform_revenue'",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(revenue, 250);
    sqlx::query("delete from user_image where image_id = $1").bind(&paid_too).execute(&app.db).await.unwrap();
    let r = app.post_auth(&format!("/api/v1/images/purchase/{free}"), &s.token, None).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "id");
    for missing in [hidden.as_str(), "0123456789abcdef01234567", "bad"] {
        app.post_auth(&format!("/api/v1/images/purchase/{missing}"), &s.token, None).await.expect(404);
    }
    // Held already (granted straight in the database): 409, not a second charge.
    sqlx::query(
        "insert into user_image (user_id, image_id, acquired_by, price_paid_cents) values ($1, $2, 'purchase', 999)",
    )
    .bind(&s.user_id)
    .bind(&paid)
    .execute(&app.db)
    .await
    .unwrap();
    let r = app.post_auth(&format!("/api/v1/images/purchase/{paid}"), &s.token, None).await;
    r.expect(409);
    // A token needs financial.wallet.transfer, checked before anything else.
    let (lacking, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.create"])})).await;
    let r = app.post_auth(&format!("/api/v1/images/purchase/{paid}"), &lacking, None).await;
    r.expect(403);
    assert!(r.body["message"].as_str().unwrap().contains("financial.wallet.transfer"));
    assert_eq!(held(&app, &s.user_id).await.len(), 1);
}

#[tokio::test]
async fn your_images_are_only_those_you_hold() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let other = quick_user(&app).await;
    let a = insert(&app, Img { alias: "a", ..Default::default() }).await;
    let b = insert(&app, Img { alias: "b", ..Default::default() }).await;
    let c = insert(&app, Img { alias: "c", ..Default::default() }).await;
    app.post_auth(&format!("/api/v1/images/import/{a}"), &s.token, None).await.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    app.post_auth(&format!("/api/v1/images/import/{b}"), &s.token, None).await.expect(200);
    app.post_auth(&format!("/api/v1/images/import/{c}"), &other.token, None).await.expect(200);
    app.post_auth(&format!("/api/v1/images/rate/{b}"), &s.token, Some(json!({"rating": 4}))).await.expect(200);
    // Unpublishing does not take it away from you.
    sqlx::query("update image set is_public = false where image_id = $1").bind(&a).execute(&app.db).await.unwrap();

    let r = app.get("/api/v1/images/user", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(ids(r.data()), vec![b.clone(), a.clone()], "newest first, only yours");
    assert_eq!(r.data()["pagination"], json!({"total": 2, "page": 1, "limit": 20, "totalPages": 1}));
    assert_eq!(r.data()["images"][0]["user_rating"], 4);
    assert_eq!(r.data()["images"][0]["has_rated"], true);
    assert_eq!(r.data()["images"][1]["user_rating"], json!(null));
    assert_eq!(r.data()["images"][1]["has_rated"], false);
    let r = app.get("/api/v1/images/user?sort_by=created_at&sort_order=asc&limit=1", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(ids(r.data()), vec![a.clone()]);
    assert_eq!(r.data()["pagination"]["totalPages"], 2);

    for (q, status, field) in [
        ("limit=101", 422, "limit"),
        ("page=0", 422, "page"),
        ("sort_by=alias", 400, "sort_by"),
        ("sort_order=x", 400, "sort_order"),
    ] {
        let r = app.get(&format!("/api/v1/images/user?{q}"), Some(&s.token)).await;
        r.expect(status);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{q}");
    }
    let (lacking, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.create"])})).await;
    app.request(Method::GET, "/api/v1/images/user", Some(&lacking), None).await.expect(403);
    let (reader, _) = app.new_token(&s.token, json!({"permissions": tree(&["containers.read"])})).await;
    let r = app.get("/api/v1/images/user", Some(&reader)).await;
    r.expect(200);
    assert_eq!(ids(r.data()).len(), 2);
}
