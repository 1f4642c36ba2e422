//! Top-ups: Stripe Checkout (a hosted page), a payment with the default saved card, and the
//! intents they make. The intents' machinery (a caller's key claimed once, the provider asked,
//! the first answer kept and given again) is shared with the crypto provider (`super::crypto`);
//! only a provider's verified webhook credits (`super::webhooks`).

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};
use chrono::Utc;

use super::{
    dto::{CheckoutIn, CheckoutOut, CryptoInvoiceOut, OffsetQuery, PaymentIn, PaymentIntentListOut, PaymentIntentOut},
    path_id,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::{self, payment_intents as intents, payment_intents::IntentRow},
    envelope::{json_response, ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Json, Path, Query},
    ledger::{self, Key},
    money,
    payments::{self, nowpayments, stripe, ProviderError},
    state::AppState,
};

pub fn intent_not_found() -> ApiError {
    ApiError::not_found("payment_intent_not_found", "Payment not found")
}

pub(super) fn not_configured(what: &str) -> ApiError {
    ApiError::precondition("payment_provider_not_configured", format!("{what} are not configured on this server"))
}

/// A top-up provider: its name in `payment_intent.provider`, and whether this server has its
/// settings.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Provider {
    Stripe,
    NowPayments,
}

impl Provider {
    pub(super) fn name(self) -> &'static str {
        match self {
            Provider::Stripe => "stripe",
            Provider::NowPayments => "nowpayments",
        }
    }

    fn of(row: &IntentRow) -> Self {
        match row.provider.as_str() {
            "nowpayments" => Provider::NowPayments,
            _ => Provider::Stripe,
        }
    }

    /// 412 `payment_provider_not_configured` unless the provider's settings are all there.
    pub(super) fn require(self, st: &AppState) -> Result<()> {
        match self {
            Provider::Stripe if st.cfg.money.stripe_configured() => Ok(()),
            Provider::NowPayments if st.cfg.money.nowpayments_configured() => Ok(()),
            Provider::Stripe => Err(not_configured("Card payments")),
            Provider::NowPayments => Err(not_configured("Crypto payments")),
        }
    }
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

