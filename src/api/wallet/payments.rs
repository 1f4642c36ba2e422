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

/// A top-up amount: a strict dollar string within the configured bounds.
fn topup_amount(st: &AppState, field: &str, raw: &str) -> Result<i64> {
    let cents = money::amount(field, raw)?;
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

/// What a repeat with a taken key gets: the first answer, or why there is none.
async fn repeat(st: &AppState, prior: &IntentRow, hash: &[u8]) -> Result<Response> {
    if prior.request_hash.as_deref() != Some(hash) {
        return Err(ApiError::invalid("idempotency_key", "This idempotency key was used for a different request"));
    }
    if let Some(answer) = intents::answer(&st.db, &prior.intent_id).await? {
        return Ok(json_response(StatusCode::CREATED, &answer));
    }
    if prior.status == "creating" {
        return Err(ApiError::Busy {
            code: "idempotency_key_in_use",
            message: "The first request with this key is still running".into(),
            retry_after_secs: 1,
        });
    }
    Err(ApiError::conflict("payment_failed", "The first request with this key failed; use a new key"))
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
    repeat(st, &prior, hash).await.map(Some)
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
    let cents = topup_amount(&st, "amount", &input.amount)?;
    let client = stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
    let key =
        ledger::key_of(&headers, input.idempotency_key.as_deref())?.map(|k| Key::new(k, &format!("checkout\n{cents}")));
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
    let return_url = st.cfg.money.stripe_return_url.clone().unwrap_or_else(|| format!("{}/wallet", st.cfg.public_url));
    let session = match client.checkout_session(&id, cents, &return_url).await {
        Ok(s) => s,
        Err(e) => {
            intents::failed(&st.db, &id, &e.to_string()).await?;
            return Err(provider_failed(e));
        }
    };
    let url = session.url.clone().unwrap_or_default();
    let expires = Utc::now() + chrono::Duration::hours(24);
    intents::started(&st.db, &id, "pending", &session.id, Some(&url), Some(expires)).await?;
    let row = intents::get(&st.db, &me.user.user_id, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let out = CheckoutOut { intent: PaymentIntentOut::from(&row), checkout_url: url };
    let body = serde_json::json!({"statusCode": 201, "message": "Checkout started", "data": out});
    intents::keep_answer(&st.db, &id, &body).await?;
    Ok(json_response(StatusCode::CREATED, &body))
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
    let cents = topup_amount(&st, "amount", &input.amount)?;
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
    let reason = input.reason.as_deref().map(str::trim).unwrap_or("Wallet top-up");
    if reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        return Err(ApiError::invalid("reason", "at most 200 characters, no control characters"));
    }
    let client = stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"))?;
    let user = &me.user.user_id;
    let method = db::payment_methods::list(&st.db, user)
        .await?
        .into_iter()
        .find(|m| m.is_default && m.status == "active")
        .ok_or_else(|| {
            ApiError::precondition("payment_method_required", "Add a payment method and make it your default first")
        })?;
    let pm = method.details.get("stripe_payment_method").and_then(|v| v.as_str()).ok_or_else(|| {
        ApiError::precondition("payment_method_required", "Your default payment method is not a card saved with Stripe")
    })?;
    let customer = method.details.get("stripe_customer").and_then(|v| v.as_str());
    let key = ledger::key_of(&headers, None)?
        .map(|k| Key::new(k, &format!("payment\n{cents}\n{}", method.payment_method_id)));
    let id = db::new_id();
    let new = intents::NewIntent {
        id: &id,
        user_id: user,
        provider: "stripe",
        flow: "payment",
        amount_cents: cents,
        reason: if reason.is_empty() { "Wallet top-up" } else { reason },
        payment_method_id: Some(&method.payment_method_id),
        idem_key: key.as_ref().map(|k| k.key.as_str()),
        request_hash: key.as_ref().map(|k| k.hash.as_slice()),
    };
    if let Some(answer) = claim(&st, &new).await? {
        return Ok(answer);
    }
    let pi = match client.charge(&id, cents, pm, customer).await {
        Ok(pi) => pi,
        Err(e) => {
            intents::failed(&st.db, &id, &e.to_string()).await?;
            return Err(provider_failed(e));
        }
    };
    let status = match pi.status.as_str() {
        "succeeded" | "processing" => "processing",
        "requires_action" | "requires_confirmation" => "pending",
        "canceled" => "cancelled",
        _ => "failed",
    };
    intents::started(&st.db, &id, status, &pi.id, None, None).await?;
    let row = intents::get(&st.db, user, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    let body =
        serde_json::json!({"statusCode": 201, "message": "Payment started", "data": PaymentIntentOut::from(&row)});
    intents::keep_answer(&st.db, &id, &body).await?;
    Ok(json_response(StatusCode::CREATED, &body))
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
    topup_amount(&st, "amount", &input.amount)?;
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
/// (`admin_review`), not credited. `payment_intent.payment_failed` marks the intent failed.
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
    let credit = match event.kind.as_str() {
        "checkout.session.completed" => o["payment_status"] == "paid",
        "checkout.session.async_payment_succeeded" | "payment_intent.succeeded" => true,
        "payment_intent.payment_failed" | "checkout.session.expired" | "checkout.session.async_payment_failed" => false,
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
    if !credit {
        if o["payment_status"] == "paid" {
            tx.commit().await?;
            return Ok("ignored");
        }
        let status = if event.kind == "checkout.session.expired" { "expired" } else { "failed" };
        sqlx::query("update payment_intent set status = $2, updated_at = now() where intent_id = $1")
            .bind(&intent.intent_id)
            .bind(status)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok("marked_failed");
    }
    let paid =
        o.get("amount_total").or_else(|| o.get("amount_received")).or_else(|| o.get("amount")).and_then(|v| v.as_i64());
    let currency_ok = o.get("currency").and_then(|v| v.as_str()).is_none_or(|c| c.eq_ignore_ascii_case("usd"));
    if paid != Some(intent.amount_cents) || !currency_ok {
        tracing::warn!(intent = %intent.intent_id, ?paid, expected = intent.amount_cents, "a payment's amount differs from its intent; held for review");
        sqlx::query("update payment_intent set status = 'admin_review', updated_at = now() where intent_id = $1")
            .bind(&intent.intent_id)
            .execute(&mut *tx)
            .await?;
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
    intents::completed(&mut tx, &intent.intent_id, &txn_id).await?;
    tx.commit().await?;
    Ok("credited")
}
