//! Top-ups: Stripe Checkout (a hosted page), a payment with the default saved card, the intents
//! they make, crypto invoices (a second provider behind the same intents; 412 until one is
//! configured), and Stripe's webhook, the only thing that credits the wallet.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;

use super::{
    dto::{CheckoutIn, CheckoutOut, OffsetQuery, PaymentIn, PaymentIntentListOut, PaymentIntentOut},
    path_id,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{self, payment_intents as intents, payment_intents::IntentRow},
    envelope::{json_response, ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Json, Path, Query},
    ledger::{self, Account, Key, Movement},
    money,
    payments::{self, stripe},
    state::AppState,
};

pub fn intent_not_found() -> ApiError {
    ApiError::not_found("payment_intent_not_found", "Payment not found")
}

fn not_configured(what: &str) -> ApiError {
    ApiError::precondition("payment_provider_not_configured", format!("{what} are not configured on this server"))
}

/// A top-up amount within the configured bounds.
fn topup_bounds(st: &AppState, field: &str, cents: i64) -> Result<i64> {
    let m = &st.cfg.money;
    if cents < m.topup_min_cents || cents > m.topup_max_cents {
        return Err(ApiError::validation(vec![FieldError::new(
            field,
            format!("must be between {} and {}", money::dollars(m.topup_min_cents), money::dollars(m.topup_max_cents)),
        )]));
    }
    Ok(cents)
}

fn provider_failed(e: stripe::StripeError) -> ApiError {
    match e {
        stripe::StripeError::Refused(m) => {
            ApiError::payment_required("payment_refused", format!("The payment was refused: {m}"))
        }
        stripe::StripeError::Unavailable(m) => {
            tracing::warn!(error = %m, "the payment provider failed");
            ApiError::BadGateway
        }
    }
}