fn provider_failed(e: ProviderError) -> ApiError {
    match e {
        ProviderError::Refused(m) => {
            tracing::warn!(error = %m, "the payment provider refused a payment");
            ApiError::payment_required("payment_refused", format!("The payment was refused: {m}"))
        }
        ProviderError::Unavailable(m) => {
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
        "creating" if prior.failure.is_some() => start(st, &prior).await,
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
    if Provider::of(row) == Provider::NowPayments {
        let out = CryptoInvoiceOut { invoice_url: row.redirect_url.clone().unwrap_or_default(), intent };
        serde_json::json!({"statusCode": 201, "message": "Crypto invoice created", "data": out})
    } else if row.flow == "checkout" {
        let out = CheckoutOut { checkout_url: row.redirect_url.clone().unwrap_or_default(), intent };
        serde_json::json!({"statusCode": 201, "message": "Checkout started", "data": out})
    } else {
        serde_json::json!({"statusCode": 201, "message": "Payment started", "data": intent})
    }
}

/// The intent the caller's key already names, if any (looked up before the bounds and settings
/// of today, so a retry of what was done gets its answer).
async fn earlier(st: &AppState, provider: Provider, user: &str, key: Option<&Key>) -> Result<Option<Response>> {
    let Some(k) = key else { return Ok(None) };
    match intents::by_key(&st.db, user, provider.name(), &k.key).await? {
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

/// Where a hosted page sends the payer back: (after paying, after giving up). The base is
/// `HOODY_STRIPE_RETURN_URL` or `<public URL>/wallet`, for every provider.
fn return_urls(st: &AppState, intent_id: &str) -> (String, String) {
    let base = st.cfg.money.stripe_return_url.clone().unwrap_or_else(|| format!("{}/wallet", st.cfg.public_url));
    let sep = if base.contains('?') { '&' } else { '?' };
    (
        format!("{base}{sep}payment=success&intent={intent_id}"),
        format!("{base}{sep}payment=cancelled&intent={intent_id}"),
    )
}

/// Ask the provider to take an intent in `creating` (a new one, or one it could not be reached
/// for), record what it said, and keep the answer.
async fn start(st: &AppState, row: &IntentRow) -> Result<Response> {
    let id = &row.intent_id;
    let card_client =
        || stripe::Client::new(payments::http(), &st.cfg.money).ok_or_else(|| not_configured("Card payments"));
    let started = match (Provider::of(row), row.flow.as_str()) {
        (Provider::NowPayments, _) => {
            let client = nowpayments::Client::new(payments::http(), &st.cfg.money)
                .ok_or_else(|| not_configured("Crypto payments"))?;
            let (success, cancel) = return_urls(st, id);
            let callback = format!("{}/api/v1/wallet/webhooks/nowpayments", st.cfg.public_url);
            let new = nowpayments::NewInvoice {
                price_amount: money::dollars_number(row.amount_cents),
                price_currency: "usd",
                order_id: id,
                order_description: &row.reason,
                ipn_callback_url: &callback,
                success_url: Some(&success),
                cancel_url: Some(&cancel),
            };
            client.invoice(&new).await.map(|inv| ("pending", inv.id, Some(inv.invoice_url), None))
        }
        (Provider::Stripe, "checkout") => {
            let (success, cancel) = return_urls(st, id);
            card_client()?.checkout_session(id, row.amount_cents, &success, &cancel).await.map(|s| {
                let expires = Utc::now() + chrono::Duration::hours(24);
                ("pending", s.id, Some(s.url.unwrap_or_default()), Some(expires))
            })
        }
        (Provider::Stripe, _) => {
            let client = card_client()?;
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
        Err(e @ ProviderError::Refused(_)) => {
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
        Err(ProviderError::Refused(_)) => return Err(ApiError::invalid(field, "is not a payment method Stripe knows")),
        Err(e) => return Err(provider_failed(e)),
    };
    match found.customer {
        Some(c) if c == customer => Ok(()),
        Some(_) => Err(ApiError::invalid(field, "belongs to another customer")),
        None => match client.attach(&found.id, &customer).await {
            Ok(_) => Ok(()),
            Err(ProviderError::Refused(m)) => Err(ApiError::invalid(field, format!("Stripe refused it: {m}"))),
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
    hosted(&st, Provider::Stripe, &me.user.user_id, &headers, &input).await
}

/// A top-up on the provider's hosted page (a Stripe Checkout, a NOWPayments invoice): the
/// caller's key answered as before, else the bounds and the provider's settings checked (412,
/// nothing stored), the intent claimed, and the provider asked.
pub(super) async fn hosted(
    st: &AppState,
    provider: Provider,
    user: &str,
    headers: &HeaderMap,
    input: &CheckoutIn,
) -> Result<Response> {
    let cents = money::amount("amount", &input.amount)?;
    let what = match provider {
        Provider::Stripe => format!("checkout\n{cents}"),
        Provider::NowPayments => format!("invoice\n{cents}"),
    };
    let key = ledger::key_of(headers, input.idempotency_key.as_deref())?.map(|k| Key::new(k, &what));
    if let Some(answer) = earlier(st, provider, user, key.as_ref()).await? {
        return Ok(answer);
    }
    topup_bounds(st, "amount", cents)?;
    provider.require(st)?;
    let id = db::new_id();
    let new = intents::NewIntent {
        id: &id,
        user_id: user,
        provider: provider.name(),
        flow: "checkout",
        amount_cents: cents,
        reason: "Wallet top-up",
        payment_method_id: None,
        idem_key: key.as_ref().map(|k| k.key.as_str()),
        request_hash: key.as_ref().map(|k| k.hash.as_slice()),
    };
    if let Some(answer) = claim(st, &new).await? {
        return Ok(answer);
    }
    let row = intents::get(&st.db, user, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    start(st, &row).await
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
    if let Some(answer) = earlier(&st, Provider::Stripe, user, key.as_ref()).await? {
        return Ok(answer);
    }
    topup_bounds(&st, "amount", cents)?;
    Provider::Stripe.require(&st)?;
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
    start(&st, &row).await
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

pub(super) async fn list_of(
    st: &AppState,
    user: &str,
    provider: &str,
    q: &OffsetQuery,
) -> Result<PaymentIntentListOut> {
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

pub(super) async fn one_of(st: &AppState, user: &str, provider: &str, id: &str) -> Result<PaymentIntentOut> {
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
