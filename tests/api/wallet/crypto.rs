//! Crypto top-ups through NOWPayments' API: invoices against a small stand-in in the test that
//! serves `POST /v1/invoice` in NOWPayments' shape and records what it was sent; the IPN callback
//! signed as NOWPayments documents it (HMAC-SHA512 over the body with sorted keys), its replays,
//! tampering, and the statuses it moves an intent through.

use std::sync::{
    atomic::{AtomicU16, Ordering},
    Arc, Mutex,
};

use axum::{extract::State, http::HeaderMap, routing::post, Router};
use futures::future::join_all;
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{json, Value};
use sha2::Sha512;

use super::{assert_ledger_verifies, kept};
use crate::harness::TestApp;

const KEY: &str = "np_test_key_hoody";
const IPN_SECRET: &str = "np_ipn_secret_hoody";
const PUBLIC: &str = "https://api.hoody.test";
const INVOICE: &str = "/api/v1/wallet/payments/crypto/invoice";
const IPN: &str = "/api/v1/wallet/webhooks/nowpayments";

/// The invoice stand-in: what it was sent (the `x-api-key` header and the JSON body), and the
/// HTTP status it answers with (200 unless a test says otherwise).
#[derive(Clone)]
struct NowPayments {
    seen: Arc<Mutex<Vec<Seen>>>,
    status: Arc<AtomicU16>,
}

/// One call: its `x-api-key` and its body.
type Seen = (Option<String>, Value);

