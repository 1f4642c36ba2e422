//! The `wallet` tag: balances, the ledger's transactions and fees, transfers to AI credits,
//! payment methods, invoices, the GitHub bonus and top-ups (card and crypto). Money moves through `crate::ledger` only.
//!
//! Access: reading balances, transactions and fees needs `financial.wallet.read`; a transfer
//! `financial.wallet.transfer`; payment methods `financial.billing.read` to read and
//! `financial.billing.manage_payment_methods` to change; invoices `financial.billing.read`,
//! their PDF `financial.billing.download_invoices`. Another user's object is a 404.

mod balances;
mod bonus;
mod crypto;
pub(crate) mod dto;
mod invoices;
mod methods;
mod payments;
mod transactions;
mod transfers;
mod webhooks;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{api::fields::path_id, state::AppState};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(balances::get_balances))
        .routes(routes!(balances::get_ai_balance))
        .routes(routes!(balances::get_general_balance))
        .routes(routes!(balances::get_payment_availability))
        .routes(routes!(transactions::list_transactions))
        .routes(routes!(transactions::get_transaction))
        .routes(routes!(transfers::create_transfer))
        .routes(routes!(transfers::list_ai_fees))
        .routes(routes!(methods::create_payment_method, methods::list_payment_methods))
        .routes(routes!(methods::get_payment_method, methods::update_payment_method, methods::delete_payment_method))
        .routes(routes!(methods::set_default_payment_method))
        .routes(routes!(invoices::generate_invoice))
        .routes(routes!(invoices::list_invoices))
        .routes(routes!(invoices::get_invoice))
        .routes(routes!(invoices::get_invoice_pdf))
        .routes(routes!(bonus::get_github_bonus))
        .routes(routes!(bonus::claim_github_bonus))
        .routes(routes!(payments::create_stripe_checkout))
        .routes(routes!(payments::create_payment))
        .routes(routes!(payments::get_payment))
        .routes(routes!(payments::list_stripe_intents))
        .routes(routes!(payments::get_stripe_intent))
        .routes(routes!(crypto::create_crypto_invoice))
        .routes(routes!(crypto::list_crypto_intents))
        .routes(routes!(crypto::get_crypto_intent))
        .routes(routes!(webhooks::stripe_webhook))
        .routes(routes!(webhooks::nowpayments_webhook))
}
