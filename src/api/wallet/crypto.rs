//! Crypto top-ups: a NOWPayments hosted invoice per intent, behind the same intents as the card
//! top-ups (`super::payments`), credited only by NOWPayments' signed IPN (`super::webhooks`).
//! Without `HOODY_NOWPAYMENTS_API_KEY` and `HOODY_NOWPAYMENTS_IPN_SECRET`: 412
//! `payment_provider_not_configured`, nothing stored.

use axum::{extract::State, http::HeaderMap, response::Response};

use super::{
    dto::{CheckoutIn, CryptoInvoiceOut, OffsetQuery, PaymentIntentListOut, PaymentIntentOut},
    payments::{hosted, list_of, one_of, Provider},
};
use crate::{
    auth::{access::Require, permissions::perm},
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    extract::{Json, Path, Query},
    state::AppState,
};

/// Start a crypto payment (hosted invoice)
///
/// Opens a NOWPayments invoice for `amount` dollars (within the bounds of
/// `GET /wallet/payment-availability`) backed by a new payment intent; send the payer to
/// `invoice_url`, where they choose the coin. The wallet is credited only when NOWPayments' signed
/// IPN says the payment is `finished`, never here. With an idempotency key (header or body) a
/// repeat returns the same answer, byte for byte (409 while the first still runs; 422 for
/// another amount). 502 when NOWPayments cannot be reached (a repeat with the key asks again),
/// 402 `payment_refused` when it refuses. Without NOWPayments settings: 412
/// `payment_provider_not_configured`, nothing stored.
#[utoipa::path(post, path = "/wallet/payments/crypto/invoice", tag = "wallet", security(("bearer" = [])),
    params(crate::idempotency::LedgerKeyHeader), request_body = CheckoutIn,
    responses((status = 201, body = Envelope<CryptoInvoiceOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn create_crypto_invoice(
    State(st): State<AppState>,
    me: Require<perm::WalletTransfer>,
    headers: HeaderMap,
    Json(input): Json<CheckoutIn>,
) -> Result<Response> {
    hosted(&st, Provider::NowPayments, &me.user.user_id, &headers, &input).await
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
    let name = Provider::NowPayments.name();
    Ok(ApiOk::new("Crypto payment intents", list_of(&st, &me.user.user_id, name, &q).await?))
}

/// Get a crypto payment intent
///
/// Only your own; clients poll it after the invoice page: `completed` once credited.
#[utoipa::path(get, path = "/wallet/payments/crypto/intents/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Intent ID")),
    responses((status = 200, body = Envelope<PaymentIntentOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_crypto_intent(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentIntentOut>> {
    let name = Provider::NowPayments.name();
    Ok(ApiOk::new("Crypto payment intent", one_of(&st, &me.user.user_id, name, &id).await?))
}
