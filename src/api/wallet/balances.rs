//! Balances and what top-ups are possible.

use axum::extract::State;

use super::dto::{AiBalanceOut, AvailabilityOut, BalancesOut, GeneralBalanceOut, ProviderOut};
use crate::{
    auth::{access::Require, permissions::perm, principal::Principal},
    db::{self, ledger::Balances},
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    money::dollars,
    state::AppState,
};

fn ai(b: &Balances) -> AiBalanceOut {
    AiBalanceOut { ai_limit: dollars(b.ai_credited), ai_usage: dollars(b.ai_spent), ai_remaining: dollars(b.ai) }
}

/// Get aggregate balances (general + AI)
///
/// The general balance and the AI credits: `ai_limit` is every credit ever transferred in,
/// `ai_usage` what was spent of it, `ai_remaining` what is left. Dollars, two decimals.
#[utoipa::path(get, path = "/wallet/balances", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<BalancesOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_balances(State(st): State<AppState>, me: Require<perm::WalletRead>) -> Result<ApiOk<BalancesOut>> {
    let b = db::ledger::balances(&st.db, &me.user.user_id).await?;
    let a = ai(&b);
    let out = BalancesOut {
        general_balance: dollars(b.general),
        ai_limit: a.ai_limit,
        ai_usage: a.ai_usage,
        ai_remaining: a.ai_remaining,
        ai_usage_status: "live",
    };
    Ok(ApiOk::new("Balances", out))
}

/// Get AI balance (limit, usage, remaining)
#[utoipa::path(get, path = "/wallet/balances/ai", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<AiBalanceOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_ai_balance(State(st): State<AppState>, me: Require<perm::WalletRead>) -> Result<ApiOk<AiBalanceOut>> {
    let b = db::ledger::balances(&st.db, &me.user.user_id).await?;
    Ok(ApiOk::new("AI balance", ai(&b)))
}

/// Get general balance only
///
/// The general account (made on first use).
#[utoipa::path(get, path = "/wallet/balances/general", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<GeneralBalanceOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_general_balance(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
) -> Result<ApiOk<GeneralBalanceOut>> {
    let mut b = db::ledger::balances(&st.db, &me.user.user_id).await?;
    if b.general_id.is_none() {
        let mut conn = st.db.acquire().await?;
        db::ledger::user_accounts(&mut conn, &me.user.user_id).await?;
        b = db::ledger::balances(&mut *conn, &me.user.user_id).await?;
    }
    let now = chrono::Utc::now();
    let out = GeneralBalanceOut {
        id: b.general_id.unwrap_or_default(),
        user_id: me.user.user_id.clone(),
        general_balance: dollars(b.general),
        created_at: db::ts(b.created_at.unwrap_or(now)),
        updated_at: db::ts(b.updated_at.unwrap_or(now)),
    };
    Ok(ApiOk::new("General balance", out))
}

/// Get payment availability
///
/// Which top-up providers are usable (enabled and configured), one top-up's bounds in dollars,
/// and the fee on transfers to AI credits. No secrets.
#[utoipa::path(get, path = "/wallet/payment-availability", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<AvailabilityOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_payment_availability(State(st): State<AppState>, _me: Principal) -> Result<ApiOk<AvailabilityOut>> {
    let m = &st.cfg.money;
    let bounds = |enabled| ProviderOut {
        enabled,
        min_usd: m.topup_min_cents as f64 / 100.0,
        max_usd: m.topup_max_cents as f64 / 100.0,
    };
    let out = AvailabilityOut {
        stripe: bounds(m.stripe_configured()),
        nowpayments: bounds(m.nowpayments_configured()),
        ai_credit_fee_bps: m.ai_fee_bps,
    };
    Ok(ApiOk::new("Payment availability", out))
}