/// What a repeat with a taken key gets: the first answer (kept, or rebuilt from the intent when
/// it could not be kept), the first refusal again, 409 while the first runs, or, when the
/// provider could not be reached, the provider asked again (its idempotency key is the intent id,
/// so it answers with what it did the first time).
async fn repeat(st: &AppState, prior: IntentRow, hash: &[u8]) -> Result<Response> {
    if prior.request_hash.as_deref() != Some(hash) {
        return Err(ApiError::invalid("idempotency_key", "This idempotency key was used for a different request"));
    }
    if let Some(answer) = intents::answer(&st.db, &prior.intent_id).await? {
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    match prior.status.as_str() {
        "creating" if prior.failure.is_some() => {
            let client =
                stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
            start(st, &client, &prior).await
        }
        "creating" => Err(ApiError::Busy {
            code: "idempotency_key_in_use",
            message: "The first request with this key is still running".into(),
            retry_after_secs: 1,
        }),
        "failed" => Err(ApiError::payment_required(
            "payment_refused",
            format!("The payment was refused: {}", prior.failure.as_deref().unwrap_or("by the provider")),
        )),
        _ => Ok(json_response(StatusCode::CREATED, &answer_of(&prior))),
    }
}

/// The answer for an intent the provider took.
fn answer_of(row: &IntentRow) -> serde_json::Value {
    let intent = PaymentIntentOut::from(row);
    if row.flow == "checkout" {
        let out = CheckoutOut { checkout_url: row.redirect_url.clone().unwrap_or_default(), intent };
        serde_json::json!({"statusCode": 201, "message": "Checkout started", "data": out})
    } else {
        serde_json::json!({"statusCode": 201, "message": "Payment started", "data": intent})
    }
}

/// The intent the caller's key already names, if any (looked up before the bounds and settings
/// of today, so a retry of what was done gets its answer).
async fn earlier(st: &AppState, user: &str, key: Option<&Key>) -> Result<Option<Response>> {
    let Some(k) = key else { return Ok(None) };
    match intents::by_key(&st.db, user, "stripe", &k.key).await? {
        Some(prior) => repeat(st, prior, &k.hash).await.map(Some),
        None => Ok(None),
    }
}

/// Take the caller's key for a new intent, or answer as the key's first request did.
async fn claim(st: &AppState, new: &intents::NewIntent<'_>) -> Result<Option<Response>> {
    if intents::insert(&st.db, new).await? {
        return Ok(None);
    }
    let (Some(key), Some(hash)) = (new.idem_key, new.request_hash) else {
        return Err(ApiError::Internal(anyhow::anyhow!("an intent without a key conflicted")));
    };
    let prior = intents::by_key(&st.db, new.user_id, new.provider, key).await?.ok_or(sqlx::Error::RowNotFound)?;
    repeat(st, prior, hash).await.map(Some)
}

/// Ask the provider to take an intent in `creating` (a new one, or one it could not be reached
/// for), record what it said, and keep the answer.
async fn start(st: &AppState, client: &stripe::Client<'_>, row: &IntentRow) -> Result<Response> {
    let id = &row.intent_id;
    let started = match row.flow.as_str() {
        "checkout" => {
            let return_url =
                st.cfg.money.stripe_return_url.clone().unwrap_or_else(|| format!("{}/wallet", st.cfg.public_url));
            client.checkout_session(id, row.amount_cents, &return_url).await.map(|s| {
                let expires = Utc::now() + chrono::Duration::hours(24);
                ("pending", s.id, Some(s.url.unwrap_or_default()), Some(expires))
            })
        }
        _ => {
            let (pm, customer) = card_of(st, &row.user_id, row.payment_method_id.as_deref()).await?;
            client.charge(id, row.amount_cents, &pm, Some(&customer)).await.map(|pi| {
                let status = match pi.status.as_str() {
                    "succeeded" | "processing" => "processing",
                    "requires_action" | "requires_confirmation" => "pending",
                    "canceled" => "cancelled",
                    _ => "failed",
                };
                (status, pi.id, None, None)
            })
        }
    };
    let (status, reference, url, expires) = match started {
        Ok(s) => s,
        Err(e @ stripe::StripeError::Refused(_)) => {
            intents::failed(&st.db, id, &e.to_string()).await?;
            return Err(provider_failed(e));
        }
        Err(e) => {
            intents::unreachable(&st.db, id, &e.to_string()).await?;
            return Err(provider_failed(e));
        }
    };
    intents::started(&st.db, id, status, &reference, url.as_deref(), expires).await?;
    let row = intents::get(&st.db, &row.user_id, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let body = answer_of(&row);
    intents::keep_answer(&st.db, id, &body).await?;
    Ok(json_response(StatusCode::CREATED, &body))
}

/// The saved card an intent charges and the user's customer at Stripe.
async fn card_of(st: &AppState, user: &str, method_id: Option<&str>) -> Result<(String, String)> {
    let method = match method_id {
        Some(m) => db::payment_methods::get(&st.db, user, m).await?,
        None => None,
    };
    let pm = method
        .as_ref()
        .and_then(|m| m.details.get("stripe_payment_method"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::precondition("payment_method_required", "The payment method is gone"))?;
    let customer = intents::stripe_customer(&st.db, user)
        .await?
        .ok_or_else(|| ApiError::precondition("payment_method_required", "Save the card again"))?;
    Ok((pm, customer))
}

/// Make sure Stripe payment method `pm` is the user's: attached to the user's own customer (made
/// by the server, once), or attached to it now. One attached to another customer is refused: a
/// card id alone never lets anyone charge someone else's card.
pub(crate) async fn own_card(st: &AppState, user: &str, pm: &str) -> Result<()> {
    let client = stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
    let field = "details.stripe_payment_method";
    let customer = match intents::stripe_customer(&st.db, user).await? {
        Some(c) => c,
        None => {
            let c = client.create_customer(user).await.map_err(provider_failed)?;
            intents::set_stripe_customer(&st.db, user, &c.id).await?
        }
    };
    let found = match client.payment_method(pm).await {
        Ok(found) => found,
        Err(stripe::StripeError::Refused(_)) => {
            return Err(ApiError::invalid(field, "is not a payment method Stripe knows"))
        }
        Err(e) => return Err(provider_failed(e)),
    };
    match found.customer {
        Some(c) if c == customer => Ok(()),
        Some(_) => Err(ApiError::invalid(field, "belongs to another customer")),
        None => match client.attach(&found.id, &customer).await {
            Ok(_) => Ok(()),
            Err(stripe::StripeError::Refused(m)) => Err(ApiError::invalid(field, format!("Stripe refused it: {m}"))),
            Err(e) => Err(provider_failed(e)),
        },
    }
}

/// Start a card payment (Stripe Checkout)
///
/// Opens a hosted Stripe Checkout page for `amount` (dollars, within the bounds of
/// `GET /wallet/payment-availability`) backed by a new payment intent; send the payer to
/// `checkout_url`. The wallet is credited only when Stripe's signed webhook confirms the payment,
/// never here. With an idempotency key (header or body) a repeat returns the same answer, byte
/// for byte (409 while the first still runs; 422 for another amount). Without Stripe settings:
/// 412 `payment_provider_not_configured`, nothing stored.
#[utoipa::path(post, path = "/wallet/payments/stripe/checkout", tag = "wallet", security(("bearer" = [])),
    params(crate::idempotency::LedgerKeyHeader), request_body = CheckoutIn,
    responses((status = 201, body = Envelope<CheckoutOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn create_stripe_checkout(
    State(st): State<AppState>,
    me: Require<perm::WalletTransfer>,
    headers: HeaderMap,
    Json(input): Json<CheckoutIn>,
) -> Result<Response> {
    let cents = money::amount("amount", &input.amount)?;
    let key =
        ledger::key_of(&headers, input.idempotency_key.as_deref())?.map(|k| Key::new(k, &format!("checkout\n{cents}")));
    if let Some(answer) = earlier(&st, &me.user.user_id, key.as_ref()).await? {
        return Ok(answer);
    }
    topup_bounds(&st, "amount", cents)?;
    let client = stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
    let id = db::new_id();
    let new = intents::NewIntent {
        id: &id,
        user_id: &me.user.user_id,
        provider: "stripe",
        flow: "checkout",
        amount_cents: cents,
        reason: "Wallet top-up",
        payment_method_id: None,
        idem_key: key.as_ref().map(|k| k.key.as_str()),
        request_hash: key.as_ref().map(|k| k.hash.as_slice()),
    };
    if let Some(answer) = claim(&st, &new).await? {
        return Ok(answer);
    }
    let row = intents::get(&st.db, &me.user.user_id, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    start(&st, &client, &row).await
}

/// Process a payment
///
/// Charges your default payment method (a card saved with Stripe: `details.stripe_payment_method`)
/// `amount` dollars at once; the wallet is credited when Stripe's webhook confirms it. 412
/// `payment_method_required` without an active default card; 402 `payment_refused` when the card
/// is declined; 412 `payment_provider_not_configured` without Stripe settings. Poll
/// `GET /wallet/payments/{id}`.
#[utoipa::path(post, path = "/wallet/payments/", tag = "wallet", security(("bearer" = [])),
    params(crate::idempotency::LedgerKeyHeader), request_body = PaymentIn,
    responses((status = 201, body = Envelope<PaymentIntentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn create_payment(
    State(st): State<AppState>,
    me: Require<perm::WalletTransfer>,
    headers: HeaderMap,
    Json(input): Json<PaymentIn>,
) -> Result<Response> {
    let cents = money::amount("amount", &input.amount)?;
    if let Some(parts) = &input.credit_distribution {
        let mut sum = 0i64;
        for (i, p) in parts.iter().enumerate() {
            if p.r#type != "general" {
                return Err(ApiError::invalid(&format!("credit_distribution[{i}].type"), "must be general"));
            }
            sum += money::amount(&format!("credit_distribution[{i}].amount"), &p.amount)?;
        }
        if sum != cents {
            return Err(ApiError::invalid("credit_distribution", "the parts must add up to amount"));
        }
    }
    let reason = input.reason.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or("Wallet top-up");
    if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid("reason", "at most 200 characters, no control characters"));
    }
    let user = &me.user.user_id;
    let key = ledger::key_of(&headers, None)?.map(|k| Key::new(k, &format!("payment\n{cents}")));
    if let Some(answer) = earlier(&st, user, key.as_ref()).await? {
        return Ok(answer);
    }
    topup_bounds(&st, "amount", cents)?;
    let client = stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
    let method = db::payment_methods::list(&st.db, user)
        .await?
        .into_iter()
        .find(|m| m.is_default && m.status == "active" && m.details.get("stripe_payment_method").is_some())
        .ok_or_else(|| {
            ApiError::precondition(
                "payment_method_required",
                "Make a card saved with Stripe your default payment method first",
            )
        })?;
    let id = db::new_id();
    let new = intents::NewIntent {
        id: &id,
        user_id: user,
        provider: "stripe",
        flow: "payment",
        amount_cents: cents,
        reason,
        payment_method_id: Some(&method.payment_method_id),
        idem_key: key.as_ref().map(|k| k.key.as_str()),
        request_hash: key.as_ref().map(|k| k.hash.as_slice()),
    };
    if let Some(answer) = claim(&st, &new).await? {
        return Ok(answer);
    }
    let row = intents::get(&st.db, user, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    start(&st, &client, &row).await
}

/// Get payment status
///
/// One of your payments or top-ups (any provider): `completed` once credited.
#[utoipa::path(get, path = "/wallet/payments/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment (intent) ID")),
    responses((status = 200, body = Envelope<PaymentIntentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_payment(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentIntentOut>> {
    let id = path_id(&id, intent_not_found)?;
    let row = intents::get(&st.db, &me.user.user_id, id).await?.ok_or_else(intent_not_found)?;
    Ok(ApiOk::new("Payment", PaymentIntentOut::from(&row)))
}

async fn list_of(st: &AppState, user: &str, provider: &str, q: &OffsetQuery) -> Result<PaymentIntentListOut> {
    let limit = q.limit.unwrap_or(20);
    let offset = q.offset.unwrap_or(0);
    let mut errors = Vec::new();
    if !(1..=100).contains(&limit) {
        errors.push(FieldError::new("limit", "must be between 1 and 100"));
    }
    if !(0..=9_007_199_254_740_991).contains(&offset) {
        errors.push(FieldError::new("offset", "must be 0 or more"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (rows, total) = intents::list(&st.db, user, provider, limit, offset).await?;
    Ok(PaymentIntentListOut { intents: rows.iter().map(PaymentIntentOut::from).collect(), total })
}

async fn one_of(st: &AppState, user: &str, provider: &str, id: &str) -> Result<PaymentIntentOut> {
    let id = path_id(id, intent_not_found)?;
    let row = intents::get(&st.db, user, id).await?.filter(|r| r.provider == provider).ok_or_else(intent_not_found)?;
    Ok(PaymentIntentOut::from(&row))
}

/// List card payment intents
///
/// Your Stripe intents (checkouts and card payments), newest first.
#[utoipa::path(get, path = "/wallet/payments/stripe/intents", tag = "wallet", security(("bearer" = [])), params(OffsetQuery),
    responses((status = 200, body = Envelope<PaymentIntentListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn list_stripe_intents(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Query(q): Query<OffsetQuery>,
) -> Result<ApiOk<PaymentIntentListOut>> {
    Ok(ApiOk::new("Card payment intents", list_of(&st, &me.user.user_id, "stripe", &q).await?))
}

/// Get a card payment intent
///
/// Only your own; clients poll it after the checkout redirect.
#[utoipa::path(get, path = "/wallet/payments/stripe/intents/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Intent ID")),
    responses((status = 200, body = Envelope<PaymentIntentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_stripe_intent(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentIntentOut>> {
    Ok(ApiOk::new("Card payment intent", one_of(&st, &me.user.user_id, "stripe", &id).await?))
}

/// Start a crypto payment (hosted invoice)
///
/// A second provider behind the same intents. No crypto provider is configured on this server
/// yet: 412 `payment_provider_not_configured`, nothing stored.
#[utoipa::path(post, path = "/wallet/payments/crypto/invoice", tag = "wallet", security(("bearer" = [])),
    request_body = CheckoutIn,
    responses((status = 201, body = Envelope<super::dto::CryptoInvoiceOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn create_crypto_invoice(
    State(st): State<AppState>,
    _me: Require<perm::WalletTransfer>,
    Json(input): Json<CheckoutIn>,
) -> Result<ApiOk<super::dto::CryptoInvoiceOut>> {
    topup_bounds(&st, "amount", money::amount("amount", &input.amount)?)?;
    Err(not_configured("Crypto payments"))
}

/// List crypto payment intents
///
/// Your crypto intents, newest first.
#[utoipa::path(get, path = "/wallet/payments/crypto/intents", tag = "wallet", security(("bearer" = [])), params(OffsetQuery),
    responses((status = 200, body = Envelope<PaymentIntentListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn list_crypto_intents(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Query(q): Query<OffsetQuery>,
) -> Result<ApiOk<PaymentIntentListOut>> {
    Ok(ApiOk::new("Crypto payment intents", list_of(&st, &me.user.user_id, "nowpayments", &q).await?))
}

/// Get a crypto payment intent
#[utoipa::path(get, path = "/wallet/payments/crypto/intents/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Intent ID")),
    responses((status = 200, body = Envelope<PaymentIntentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_crypto_intent(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentIntentOut>> {
    Ok(ApiOk::new("Crypto payment intent", one_of(&st, &me.user.user_id, "nowpayments", &id).await?))
}

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
    request_body(content = Object, description = "A Stripe event, as Stripe sends it"),
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
    if intent.status == "completed" {
        tx.commit().await?;
        return Ok("already_credited");
    }
    match means {
        Means::Credit => {}
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
        meta: serde_json::json!({"intent_id": intent.intent_id, "provider": "stripe", "event_id": event.id}),
    };
    let txn_id = match ledger::record(&mut tx, &m).await? {
        ledger::Recorded::New { txn_id, .. } => txn_id,
        ledger::Recorded::Replay(prior) => prior.txn_id,
    };
    // The provider's payment, which refunds and disputes will name.
    let payment = match event.kind.as_str() {
        "payment_intent.succeeded" => o.get("id"),
        _ => o.get("payment_intent"),
    }
    .and_then(|v| v.as_str());
    intents::completed(&mut tx, &intent.intent_id, &txn_id, payment).await?;
    tx.commit().await?;
    Ok("credited")
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