impl NowPayments {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn create_invoice(
    State(s): State<NowPayments>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> (axum::http::StatusCode, axum::Json<Value>) {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let n = {
        let mut seen = s.seen.lock().unwrap();
        seen.push((key, body.clone()));
        seen.len() as u64
    };
    let status = axum::http::StatusCode::from_u16(s.status.load(Ordering::SeqCst)).unwrap();
    if status.is_client_error() {
        let err = json!({"status": false, "statusCode": 400, "code": "INVALID_REQUEST_PARAMS", "message": "price_amount is too small"});
        return (status, axum::Json(err));
    }
    if !status.is_success() {
        return (status, axum::Json(json!({"message": "internal error"})));
    }
    // NOWPayments writes ids as strings; numbers are taken too.
    let iid = 4_522_625_000 + n;
    let id = if n % 2 == 0 { json!(iid.to_string()) } else { json!(iid) };
    let answer = json!({
        "id": id, "token_id": "tok", "order_id": body["order_id"], "order_description": body["order_description"],
        "price_amount": body["price_amount"].to_string(), "price_currency": body["price_currency"],
        "pay_currency": null, "ipn_callback_url": body["ipn_callback_url"],
        "invoice_url": format!("https://nowpayments.io/payment/?iid={iid}"),
        "success_url": body["success_url"], "cancel_url": body["cancel_url"],
        "created_at": "2026-12-03T10:00:00.000Z", "updated_at": "2026-12-03T10:00:00.000Z"
    });
    (status, axum::Json(answer))
}

async fn stand_in() -> (String, NowPayments) {
    let s = NowPayments { seen: Arc::default(), status: Arc::new(AtomicU16::new(200)) };
    let router = Router::new().route("/v1/invoice", post(create_invoice)).with_state(s.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), s)
}

async fn crypto_app(api_base: &str) -> TestApp {
    let base = api_base.to_owned();
    TestApp::spawn_with(move |c| {
        c.money.nowpayments_api_key = Some(hoody_api::secret::Secret::new(KEY.into()));
        c.money.nowpayments_ipn_secret = Some(hoody_api::secret::Secret::new(IPN_SECRET.into()));
        c.money.nowpayments_api_base = base;
        c.public_url = PUBLIC.into();
        c.db_max_connections = 24;
    })
    .await
}

/// An IPN as NOWPayments sends one for `intent` (its `order_id`).
fn ipn(payment_id: u64, status: &str, intent: &str, price: Value) -> Value {
    json!({
        "payment_id": payment_id, "invoice_id": 4_522_625_001u64, "payment_status": status,
        "pay_address": "3EZ2uTdVDAMFXTfc6uLDDKR6o8qKBZXVkj", "price_amount": price, "price_currency": "usd",
        "pay_amount": 0.00041, "actually_paid": 0.00041, "actually_paid_at_fiat": 0, "pay_currency": "btc",
        "order_id": intent, "order_description": "Wallet top-up", "purchase_id": "5837122679",
        "outcome_amount": 24.7, "outcome_currency": "usdttrc20", "created_at": "2026-12-03T10:00:00.000Z",
        "updated_at": "2026-12-03T10:05:00.000Z",
        "fee": {"currency": "btc", "depositFee": 0, "withdrawalFee": 0, "serviceFee": 0}
    })
}

/// Post `body` (bytes as given) to the IPN route with `sig` (none: unsigned).
async fn send(app: &TestApp, body: Vec<u8>, sig: Option<&str>) -> (u16, Value) {
    let mut req = app.client.post(format!("{}{IPN}", app.base)).header("content-type", "application/json").body(body);
    if let Some(s) = sig {
        req = req.header("x-nowpayments-sig", s);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Deliver `body` signed with `secret` as NOWPayments signs it.
async fn deliver(app: &TestApp, body: &Value, secret: &str) -> (u16, Value) {
    let sig = hoody_api::payments::nowpayments::sign(secret, body);
    send(app, serde_json::to_vec(body).unwrap(), Some(&sig)).await
}

async fn invoice(app: &TestApp, token: &str, amount: &str) -> String {
    let r = app.post_auth(INVOICE, token, Some(json!({"amount": amount}))).await;
    r.expect(201);
    r.data()["intent"]["id"].as_str().unwrap().to_owned()
}

async fn status_of(app: &TestApp, token: &str, intent: &str) -> String {
    let g = app.get(&format!("/api/v1/wallet/payments/crypto/intents/{intent}"), Some(token)).await;
    g.expect(200);
    g.data()["status"].as_str().unwrap().to_owned()
}

async fn intents(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from payment_intent").fetch_one(&app.db).await.unwrap()
}

#[tokio::test]
async fn without_nowpayments_settings_crypto_answers_412_and_stores_nothing() {
    // Only the API key (no IPN secret): still not configured.
    let (base, np) = stand_in().await;
    let app = TestApp::spawn_with(move |c| {
        c.money.nowpayments_api_key = Some(hoody_api::secret::Secret::new(KEY.into()));
        c.money.nowpayments_api_base = base;
    })
    .await;
    let u = app.verified_user("nocrypto@example.com").await;
    let a = app.get("/api/v1/wallet/payment-availability", Some(&u.token)).await;
    assert_eq!(a.data()["nowpayments"]["enabled"], false);
    let r = app
        .request_with(
            Method::POST,
            INVOICE,
            Some(&u.token),
            &[("idempotency-key", "c-1")],
            Some(json!({"amount": "25"})),
        )
        .await;
    r.expect(412);
    assert_eq!(r.code(), "payment_provider_not_configured");
    // Bad input is still named first.
    let r = app.post_auth(INVOICE, &u.token, Some(json!({"amount": "25.001"}))).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "amount");
    assert_eq!(intents(&app).await, 0);
    assert!(np.seen().is_empty());
    // The IPN route has no secret to check with: 412, nothing applied.
    let (s, body) = deliver(&app, &ipn(1, "finished", "abc", json!(25)), IPN_SECRET).await;
    assert_eq!((s, body["code"].as_str()), (412, Some("payment_provider_not_configured")));
    let webhooks: i64 = sqlx::query_scalar("select count(*) from webhook_event").fetch_one(&app.db).await.unwrap();
    assert_eq!(webhooks, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_is_made_at_nowpayments_and_credited_once_by_its_signed_ipn() {
    let (base, np) = stand_in().await;
    let app = crypto_app(&base).await;
    let u = app.verified_user("crypto@example.com").await;
    let a = app.get("/api/v1/wallet/payment-availability", Some(&u.token)).await;
    assert_eq!(a.data()["nowpayments"], json!({"enabled": true, "min_usd": 5.0, "max_usd": 10000.0}));
    // Bad amounts: named, nothing stored, nothing asked of NOWPayments.
    for bad in [json!("0"), json!("-5"), json!("1e3"), json!("4.99"), json!("10000.01"), json!("ten")] {
        let r = app.post_auth(INVOICE, &u.token, Some(json!({"amount": bad}))).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "amount", "{bad}");
    }
    // Not a string at all: a schema error (400), naming it too.
    let r = app.post_auth(INVOICE, &u.token, Some(json!({"amount": 25}))).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "amount");
    assert_eq!(intents(&app).await, 0);
    assert!(np.seen().is_empty());

    // The invoice: 201 with the intent, pending, and NOWPayments' page.
    let first = app
        .request_with(
            Method::POST,
            INVOICE,
            Some(&u.token),
            &[("idempotency-key", "crypto-1")],
            Some(json!({"amount": "25.00"})),
        )
        .await;
    first.expect(201);
    let d = first.data();
    let intent = d["intent"]["id"].as_str().unwrap().to_owned();
    assert_eq!(d["invoice_url"], "https://nowpayments.io/payment/?iid=4522625001");
    assert_eq!(
        (&d["intent"]["provider"], &d["intent"]["status"], &d["intent"]["amount"], &d["intent"]["currency"]),
        (&json!("nowpayments"), &json!("pending"), &json!(25.0), &json!("USD"))
    );
    assert_eq!(d["intent"]["redirect_url"], d["invoice_url"]);
    assert!(d["intent"]["credited_at"].is_null() && d["intent"]["expires_at"].is_null());
    // What NOWPayments was sent.
    let seen = np.seen();
    assert_eq!(seen.len(), 1);
    let (key, body) = &seen[0];
    assert_eq!(key.as_deref(), Some(KEY));
    assert_eq!(body["price_amount"], json!(25.0));
    assert!(body["price_amount"].is_number());
    assert_eq!(body["price_currency"], "usd");
    assert_eq!(body["order_id"], intent.as_str());
    assert_eq!(body["ipn_callback_url"], format!("{PUBLIC}/api/v1/wallet/webhooks/nowpayments"));
    assert_eq!(body["success_url"], format!("{PUBLIC}/wallet?payment=success&intent={intent}"));
    assert_eq!(body["cancel_url"], format!("{PUBLIC}/wallet?payment=cancelled&intent={intent}"));
    // The intent in the database.
    let row: (String, String, String, i64, Option<String>, Option<String>) = sqlx::query_as(
        "select provider, flow, status, amount_cents, provider_ref, redirect_url from payment_intent where intent_id = $1",
    )
    .bind(&intent)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(
        row,
        (
            "nowpayments".into(),
            "checkout".into(),
            "pending".into(),
            2500,
            Some("4522625001".into()),
            Some("https://nowpayments.io/payment/?iid=4522625001".into())
        )
    );
    // A repeat with the key: the same answer, byte for byte, and no second invoice; the key with
    // another amount: 422.
    let again = app
        .request_with(
            Method::POST,
            INVOICE,
            Some(&u.token),
            &[("idempotency-key", "crypto-1")],
            Some(json!({"amount": "25"})),
        )
        .await;
    again.expect(201);
    assert_eq!(again.text, first.text);
    let by_body = app.post_auth(INVOICE, &u.token, Some(json!({"amount": "25", "idempotency_key": "crypto-1"}))).await;
    assert_eq!(by_body.text, first.text);
    let other = app
        .request_with(
            Method::POST,
            INVOICE,
            Some(&u.token),
            &[("idempotency-key", "crypto-1")],
            Some(json!({"amount": "26"})),
        )
        .await;
    other.expect(422);
    assert_eq!(np.seen().len(), 1);
    assert_eq!(intents(&app).await, 1);
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));

