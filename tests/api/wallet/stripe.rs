//! Card top-ups through Stripe's API: a saved card charged through localstripe (a stateful
//! stand-in of Stripe's HTTP API from PyPI) and credited by localstripe's own signed webhook;
//! Checkout Sessions (which localstripe lacks) against a small stand-in that serves them in
//! Stripe's shape; the webhook's signature, replays, and one key sent fifty times at once.

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post, Form, Router};
use futures::{future::join_all, stream, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};

use super::{assert_ledger_verifies, kept};
use crate::harness::TestApp;

const SECRET: &str = "whsec_test_hoody";
const CHECKOUT: &str = "/api/v1/wallet/payments/stripe/checkout";
const WEBHOOK: &str = "/api/v1/wallet/webhooks/stripe";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// localstripe on a port of its own, its state in memory only (its pickle file is shared by
/// every instance on the machine, so it is not written).
pub struct LocalStripe {
    child: Child,
    pub base: String,
}

impl LocalStripe {
    pub async fn start() -> Self {
        let port = free_port();
        let script = format!(
            "import sys, localstripe.resources as r\nr.Store.dump_to_disk = lambda self: None\n\
             from localstripe.server import start\nsys.argv = ['localstripe', '--port', '{port}', '--from-scratch']\nstart()"
        );
        #[allow(clippy::zombie_processes)] // waited for in Drop
        let child = Command::new("python3")
            .args(["-c", &script])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with localstripe (scripts/deps installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/v1/customers")).send().await.is_ok() {
                return Self { child, base };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("localstripe did not start");
    }

    /// A call to its API as Stripe's clients make them (form-encoded, secret key).
    pub async fn call(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.base))
            .basic_auth("sk_test_hoody", Some(""))
            .form(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let text = r.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

impl LocalStripe {
    /// One of its objects, as its API shows it.
    pub async fn get(&self, path: &str) -> Value {
        let r = reqwest::Client::new().get(format!("{}{path}", self.base)).basic_auth("sk_test_hoody", Some(""));
        r.send().await.unwrap().json().await.unwrap()
    }
}

impl Drop for LocalStripe {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn stripe_app(api_base: &str) -> TestApp {
    let base = api_base.to_owned();
    TestApp::spawn_with(move |c| {
        c.money.stripe_secret_key = Some(hoody_api::secret::Secret::new("sk_test_hoody".into()));
        c.money.stripe_webhook_secret = Some(hoody_api::secret::Secret::new(SECRET.into()));
        c.money.stripe_api_base = base;
        c.db_max_connections = 24;
    })
    .await
}

/// Post `event` to the app's webhook as Stripe would, signed at `t` with `secret`.
async fn deliver(app: &TestApp, event: &Value, secret: &str, t: i64) -> (u16, Value) {
    let body = serde_json::to_vec(event).unwrap();
    let sig = hoody_api::payments::stripe::sign(secret, &body, t);
    let r = app
        .client
        .post(format!("{}{WEBHOOK}", app.base))
        .header("content-type", "application/json")
        .header("stripe-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_card_is_charged_through_localstripe_and_credited_by_its_signed_webhook() {
    let ls = LocalStripe::start().await;
    let app = stripe_app(&ls.base).await;
    ls.call("/_config/webhooks/hoody", &[("url", &format!("{}{WEBHOOK}", app.base)), ("secret", SECRET)]).await;
    let u = app.verified_user("card@example.com").await;
    // No default card: 412, nothing stored.
    let r = app.post_auth("/api/v1/wallet/payments/", &u.token, Some(json!({"amount": "10.00"}))).await;
    r.expect(412);
    assert_eq!(r.code(), "payment_method_required");
    // A card made with Stripe (as Stripe.js makes one), saved with us: the server attaches it to
    // the user's own customer, which it makes.
    let card = |n: &'static str| {
        [
            ("type", "card"),
            ("card[number]", n),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2030"),
            ("card[cvc]", "123"),
        ]
    };
    let pm = ls.call("/v1/payment_methods", &card("4242424242424242")).await["id"].as_str().unwrap().to_owned();
    let methods = "/api/v1/wallet/payment-methods/";
    let method = app
        .post_auth(methods, &u.token, Some(json!({"name": "Visa 4242", "details": {"stripe_payment_method": pm}})))
        .await;
    method.expect(201);
    assert_eq!(method.data()["type"], "card");
    let customer: String = sqlx::query_scalar("select customer_id from stripe_customer where user_id = $1")
        .bind(&u.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let held = ls.get(&format!("/v1/payment_methods/{pm}")).await;
    assert_eq!(held["customer"], customer.as_str());
    // Nobody else can save (and so charge) that card: it is attached to another customer.
    let thief = app.verified_user("thief@example.com").await;
    let r = app
        .post_auth(methods, &thief.token, Some(json!({"name": "Mine", "details": {"stripe_payment_method": pm}})))
        .await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "details.stripe_payment_method");
    let r = app
        .post_auth(methods, &thief.token, Some(json!({"name": "x", "details": {"stripe_payment_method": "pm_nope"}})))
        .await;
    r.expect(422);
    // Saved twice by its owner: 409.
    let r = app
        .post_auth(methods, &u.token, Some(json!({"name": "Again", "details": {"stripe_payment_method": pm}})))
        .await;
    r.expect(409);
    // Bad amounts: named, nothing stored, nothing charged.
    for bad in ["0", "-5", "1e3", "4.99", "10000.01", "ten"] {
        let r = app.post_auth("/api/v1/wallet/payments/", &u.token, Some(json!({"amount": bad}))).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "amount", "{bad}");
    }
    let r = app
        .post_auth(
            "/api/v1/wallet/payments/",
            &u.token,
            Some(json!({"amount": "10", "credit_distribution": [{"type": "general", "amount": "9"}]})),
        )
        .await;
    r.expect(422);
    let intents: i64 = sqlx::query_scalar("select count(*) from payment_intent").fetch_one(&app.db).await.unwrap();
    assert_eq!(intents, 0);
    // The payment: started, not credited until the webhook.
    let r =
        app.post_auth("/api/v1/wallet/payments/", &u.token, Some(json!({"amount": "10.00", "reason": "top-up"}))).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (&r.data()["status"], &r.data()["provider"], &r.data()["amount"]),
        (&json!("processing"), &json!("stripe"), &json!(10.0))
    );
    // Stripe holds the PaymentIntent, with our intent id.
    let pi_ref: String = sqlx::query_scalar("select provider_ref from payment_intent where intent_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let pi = ls.get(&format!("/v1/payment_intents/{pi_ref}")).await;
    assert_eq!(
        (&pi["amount"], &pi["status"], &pi["metadata"]["intent_id"]),
        (&json!(1000), &json!("succeeded"), &json!(id))
    );
    // localstripe delivers payment_intent.succeeded, signed, about a second later.
    let mut status = String::new();
    for _ in 0..100 {
        let g = app.get(&format!("/api/v1/wallet/payments/{id}"), Some(&u.token)).await;
        status = g.data()["status"].as_str().unwrap_or_default().to_owned();
        if status == "completed" {
            assert!(g.data()["credited_at"].is_string());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, "completed");
    assert_eq!(kept(&app.db, &u.user_id).await, (1000, 0));
    let t = app.get("/api/v1/wallet/transactions", Some(&u.token)).await;
    assert_eq!(
        (&t.data()["transactions"][0]["transaction_type"], &t.data()["transactions"][0]["general_change"]),
        (&json!("topup"), &json!("10.00"))
    );
    // A declined card: 402, nothing credited.
    let bad = ls.call("/v1/payment_methods", &card("4000000000000341")).await["id"].as_str().unwrap().to_owned();
    let m2 = app
        .post_auth(
            methods,
            &u.token,
            Some(json!({"name": "Declines", "is_default": true, "details": {"stripe_payment_method": bad}})),
        )
        .await;
    m2.expect(201);
    let r = app.post_auth("/api/v1/wallet/payments/", &u.token, Some(json!({"amount": "7"}))).await;
    r.expect(402);
    assert_eq!(r.code(), "payment_refused");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(kept(&app.db, &u.user_id).await, (1000, 0));
    let failed: i64 = sqlx::query_scalar("select count(*) from payment_intent where status = 'failed'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(failed, 1);
    // Another user's payment: 404; the intents list is newest first.
    let v = app.verified_user("card-other@example.com").await;
    app.get(&format!("/api/v1/wallet/payments/{id}"), Some(&v.token)).await.expect(404);
    app.get(&format!("/api/v1/wallet/payments/stripe/intents/{id}"), Some(&v.token)).await.expect(404);
    let l = app.get("/api/v1/wallet/payments/stripe/intents?limit=1", Some(&u.token)).await;
    assert_eq!((l.data()["total"].as_i64(), l.data()["intents"][0]["status"].as_str()), (Some(2), Some("failed")));
    app.get("/api/v1/wallet/payments/stripe/intents?limit=0", Some(&u.token)).await.expect(422);
    assert_ledger_verifies(&app.db).await;
}

/// The Checkout Session stand-in: `POST /v1/checkout/sessions` in Stripe's shape, recording
/// what it was sent.
#[derive(Clone, Default)]
struct Sessions(Arc<Mutex<Vec<Seen>>>);

/// One call's headers and form.
type Seen = (HeaderMap, Vec<(String, String)>);

async fn create_session(
    State(s): State<Sessions>,
    headers: HeaderMap,
    Form(form): Form<Vec<(String, String)>>,
) -> axum::Json<Value> {
    let mut seen = s.0.lock().unwrap();
    seen.push((headers, form));
    let id = format!("cs_test_{}", seen.len());
    axum::Json(
        json!({"id": id, "object": "checkout.session", "url": format!("https://checkout.stripe.test/c/pay/{id}"), "status": "open"}),
    )
}

async fn checkout_stand_in() -> (String, Sessions) {
    let sessions = Sessions::default();
    let router = Router::new().route("/v1/checkout/sessions", post(create_session)).with_state(sessions.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), sessions)
}

fn completed(event_id: &str, intent: &str, cents: i64) -> Value {
    json!({"id": event_id, "object": "event", "type": "checkout.session.completed", "created": now(),
           "data": {"object": {"id": "cs_test_x", "object": "checkout.session", "payment_status": "paid",
                               "amount_total": cents, "currency": "usd", "payment_intent": format!("pi_{intent}"),
                               "metadata": {"intent_id": intent}}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_credits_only_on_a_verified_webhook_and_only_once() {
    // Not configured: 412, nothing stored.
    let plain = TestApp::spawn().await;
    let p = plain.verified_user("nocard@example.com").await;
    let r = plain.post_auth(CHECKOUT, &p.token, Some(json!({"amount": "25"}))).await;
    r.expect(412);
    assert_eq!(r.code(), "payment_provider_not_configured");
    let none: i64 = sqlx::query_scalar("select count(*) from payment_intent").fetch_one(&plain.db).await.unwrap();
    assert_eq!(none, 0);
    assert_eq!(
        plain.get("/api/v1/wallet/payment-availability", Some(&p.token)).await.data()["stripe"]["enabled"],
        false
    );
    let r = plain.post_auth("/api/v1/wallet/payments/crypto/invoice", &p.token, Some(json!({"amount": "25"}))).await;
    r.expect(412);
    assert_eq!(
        plain.get("/api/v1/wallet/payments/crypto/intents", Some(&p.token)).await.data(),
        &json!({"intents": [], "total": 0})
    );

    let (base, sessions) = checkout_stand_in().await;
    let app = stripe_app(&base).await;
    let u = app.verified_user("checkout@example.com").await;
    assert_eq!(app.get("/api/v1/wallet/payment-availability", Some(&u.token)).await.data()["stripe"]["enabled"], true);
    let r = app.post_auth(CHECKOUT, &u.token, Some(json!({"amount": "25"}))).await;
    r.expect(201);
    let intent = r.data()["intent"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.data()["checkout_url"], "https://checkout.stripe.test/c/pay/cs_test_1");
    assert_eq!((&r.data()["intent"]["status"], &r.data()["intent"]["amount"]), (&json!("pending"), &json!(25.0)));
    {
        let seen = sessions.0.lock().unwrap();
        let (headers, form) = &seen[0];
        assert_eq!(headers["stripe-version"], hoody_api::payments::stripe::API_VERSION);
        assert_eq!(headers["idempotency-key"], intent.as_str());
        assert!(headers["authorization"].to_str().unwrap() == "Bearer sk_test_hoody");
        let get = |k: &str| form.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        assert_eq!(get("line_items[0][price_data][unit_amount]").as_deref(), Some("2500"));
        assert_eq!(get("metadata[intent_id]").as_deref(), Some(intent.as_str()));
    }
    // Nothing credited at checkout.
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));
    // Bad, old and foreign signatures: 400, nothing credited.
    let event = completed("evt_1", &intent, 2500);
    assert_eq!(deliver(&app, &event, "whsec_wrong", now()).await.0, 400);
    assert_eq!(deliver(&app, &event, SECRET, now() - 301).await.0, 400);
    let unsigned = app.client.post(format!("{}{WEBHOOK}", app.base)).json(&event).send().await.unwrap();
    assert_eq!(unsigned.status(), 400);
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));
    // The real one, delivered twenty times at once: credited once.
    let answers = join_all((0..20).map(|_| deliver(&app, &event, SECRET, now()))).await;
    assert!(answers.iter().all(|a| a.0 == 200), "{answers:?}");
    assert_eq!(answers.iter().filter(|a| a.1["data"]["outcome"] == "credited").count(), 1, "{answers:?}");
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    // Another event naming the same intent: already credited.
    let (s, body) = deliver(&app, &completed("evt_2", &intent, 2500), SECRET, now()).await;
    assert_eq!((s, body["data"]["outcome"].as_str()), (200, Some("already_credited")));
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    let g = app.get(&format!("/api/v1/wallet/payments/stripe/intents/{intent}"), Some(&u.token)).await;
    assert_eq!(g.data()["status"], "completed");
    // A paid amount that differs from the intent: held for review, not credited.
    let second = app.post_auth(CHECKOUT, &u.token, Some(json!({"amount": "30.00"}))).await;
    let second = second.data()["intent"]["id"].as_str().unwrap().to_owned();
    let (_, body) = deliver(&app, &completed("evt_3", &second, 100), SECRET, now()).await;
    assert_eq!(body["data"]["outcome"], "admin_review");
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    // A late failure does not hide a payment held for review.
    let failed = json!({"id": "evt_4", "type": "payment_intent.payment_failed", "created": now(),
                        "data": {"object": {"id": "pi_x", "metadata": {"intent_id": second}}}});
    deliver(&app, &failed, SECRET, now()).await;
    let g = app.get(&format!("/api/v1/wallet/payments/{second}"), Some(&u.token)).await;
    assert_eq!(g.data()["status"], "admin_review");
    // In Checkout a declined card leaves the page open: the intent is not failed; a session
    // completed but not yet paid (a bank debit) is processing.
    let third = app.post_auth(CHECKOUT, &u.token, Some(json!({"amount": "6"}))).await;
    let third = third.data()["intent"]["id"].as_str().unwrap().to_owned();
    let declined = json!({"id": "evt_5", "type": "payment_intent.payment_failed", "created": now(),
                          "data": {"object": {"id": "pi_y", "metadata": {"intent_id": third}}}});
    assert_eq!(deliver(&app, &declined, SECRET, now()).await.1["data"]["outcome"], "ignored");
    let mut unpaid = completed("evt_6", &third, 600);
    unpaid["data"]["object"]["payment_status"] = json!("unpaid");
    assert_eq!(deliver(&app, &unpaid, SECRET, now()).await.1["data"]["outcome"], "processing");
    assert_eq!(
        app.get(&format!("/api/v1/wallet/payments/{third}"), Some(&u.token)).await.data()["status"],
        "processing"
    );
    assert_eq!(kept(&app.db, &u.user_id).await, (2500, 0));
    assert_ledger_verifies(&app.db).await;

    // R4: one key sent fifty times at once: one intent, one session; every answer the same
    // intent or 409 while the first runs; a repeat after is byte for byte the first answer.
    let answers: Vec<(u16, String)> = stream::iter(0..50)
        .map(|_| {
            let app = &app;
            let token = u.token.clone();
            async move {
                let r = app
                    .request_with(
                        Method::POST,
                        CHECKOUT,
                        Some(&token),
                        &[("idempotency-key", "topup-77")],
                        Some(json!({"amount": "40"})),
                    )
                    .await;
                (r.status.as_u16(), r.text.clone())
            }
        })
        .buffer_unordered(50)
        .collect()
        .await;
    let ok: Vec<&(u16, String)> = answers.iter().filter(|a| a.0 == 201).collect();
    assert!(!ok.is_empty() && answers.iter().all(|a| a.0 == 201 || a.0 == 409), "{answers:?}");
    assert!(ok.iter().all(|a| a.1 == ok[0].1), "every 201 is the same answer");
    let keyed: i64 = sqlx::query_scalar("select count(*) from payment_intent where idem_key = 'topup-77'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(keyed, 1);
    assert_eq!(sessions.0.lock().unwrap().len(), 4);
    let again = app
        .request_with(
            Method::POST,
            CHECKOUT,
            Some(&u.token),
            &[("idempotency-key", "topup-77")],
            Some(json!({"amount": "40.00"})),
        )
        .await;
    again.expect(201);
    assert_eq!(again.text, ok[0].1);
    let other = app
        .request_with(
            Method::POST,
            CHECKOUT,
            Some(&u.token),
            &[("idempotency-key", "topup-77")],
            Some(json!({"amount": "41"})),
        )
        .await;
    other.expect(422);
    // Another user's identical key is theirs, and shows nothing of the first user's intent.
    let v = app.verified_user("checkout-b@example.com").await;
    let theirs = app
        .request_with(
            Method::POST,
            CHECKOUT,
            Some(&v.token),
            &[("idempotency-key", "topup-77")],
            Some(json!({"amount": "40"})),
        )
        .await;
    theirs.expect(201);
    assert_ne!(theirs.text, ok[0].1);
    app.get(&format!("/api/v1/wallet/payments/stripe/intents/{intent}"), Some(&v.token)).await.expect(404);

    // Refunds and disputes take the money back, once per event, never beyond what was credited,
    // and never below zero: what the balance cannot cover is held for review.
    let refund = |id: &str, total: i64| {
        json!({"id": id, "type": "charge.refunded", "created": now(),
        "data": {"object": {"id": "ch_1", "object": "charge", "payment_intent": format!("pi_{intent}"), "amount_refunded": total}}})
    };
    assert_eq!(deliver(&app, &refund("evt_r1", 1000), SECRET, now()).await.1["data"]["outcome"], "taken_back");
    assert_eq!(deliver(&app, &refund("evt_r1", 1000), SECRET, now()).await.1["data"]["outcome"], "duplicate");
    assert_eq!(
        deliver(&app, &refund("evt_r2", 1000), SECRET, now()).await.1["data"]["outcome"],
        "nothing_to_take_back"
    );
    assert_eq!(kept(&app.db, &u.user_id).await, (1500, 0));
    let dispute = json!({"id": "evt_d1", "type": "charge.dispute.created", "created": now(),
        "data": {"object": {"id": "dp_1", "object": "dispute", "payment_intent": format!("pi_{intent}"), "amount": 9999}}});
    assert_eq!(deliver(&app, &dispute, SECRET, now()).await.1["data"]["outcome"], "taken_back");
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 0));
    // Credited, then spent, then refunded: held for review, no negative balance.
    assert_eq!(deliver(&app, &completed("evt_7", &third, 600), SECRET, now()).await.1["data"]["outcome"], "credited");
    app.post_auth("/api/v1/wallet/transfers", &u.token, Some(json!({"amount": "6"}))).await.expect(200);
    let late = json!({"id": "evt_r3", "type": "charge.refunded", "created": now(),
        "data": {"object": {"id": "ch_3", "object": "charge", "payment_intent": format!("pi_{third}"), "amount_refunded": 600}}});
    assert_eq!(deliver(&app, &late, SECRET, now()).await.1["data"]["outcome"], "admin_review");
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 570));
    assert_eq!(
        app.get(&format!("/api/v1/wallet/payments/{third}"), Some(&u.token)).await.data()["status"],
        "admin_review"
    );
    // A late success event of that payment neither credits again nor lifts the hold.
    let again = json!({"id": "evt_7b", "type": "payment_intent.succeeded", "created": now(),
        "data": {"object": {"id": format!("pi_{third}"), "object": "payment_intent", "amount_received": 600,
                            "currency": "usd", "metadata": {"intent_id": third}}}});
    assert_eq!(deliver(&app, &again, SECRET, now()).await.1["data"]["outcome"], "already_credited");
    assert_eq!(kept(&app.db, &u.user_id).await, (0, 570));
    assert_eq!(
        app.get(&format!("/api/v1/wallet/payments/{third}"), Some(&u.token)).await.data()["status"],
        "admin_review"
    );
    let t = app.get("/api/v1/wallet/transactions?limit=5", Some(&u.token)).await;
    assert_eq!(
        t.data()["transactions"].as_array().unwrap().iter().filter(|t| t["transaction_type"] == "refund").count(),
        2
    );
    assert_ledger_verifies(&app.db).await;
}
