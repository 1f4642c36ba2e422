//! The wallet's bodies. Strings are dollars with two decimals (`"10.00"`); a numeric `amount` is
//! dollars as a JSON number with at most two decimals.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    api::list::{Pagination, SortOrder},
    db::{self, ledger::UserTxn},
    money,
};

#[derive(Debug, Serialize, ToSchema)]
pub struct BalancesOut {
    pub general_balance: String,
    pub ai_limit: String,
    pub ai_usage: String,
    pub ai_remaining: String,
    /// `live`: from the ledger, as of this request.
    pub ai_usage_status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AiBalanceOut {
    pub ai_limit: String,
    pub ai_usage: String,
    pub ai_remaining: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GeneralBalanceOut {
    /// The general account's id.
    pub id: String,
    pub user_id: String,
    pub general_balance: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderOut {
    /// Usable: both enabled and configured.
    pub enabled: bool,
    pub min_usd: f64,
    pub max_usd: f64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AvailabilityOut {
    pub stripe: ProviderOut,
    pub nowpayments: ProviderOut,
    /// The fee on transfers to AI credits, in basis points.
    pub ai_credit_fee_bps: u32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "10.00", "expected_fee_bps": 0}))]
pub struct TransferIn {
    /// Dollars, a strict decimal string with at most two decimals (`"10"`, `"10.00"`).
    #[schema(example = "10.00")]
    pub amount: String,
    /// Makes the transfer once-only (the same as the `Idempotency-Key` header).
    pub idempotency_key: Option<String>,
    /// The fee (basis points) the caller was shown; when it is no longer the fee: 409, nothing moved.
    #[schema(minimum = 0, maximum = 9999)]
    pub expected_fee_bps: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransferOut {
    pub gross_transferred: String,
    pub net_ai_credit: String,
    pub fee: String,
    pub general_balance: String,
    pub ai_balance: String,
    /// Always false here: AI credits are this ledger's own account, with no external key.
    pub key_created: bool,
    pub limit_sync_pending: bool,
    /// True when this is the answer to an earlier request with the same idempotency key.
    pub replayed: bool,
    /// The ledger transaction.
    pub transaction_id: String,
}

/// A ledger transaction as its user sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionOut {
    pub id: String,
    /// topup, transfer, rent, rent_extend, image_purchase, bonus, credit, refund
    pub transaction_type: String,
    pub status: String,
    /// What was asked for, in dollars (a transfer's gross).
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub amount: i64,
    pub currency: &'static str,
    pub reason: String,
    /// How it changed the general balance (signed dollars, two decimals).
    pub general_change: String,
    /// How it changed the AI credits.
    pub ai_change: String,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserTxn> for TransactionOut {
    fn from(t: &UserTxn) -> Self {
        Self {
            id: t.txn_id.clone(),
            transaction_type: t.kind.clone(),
            status: t.status.clone(),
            amount: t.amount_cents,
            currency: "USD",
            reason: t.reason.clone(),
            general_change: money::dollars(t.general_delta),
            ai_change: money::dollars(t.ai_delta),
            created_at: db::ts(t.created_at),
            updated_at: db::ts(t.updated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TransactionListOut {
    pub transactions: Vec<TransactionOut>,
    pub pagination: Pagination,
}

crate::api::list::sort_keys!(
    /// What the transactions list sorts by.
    TxnSort { Id = "id" => "t.txn_id", Type = "transaction_type" => "t.kind", Status = "status" => "t.status",
              Amount = "amount" => "t.amount_cents", CreatedAt = "created_at" => "t.created_at",
              UpdatedAt = "updated_at" => "t.updated_at" } default "t.created_at"
);

crate::api::list::sort_keys!(
    /// What the fee history sorts by.
    FeeSort { CreatedAt = "created_at" => "p.created_at", Amount = "amount" => "p.amount_cents",
              TransactionId = "transaction_id" => "p.txn_id" } default "p.created_at"
);

#[derive(Debug, Serialize, ToSchema)]
pub struct FeeTxnOut {
    pub id: String,
    pub reason: String,
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeeOut {
    pub id: String,
    pub transaction_id: String,
    pub amount: String,
    pub created_at: String,
    pub transaction: FeeTxnOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FeeListOut {
    pub fees: Vec<FeeOut>,
    pub pagination: Pagination,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentMethodOut {
    pub id: String,
    pub user_id: String,
    /// `card` (a card saved with the payment provider: `details.stripe_payment_method`) or `other`.
    pub r#type: String,
    pub name: String,
    /// `active` or `inactive`.
    pub status: String,
    pub details: serde_json::Value,
    pub is_default: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&db::payment_methods::MethodRow> for PaymentMethodOut {
    fn from(m: &db::payment_methods::MethodRow) -> Self {
        Self {
            id: m.payment_method_id.clone(),
            user_id: m.user_id.clone(),
            r#type: m.r#type.clone(),
            name: m.name.clone(),
            status: m.status.clone(),
            details: m.details.clone(),
            is_default: m.is_default,
            created_at: db::ts(m.created_at),
            updated_at: db::ts(m.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "Visa ending 4242",
    "details": {"stripe_payment_method": "pm_1PqR2sT3uV4wX5yZ"},
    "is_default": true
}))]
pub struct PaymentMethodIn {
    /// 1–100 characters.
    #[schema(example = "Visa ending 4242")]
    pub name: String,
    /// What identifies the method with its provider (`stripe_payment_method: "pm_…"` for a card
    /// saved with Stripe). At most 8 KB; never card numbers.
    pub details: Option<serde_json::Value>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum MethodStatus {
    Active,
    Inactive,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"is_default": true}))]
pub struct PaymentMethodPatch {
    pub details: Option<serde_json::Value>,
    pub status: Option<MethodStatus>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceCreatedOut {
    pub invoice_id: String,
    pub invoice_number: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceTxnOut {
    pub id: String,
    pub transaction_type: String,
    pub status: String,
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub amount: i64,
    pub currency: &'static str,
    pub created_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceOut {
    pub id: String,
    pub user_id: String,
    pub transaction_id: String,
    pub invoice_number: String,
    pub status: String,
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub amount: i64,
    pub currency: String,
    /// Only on a single invoice's read.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub billing_details: Option<Option<serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub items: Option<Option<serde_json::Value>>,
    pub issue_date: String,
    pub due_date: String,
    pub paid_date: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub transaction: InvoiceTxnOut,
}

impl InvoiceOut {
    pub fn new(r: &db::invoices::InvoiceRow, detailed: bool) -> Self {
        Self {
            id: r.invoice_id.clone(),
            user_id: r.user_id.clone(),
            transaction_id: r.txn_id.clone(),
            invoice_number: r.invoice_number.clone(),
            status: r.status.clone(),
            amount: r.amount_cents,
            currency: r.currency.clone(),
            billing_details: detailed.then(|| r.billing_details.clone()),
            items: detailed.then(|| r.items.clone()),
            issue_date: db::ts(r.issue_date),
            due_date: db::ts(r.due_date),
            paid_date: r.paid_date.map(db::ts),
            created_at: db::ts(r.created_at),
            updated_at: db::ts(r.updated_at),
            transaction: InvoiceTxnOut {
                id: r.txn_id.clone(),
                transaction_type: r.txn_kind.clone(),
                status: r.txn_status.clone(),
                amount: r.txn_amount_cents,
                currency: "USD",
                created_at: db::ts(r.txn_created_at),
            },
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InvoiceListOut {
    pub invoices: Vec<InvoiceOut>,
    pub pagination: Pagination,
}

/// The invoice list's query: page/limit, a free-text `sort_by` (unknown values sort by
/// `created_at`), `sort_order`, and `filter`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// Page number, from 1.
    #[param(minimum = 1)]
    pub page: Option<i64>,
    /// Invoices per page, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// One of id, invoice_number, status, amount, currency, issue_date, due_date, paid_date,
    /// created_at, updated_at, user_id, transaction_id; anything else sorts by created_at.
    pub sort_by: Option<String>,
    /// asc or desc (default desc).
    #[param(inline)]
    pub sort_order: Option<SortOrder>,
    /// A JSON object over the sortable fields: `{"status":"paid"}`, `{"amount":{"gte":10}}`.
    /// Operators eq, ne, gt, gte, lt, lte, like, in; unknown fields or operators → 400.
    pub filter: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BonusClaimOut {
    pub amount_usd: String,
    pub at: Option<String>,
    pub transaction_id: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BonusOut {
    pub enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_usd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_linked: Option<bool>,
    /// Present (possibly null) while the offer runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_username: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claimed: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity_claimed_elsewhere: Option<bool>,
    /// Your claim, if any (also shown when the offer has ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claim: Option<Option<BonusClaimOut>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BonusClaimResultOut {
    /// granted, already_claimed, identity_claimed_elsewhere, not_linked, offer_ended, retry, error
    pub result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_usd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    pub claim: Option<BonusClaimOut>,
}

/// A top-up through a provider.
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntentOut {
    pub id: String,
    /// `stripe` or `nowpayments`.
    pub provider: String,
    /// creating, pending, processing, completed, failed, expired, cancelled, admin_review
    pub status: String,
    #[serde(serialize_with = "crate::money::as_number")]
    #[schema(value_type = f64)]
    pub amount: i64,
    pub currency: String,
    /// The provider's hosted page, while it is open.
    pub redirect_url: Option<String>,
    pub credited_at: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&db::payment_intents::IntentRow> for PaymentIntentOut {
    fn from(r: &db::payment_intents::IntentRow) -> Self {
        Self {
            id: r.intent_id.clone(),
            provider: r.provider.clone(),
            status: r.status.clone(),
            amount: r.amount_cents,
            currency: r.currency.clone(),
            redirect_url: r.redirect_url.clone(),
            credited_at: r.credited_at.map(db::ts),
            expires_at: r.expires_at.map(db::ts),
            created_at: db::ts(r.created_at),
            updated_at: db::ts(r.updated_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "25.00"}))]
pub struct CheckoutIn {
    /// Dollars, a strict decimal string (`"25"`, `"25.00"`), within the top-up bounds.
    #[schema(example = "25.00")]
    pub amount: String,
    /// Repeats with the key return the original intent (the same as the `Idempotency-Key` header).
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckoutOut {
    pub intent: PaymentIntentOut,
    /// Stripe's hosted payment page: send the payer there.
    pub checkout_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CryptoInvoiceOut {
    pub intent: PaymentIntentOut,
    /// NOWPayments' hosted invoice: send the payer there.
    pub invoice_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentIntentListOut {
    pub intents: Vec<PaymentIntentOut>,
    pub total: i64,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OffsetQuery {
    /// 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// Intents to skip (default 0).
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditPart {
    /// Only `general` today.
    pub r#type: String,
    pub amount: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"amount": "10.00", "reason": "Top-up"}))]
pub struct PaymentIn {
    /// Dollars, a strict decimal string, within the top-up bounds.
    #[schema(example = "10.00")]
    pub amount: String,
    /// Informational; each part's amount must be a strict dollar string, and they must add up
    /// to `amount`.
    pub credit_distribution: Option<Vec<CreditPart>>,
    /// At most 200 characters.
    pub reason: Option<String>,
}