    // The payer is sending: processing.
    let (s, b) = deliver(&app, &ipn(5077125051, "confirming", &intent, json!(25)), IPN_SECRET).await;
    assert_eq!((s, b["data"]["outcome"].as_str()), (200, Some("processing")));
    assert_eq!(status_of(&app, &u.token, &intent).await, "processing");

    // Refused: a wrong secret, no signature, a malformed one, a body changed after signing,
    // garbage; nothing credited, nothing recorded.
    let done = ipn(5077125051, "finished", &intent, json!(25));
    assert_eq!(deliver(&app, &done, "another_secret").await.0, 400);
    assert_eq!(send(&app, serde_json::to_vec(&done).unwrap(), None).await.0, 400);
    assert_eq!(send(&app, serde_json::to_vec(&done).unwrap(), Some("not-hex")).await.0, 400);
    let sig = hoody_api::payments::nowpayments::sign(IPN_SECRET, &done);
    let mut tampered = done.clone();
    tampered["price_amount"] = json!(2500);
    assert_eq!(send(&app, serde_json::to_vec(&tampered).unwrap(), Some(&sig)).await.0, 400);
    let mut other_intent = done.clone();
    other_intent["order_id"] = json!("000000000000000000000000");
    assert_eq!(send(&app, serde_json::to_vec(&other_intent).unwrap(), Some(&sig)).await.0, 400);
    assert_eq!(send(&app, b"{not json".to_vec(), Some(&sig)).await.0, 400);
    assert_eq!(send(&app, Vec::new(), Some(&sig)).await.0, 400);
    // Signed, but not an IPN (no payment_id, a NUL in it): 400 too.
    assert_eq!(deliver(&app, &json!({"payment_status": "finished", "order_id": intent}), IPN_SECRET).await.0, 400);
    let mut nul = done.clone();
    nul["payment_id"] = json!("50\u{0}77");
    assert_eq!(deliver(&app, &nul, IPN_SECRET).await.0, 400);
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));
    assert_eq!(status_of(&app, &u.token, &intent).await, "processing");

    // `finished`, delivered twenty times at once: credited once.
    let answers = join_all((0..20).map(|_| deliver(&app, &done, IPN_SECRET))).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    let outcomes: Vec<&str> = answers.iter().map(|a| a.1["data"]["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == "credited").count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| *o == "credited" || *o == "duplicate"), "{outcomes:?}");
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    // The payment id in another spelling is the same delivery; one that is not a whole number
    // is no IPN (400), so it cannot pass as a new payment.
    let mut as_text = done.clone();
    as_text["payment_id"] = json!("05077125051");
    assert_eq!(deliver(&app, &as_text, IPN_SECRET).await.1["data"]["outcome"], "duplicate");
    for odd in [json!("5077125051.0"), json!(5077125051.0), json!("+5077125051"), json!(-1), json!("")] {
        let mut v = done.clone();
        v["payment_id"] = odd.clone();
        assert_eq!(deliver(&app, &v, IPN_SECRET).await.0, 400, "{odd}");
    }
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    let g = app.get(&format!("/api/v1/wallet/payments/crypto/intents/{intent}"), Some(&u.token)).await;
    assert_eq!(g.data()["status"], "completed");
    assert!(g.data()["credited_at"].is_string());
    let credited: (i64, Option<String>) =
        sqlx::query_as("select count(*), max(provider_payment) from payment_intent where txn_id is not null")
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(credited, (1, Some("5077125051".into())));
    let t = app.get("/api/v1/wallet/transactions", Some(&u.token)).await;
    assert_eq!(
        (&t.data()["transactions"][0]["transaction_type"], &t.data()["transactions"][0]["general_change"]),
        (&json!("topup"), &json!("25.00"))
    );
    // Later news of the credited payment never takes it back: a late `failed` changes nothing.
    let (_, b) = deliver(&app, &ipn(5077125051, "failed", &intent, json!(25)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "already_credited");
    assert_eq!(status_of(&app, &u.token, &intent).await, "completed");

    // Signed exactly as NOWPayments documents it, computed here by hand: HMAC-SHA512 of the body
    // with its keys sorted, sent with its keys in another order and with whitespace.
    let second = invoice(&app, &u.token, "10.50").await;
    assert_eq!(np.seen()[1].1["price_amount"], json!(10.5));
    let sorted = format!(
        r#"{{"order_id":"{second}","pay_currency":"btc","payment_id":6000000001,"payment_status":"finished","price_amount":10.5,"price_currency":"usd"}}"#
    );
    let mut mac = Hmac::<Sha512>::new_from_slice(IPN_SECRET.as_bytes()).unwrap();
    mac.update(sorted.as_bytes());
    let by_hand = hex::encode(mac.finalize().into_bytes());
    let sent = format!(
        r#"{{ "payment_status": "finished", "price_currency": "usd", "payment_id": 6000000001, "price_amount": 10.5, "pay_currency": "btc", "order_id": "{second}" }}"#
    );
    let (s, b) = send(&app, sent.into_bytes(), Some(&by_hand)).await;
    assert_eq!((s, b["data"]["outcome"].as_str()), (200, Some("credited")), "{b}");
    assert_eq!(kept(&app.db, &u.user_id).await, (3550, 0));

    // A paid price that differs from the intent's: held for review, not credited; a failure
    // after it does not hide it.
    let third = invoice(&app, &u.token, "30").await;
    let (_, b) = deliver(&app, &ipn(6000000002, "finished", &third, json!(3)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "admin_review");
    let mut euros = ipn(6000000003, "finished", &third, json!(30));
    euros["price_currency"] = json!("eur");
    assert_eq!(deliver(&app, &euros, IPN_SECRET).await.1["data"]["outcome"], "admin_review");
    assert_eq!(
        deliver(&app, &ipn(6000000002, "failed", &third, json!(3)), IPN_SECRET).await.1["data"]["outcome"],
        "ignored"
    );
    assert_eq!(status_of(&app, &u.token, &third).await, "admin_review");
    // Partly paid: held for review, not credited.
    let fourth = invoice(&app, &u.token, "40").await;
    let (_, b) = deliver(&app, &ipn(6000000004, "partially_paid", &fourth, json!(40)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "admin_review");
    assert_eq!(status_of(&app, &u.token, &fourth).await, "admin_review");
    // Failed, expired, refunded: the intent ends so, nothing credited.
    for (i, (said, status)) in
        [("failed", "failed"), ("expired", "expired"), ("refunded", "cancelled")].iter().enumerate()
    {
        let id = invoice(&app, &u.token, "6").await;
        let (_, b) = deliver(&app, &ipn(7000000000 + i as u64, said, &id, json!(6)), IPN_SECRET).await;
        assert_eq!(b["data"]["outcome"], "ended");
        assert_eq!(status_of(&app, &u.token, &id).await, *status);
    }
    assert_eq!(kept(&app.db, &u.user_id).await, (3550, 0));
    // A refund of another payment for it, never credited, changes nothing.
    let (_, b) = deliver(&app, &ipn(5077125099, "refunded", &intent, json!(25)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "already_credited");
    assert_eq!(status_of(&app, &u.token, &intent).await, "completed");
    // A refund of a credited payment, or a second payment for it: held for review, the credit kept.
    let (_, b) = deliver(&app, &ipn(5077125051, "refunded", &intent, json!(25)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "admin_review");
    let (_, b) = deliver(&app, &ipn(6000000009, "finished", &second, json!(10.5)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "admin_review");
    assert_eq!(status_of(&app, &u.token, &second).await, "admin_review");
    assert_eq!(kept(&app.db, &u.user_id).await, (3550, 0));
    // An IPN for no intent of ours: answered (NOWPayments stops retrying), nothing done.
    let (s, b) = deliver(&app, &ipn(8000000000, "finished", "000000000000000000000000", json!(25)), IPN_SECRET).await;
    assert_eq!((s, b["data"]["outcome"].as_str()), (200, Some("unknown_intent")));
    // An unknown status: recorded, ignored.
    let (_, b) = deliver(&app, &ipn(8000000001, "wrong_asset_confirmed", &fourth, json!(40)), IPN_SECRET).await;
    assert_eq!(b["data"]["outcome"], "ignored");

    // Lists and gets: the user's crypto intents, newest first; another user sees none of them.
    let l = app.get("/api/v1/wallet/payments/crypto/intents?limit=2", Some(&u.token)).await;
    l.expect(200);
    assert_eq!(l.data()["total"], 7);
    assert_eq!(l.data()["intents"].as_array().unwrap().len(), 2);
    assert_eq!(l.data()["intents"][0]["status"], "cancelled");
    let all = app.get("/api/v1/wallet/payments/crypto/intents?limit=100", Some(&u.token)).await;
    let last = all.data()["intents"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((&last["id"], &last["status"]), (&json!(intent), &json!("admin_review")));
    app.get("/api/v1/wallet/payments/crypto/intents?limit=0", Some(&u.token)).await.expect(422);
    assert_eq!(
        app.get("/api/v1/wallet/payments/stripe/intents", Some(&u.token)).await.data(),
        &json!({"intents": [], "total": 0})
    );
    app.get(&format!("/api/v1/wallet/payments/stripe/intents/{intent}"), Some(&u.token)).await.expect(404);
    let g = app.get(&format!("/api/v1/wallet/payments/{intent}"), Some(&u.token)).await;
    assert_eq!(g.data()["provider"], "nowpayments");
    let v = app.verified_user("crypto-other@example.com").await;
    let r = app.get(&format!("/api/v1/wallet/payments/crypto/intents/{intent}"), Some(&v.token)).await;
    r.expect(404);
    assert_eq!(r.code(), "payment_intent_not_found");
    app.get(&format!("/api/v1/wallet/payments/{intent}"), Some(&v.token)).await.expect(404);
    app.get("/api/v1/wallet/payments/crypto/intents/not-an-id", Some(&u.token)).await.expect(404);
    assert_eq!(
        app.get("/api/v1/wallet/payments/crypto/intents", Some(&v.token)).await.data(),
        &json!({"intents": [], "total": 0})
    );
    // Another user's identical key is theirs.
    let theirs = app
        .request_with(
            Method::POST,
            INVOICE,
            Some(&v.token),
            &[("idempotency-key", "crypto-1")],
            Some(json!({"amount": "25"})),
        )
        .await;
    theirs.expect(201);
    assert_ne!(theirs.data()["intent"]["id"], json!(intent));
    assert_ledger_verifies(&app.db).await;
}

#[tokio::test]
async fn nowpayments_failing_or_refusing_is_answered_like_stripe() {
    let (base, np) = stand_in().await;
    let app = crypto_app(&base).await;
    let u = app.verified_user("crypto-down@example.com").await;
    let keyed = |key: &'static str, amount: &'static str| {
        let (app, token) = (&app, u.token.clone());
        async move {
            app.request_with(
                Method::POST,
                INVOICE,
                Some(&token),
                &[("idempotency-key", key)],
                Some(json!({"amount": amount})),
            )
            .await
        }
    };
    // Unavailable (5xx): 502; the intent waits in `creating` with the reason, and a repeat with
    // the key asks NOWPayments again (one intent, whatever the number of tries).
    np.status.store(500, Ordering::SeqCst);
    let r = keyed("down-1", "20").await;
    r.expect(502);
    let row: (String, Option<String>) =
        sqlx::query_as("select status, failure from payment_intent").fetch_one(&app.db).await.unwrap();
    assert_eq!(row.0, "creating");
    assert!(row.1.unwrap().contains("500"));
    keyed("down-1", "20").await.expect(502);
    assert_eq!((np.seen().len(), intents(&app).await), (2, 1));
    np.status.store(200, Ordering::SeqCst);
    let r = keyed("down-1", "20").await;
    r.expect(201);
    assert_eq!(r.data()["intent"]["status"], "pending");
    assert_eq!((np.seen().len(), intents(&app).await), (3, 1));
    assert_eq!(keyed("down-1", "20").await.text, r.text);
    assert_eq!(np.seen().len(), 3);
    // A key NOWPayments no longer takes (401) or a rate limit (429) is ours to mend, not a
    // refusal of the payment: 502, the intent still `creating`, so the same key goes through
    // once the provider takes it again.
    for status in [401, 403, 429] {
        np.status.store(status, Ordering::SeqCst);
        keyed("key-1", "20").await.expect(502);
    }
    let creating: i64 = sqlx::query_scalar("select count(*) from payment_intent where status = 'creating'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!((creating, np.seen().len()), (1, 6));
    np.status.store(200, Ordering::SeqCst);
    keyed("key-1", "20").await.expect(201);
    assert_eq!(np.seen().len(), 7);
    // Refused (4xx): 402 payment_refused with NOWPayments' message; the intent failed; a repeat
    // gets the refusal again without asking.
    np.status.store(400, Ordering::SeqCst);
    let r = keyed("refused-1", "20").await;
    r.expect(402);
    assert_eq!(r.code(), "payment_refused");
    assert!(r.body["message"].as_str().unwrap().contains("price_amount is too small"), "{}", r.text);
    let failed: i64 = sqlx::query_scalar("select count(*) from payment_intent where status = 'failed'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    keyed("refused-1", "20").await.expect(402);
    assert_eq!(np.seen().len(), 8);
    // No API key or secret anywhere in what the client sees, even on failures.
    assert!(!r.text.contains(KEY) && !r.text.contains(IPN_SECRET));
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));
}
