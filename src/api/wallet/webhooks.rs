//! The providers' webhooks, the only things that credit the wallet: Stripe's events and
//! NOWPayments' IPN callbacks, each verified by its signature, each delivery applied once, each
//! intent credited once (`credit`, shared).

use axum::{
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::Value;
use sqlx::PgConnection;

use super::payments::not_configured;
use crate::{
    db::{self, payment_intents as intents, payment_intents::IntentRow},
    envelope::ApiOk,
    error::{ApiError, ErrorBody, Result},
    ledger::{self, Account, Key, Movement},
    money,
    payments::{nowpayments, stripe},
    state::AppState,
};

/// Stripe webhook
///
/// Stripe calls this (no bearer). `Stripe-Signature` (`t=…,v1=…`, HMAC-SHA256 over
/// `<t>.<body>` with the webhook secret, at most 300 s old) must match, or 400 and nothing
/// happens. `checkout.session.completed` (paid) and `payment_intent.succeeded` credit the
/// intent's amount once: each event id is applied once, and an intent is credited once whatever
/// events name it; an amount that differs from the intent's is held for review
/// (`admin_review`), not credited. `payment_intent.payment_failed` marks a card payment failed
/// (not an open Checkout, where the payer may try another card). `charge.refunded` and
/// `charge.dispute.created` take the money back from the general balance, at most what was
/// credited; when the balance no longer covers it, the intent is held for review instead.
#[utoipa::path(post, path = "/wallet/webhooks/stripe", tag = "wallet",
    request_body(content = Object, description = "A Stripe event, as Stripe sends it",
        example = json!({
            "id": "evt_1QhX2aB3cD4eF5gH",
            "type": "checkout.session.completed",
            "data": {"object": {
                "id": "cs_test_a1B2c3D4e5F6",
                "object": "checkout.session",
                "payment_status": "paid",
                "amount_total": 2500,
                "currency": "usd",
                "metadata": {"intent_id": "65f1c0a2b3d4e5f6a7b8c9d6"}
            }}
        })),
    responses((status = 200, body = Envelope<Object>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn stripe_webhook(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let secret = st.cfg.money.stripe_webhook_secret.as_ref().ok_or_else(|| not_configured("Card payments"))?;
    let sig = headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Err(e) = stripe::verify(secret.as_str(), sig, &body, Utc::now().timestamp()) {
        return Err(ApiError::bad_request("invalid_signature", format!("Stripe-Signature refused: {e}")));
    }
    let event: stripe::Event = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("invalid_event", "The body is not a Stripe event"))?;
    let outcome = ledger::retrying(|| apply(&st, &event)).await?;
    Ok(ApiOk::new("Webhook received", serde_json::json!({"received": true, "outcome": outcome})).into_response())
}

/// Apply one verified event, once. Returns what it did.
async fn apply(st: &AppState, event: &stripe::Event) -> Result<&'static str> {
    let o = &event.data.object;
    let intent_id = o.pointer("/metadata/intent_id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let mut tx = st.db.begin().await?;
    if !intents::record_event(&mut tx, "stripe", &event.id, &event.kind).await? {
        return Ok("duplicate");
    }
    // What the event means for the intent: credit it, or end it (failed or expired), or wait.
    enum Means {
        Credit,
        End(&'static str),
        Wait,
    }
    let means = match event.kind.as_str() {
        "charge.refunded" | "charge.dispute.created" => {
            drop(tx);
            return take_back(st, event).await;
        }
        "checkout.session.completed" if o["payment_status"] == "paid" => Means::Credit,
        // Paid later (a bank debit): `checkout.session.async_payment_*` follows.
        "checkout.session.completed" => Means::Wait,
        "checkout.session.async_payment_succeeded" | "payment_intent.succeeded" => Means::Credit,
        "checkout.session.expired" => Means::End("expired"),
        "checkout.session.async_payment_failed" | "payment_intent.payment_failed" => Means::End("failed"),
        _ => {
            tx.commit().await?;
            return Ok("ignored");
        }
    };
    let Some(intent) = intents::lock(&mut tx, &intent_id).await?.filter(|i| i.provider == "stripe") else {
        tx.commit().await?;
        return Ok("unknown_intent");
    };
    // Credited (completed, or held for review since: a refund or a dispute): a late success
    // changes nothing, and never lifts a hold.
    if intent.txn_id.is_some() {
        tx.commit().await?;
        return Ok("already_credited");
    }
    match means {
        Means::Credit => {}
        Means::Wait if intent.status == "admin_review" => {
            tx.commit().await?;
            return Ok("ignored");
        }
        Means::Wait => {
            intents::set_status(&mut tx, &intent.intent_id, "processing").await?;
            tx.commit().await?;
            return Ok("processing");
        }
        // In Checkout a declined attempt leaves the page open for another card: only the
        // session's own end counts. A payment held for review stays held.
        Means::End(_) if intent.status == "admin_review" => {
            tx.commit().await?;
            return Ok("ignored");
        }
        Means::End(_) if intent.flow == "checkout" && event.kind == "payment_intent.payment_failed" => {
            tx.commit().await?;
            return Ok("ignored");
        }
        Means::End(status) => {
            intents::set_status(&mut tx, &intent.intent_id, status).await?;
            tx.commit().await?;
            return Ok("ended");
        }
    }
    let paid =
        o.get("amount_total").or_else(|| o.get("amount_received")).or_else(|| o.get("amount")).and_then(|v| v.as_i64());
    let currency_ok = o.get("currency").and_then(|v| v.as_str()).is_none_or(|c| c.eq_ignore_ascii_case("usd"));
    if paid != Some(intent.amount_cents) || !currency_ok {
        tracing::warn!(intent = %intent.intent_id, ?paid, expected = intent.amount_cents, "a payment's amount differs from its intent; held for review");
        intents::set_status(&mut tx, &intent.intent_id, "admin_review").await?;
        tx.commit().await?;
        return Ok("admin_review");
    }
    // The provider's payment, which refunds and disputes will name.
    let payment = match event.kind.as_str() {
        "payment_intent.succeeded" => o.get("id"),
        _ => o.get("payment_intent"),
    }
    .and_then(|v| v.as_str());
    credit(&mut tx, &intent, &event.id, payment).await?;
    tx.commit().await?;
    Ok("credited")
}

/// Credit a verified payment of `intent` (locked by the caller's transaction) to the user's
/// general balance from the provider's clearing account, and mark it completed. Once per intent
/// whatever calls it: the movement's key is `intent:<id>`, so a second credit replays the first.
/// `payment` is the provider's payment, when the event names it.
async fn credit(conn: &mut PgConnection, intent: &IntentRow, event_id: &str, payment: Option<&str>) -> Result<()> {
    let m = Movement {
        user_id: intent.user_id.clone(),
        kind: "topup",
        amount_cents: intent.amount_cents,
        reason: intent.reason.clone(),
        key: Some(Key::new(format!("intent:{}", intent.intent_id), "topup")),
        postings: vec![
            (Account::Platform(db::ledger::PROVIDER_CLEARING), -intent.amount_cents),
            (Account::General, intent.amount_cents),
        ],
        meta: serde_json::json!({"intent_id": intent.intent_id, "provider": intent.provider, "event_id": event_id}),
    };
    let txn_id = match ledger::record(&mut *conn, &m).await? {
        ledger::Recorded::New { txn_id, .. } => txn_id,
        ledger::Recorded::Replay(prior) => prior.txn_id,
    };
    intents::completed(conn, &intent.intent_id, &txn_id, payment).await?;
    Ok(())
}

/// A refund (`charge.refunded`: `amount_refunded` is the running total) or a dispute
/// (`charge.dispute.created`: its `amount`) takes money back: the user's general balance pays it
/// back to the provider's clearing account, once per event and never beyond what was credited.
/// When the balance no longer covers it, nothing is taken and the intent is held for review
/// (`admin_review`), never driving a balance negative.
async fn take_back(st: &AppState, event: &stripe::Event) -> Result<&'static str> {
    let o = &event.data.object;
    let payment = o
        .get("payment_intent")
        .and_then(|v| v.as_str().or_else(|| v.get("id").and_then(|i| i.as_str())))
        .unwrap_or_default()
        .to_owned();
    let mut tx = st.db.begin().await?;
    if !intents::record_event(&mut tx, "stripe", &event.id, &event.kind).await? {
        return Ok("duplicate");
    }
    let Some(intent) = intents::lock_by_payment(&mut tx, "stripe", &payment).await? else {
        tx.commit().await?;
        tracing::warn!(event = %event.id, kind = %event.kind, "a refund or dispute names no credited payment of ours");
        return Ok("unknown_payment");
    };
    let asked = match event.kind.as_str() {
        "charge.refunded" => {
            o.get("amount_refunded").and_then(|v| v.as_i64()).map(|total| total - intent.reversed_cents)
        }
        _ => o.get("amount").and_then(|v| v.as_i64()),
    };
    // Never more than what is left of what was credited.
    let cents = asked.unwrap_or(0).min(intent.amount_cents - intent.reversed_cents);
    if cents <= 0 {
        tx.commit().await?;
        return Ok("nothing_to_take_back");
    }
    let m = Movement {
        user_id: intent.user_id.clone(),
        kind: "refund",
        amount_cents: cents,
        reason: if event.kind == "charge.refunded" { "Top-up refunded".into() } else { "Top-up disputed".into() },
        key: Some(Key::new(format!("reversal:{}", event.id), "reversal")),
        postings: vec![(Account::General, -cents), (Account::Platform(db::ledger::PROVIDER_CLEARING), cents)],
        meta: serde_json::json!({"intent_id": intent.intent_id, "provider": "stripe", "event_id": event.id}),
    };
    match ledger::record(&mut tx, &m).await {
        Ok(_) => {
            intents::reversed(&mut tx, &intent.intent_id, cents).await?;
            tx.commit().await?;
            Ok("taken_back")
        }
        Err(ApiError::PaymentRequired { .. }) => {
            // The balance was spent: hold it for an operator, in a transaction of its own.
            drop(tx);
            let mut tx = st.db.begin().await?;
            if !intents::record_event(&mut tx, "stripe", &event.id, &event.kind).await? {
                return Ok("duplicate");
            }
            intents::hold_for_review(&mut tx, &intent.intent_id).await?;
            tx.commit().await?;
            tracing::warn!(intent = %intent.intent_id, cents, "a refund or dispute exceeds the balance; held for review");
            Ok("admin_review")
        }
        Err(e) => Err(e),
    }
}

/// NOWPayments IPN
///
/// NOWPayments calls this (no bearer) when a payment of a crypto invoice changes. The
/// `x-nowpayments-sig` header must be the hex HMAC-SHA512, with the IPN secret, of the JSON body
/// re-serialised with its object keys sorted (recursively), or 400 and nothing happens. The
/// intent is the body's `order_id`; one that names no crypto intent of ours is answered 200
/// (`unknown_intent`), so NOWPayments does not retry it forever. Each delivery is applied once
/// (its `payment_id` with its `payment_status`). `finished` credits the intent's amount once,
/// only when `price_amount` and `price_currency` are the intent's (else it is held for review,
/// `admin_review`, not credited); `partially_paid` holds it for review; `failed` and `expired`
/// end it so; `refunded` ends it `cancelled`; `waiting`, `confirming`, `confirmed` and `sending`
/// make it `processing`. A credited intent is never un-credited here: a refund of it, or a second
/// payment for it, holds it for review.
#[utoipa::path(post, path = "/wallet/webhooks/nowpayments", tag = "wallet",
    request_body(content = Object, description = "A NOWPayments IPN, as NOWPayments sends it",
        example = json!({
            "payment_id": "5077125051",
            "payment_status": "finished",
            "order_id": "65f1c0a2b3d4e5f6a7b8c9d6",
            "price_amount": 25,
            "price_currency": "usd",
            "pay_amount": "0.00041",
            "pay_currency": "btc"
        })),
    responses((status = 200, body = Envelope<Object>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn nowpayments_webhook(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response> {
    let secret = st.cfg.money.nowpayments_ipn_secret.as_ref().ok_or_else(|| not_configured("Crypto payments"))?;
    let sig = headers.get("x-nowpayments-sig").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let body = nowpayments::verify(secret.as_str(), sig, &body)
        .map_err(|e| ApiError::bad_request("invalid_signature", format!("x-nowpayments-sig refused: {e}")))?;
    let ipn =
        Ipn::read(&body).ok_or_else(|| ApiError::bad_request("invalid_event", "The body is not a NOWPayments IPN"))?;
    let outcome = ledger::retrying(|| apply_ipn(&st, &ipn)).await?;
    Ok(ApiOk::new("Webhook received", serde_json::json!({"received": true, "outcome": outcome})).into_response())
}

/// What an IPN says, as far as the wallet cares.
struct Ipn {
    /// NOWPayments' payment (a whole number there), in decimal.
    payment_id: String,
    status: String,
    /// Our intent id, as the invoice was given it.
    order_id: Option<String>,
    /// `price_amount` in cents, when it is a dollar amount at all.
    price_cents: Option<i64>,
    currency: Option<String>,
}

impl Ipn {
    fn read(v: &Value) -> Option<Self> {
        // (No NUL: PostgreSQL text cannot hold one.)
        let text = |k: &str| match v.get(k)? {
            Value::String(s) if !s.is_empty() && !s.contains('\0') => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        // A payment id is a whole number, as a number or as its digits; kept in one spelling so
        // that a delivery is recognised whichever way it came (`5077125051` and "5077125051").
        let payment_id = match v.get("payment_id")? {
            Value::Number(n) => n.as_u64()?,
            Value::String(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse::<u64>().ok()?
            }
            _ => return None,
        };
        Some(Self {
            payment_id: payment_id.to_string(),
            status: text("payment_status")?,
            order_id: text("order_id"),
            price_cents: text("price_amount").and_then(|a| money::hundredths(&a)),
            currency: v.get("price_currency").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// NOWPayments sends no event id: a payment's status is delivered (and applied) once.
    fn event_id(&self) -> String {
        format!("{}:{}", self.payment_id, self.status)
    }
}

/// Apply one verified IPN, once. Returns what it did.
async fn apply_ipn(st: &AppState, ipn: &Ipn) -> Result<&'static str> {
    enum Means {
        Credit,
        Review,
        End(&'static str),
        Wait,
    }
    let mut tx = st.db.begin().await?;
    if !intents::record_event(&mut tx, "nowpayments", &ipn.event_id(), &ipn.status).await? {
        return Ok("duplicate");
    }
    let means = match ipn.status.as_str() {
        "finished" => Means::Credit,
        "partially_paid" => Means::Review,
        "failed" => Means::End("failed"),
        "expired" => Means::End("expired"),
        "refunded" => Means::End("cancelled"),
        "waiting" | "confirming" | "confirmed" | "sending" => Means::Wait,
        _ => {
            tx.commit().await?;
            return Ok("ignored");
        }
    };
    let intent = match &ipn.order_id {
        Some(id) => intents::lock(&mut tx, id).await?.filter(|i| i.provider == "nowpayments"),
        None => None,
    };
    let Some(intent) = intent else {
        tx.commit().await?;
        return Ok("unknown_intent");
    };
    let outcome = if intent.txn_id.is_some() {
        // Credited: never undone here. Money coming back or a payment made again is for an
        // operator; anything else about the credited payment changes nothing.
        let same_payment = intent.provider_payment.as_deref() == Some(ipn.payment_id.as_str());
        match means {
            Means::Credit | Means::Review if !same_payment => hold(&mut tx, &intent, ipn, "a second payment").await?,
            Means::End("cancelled") if same_payment => {
                hold(&mut tx, &intent, ipn, "a refund of a credited payment").await?
            }
            _ => "already_credited",
        }
    } else {
        match means {
            Means::Credit
                if ipn.price_cents != Some(intent.amount_cents)
                    || !ipn.currency.as_deref().is_some_and(|c| c.eq_ignore_ascii_case("usd")) =>
            {
                hold(&mut tx, &intent, ipn, "an amount that differs from the intent's").await?
            }
            Means::Credit => {
                credit(&mut tx, &intent, &ipn.event_id(), Some(&ipn.payment_id)).await?;
                "credited"
            }
            Means::Review => hold(&mut tx, &intent, ipn, "a partial payment").await?,
            // Held for review stays held until the payment is finished.
            Means::End(_) | Means::Wait if intent.status == "admin_review" => "ignored",
            Means::End(status) => {
                intents::set_status(&mut tx, &intent.intent_id, status).await?;
                "ended"
            }
            Means::Wait => {
                intents::set_status(&mut tx, &intent.intent_id, "processing").await?;
                "processing"
            }
        }
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Hold an intent for an operator (`admin_review`), saying why in the log.
async fn hold(conn: &mut PgConnection, intent: &IntentRow, ipn: &Ipn, why: &str) -> Result<&'static str> {
    tracing::warn!(intent = %intent.intent_id, payment = %ipn.payment_id, status = %ipn.status,
        paid_cents = ?ipn.price_cents, expected = intent.amount_cents, "crypto payment held for review: {why}");
    intents::hold_for_review(conn, &intent.intent_id).await?;
    Ok("admin_review")
}
