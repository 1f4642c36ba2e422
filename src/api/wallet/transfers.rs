//! Transfers from the general balance to AI credits, and the fees they paid.

use axum::{extract::State, http::HeaderMap};

use super::dto::{FeeListOut, FeeOut, FeeSort, FeeTxnOut, TransferIn, TransferOut};
use crate::{
    api::list::{self, ListParams},
    auth::{access::Require, permissions::perm},
    db,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    ledger::{self, Account, Key, Movement, Recorded},
    money,
    state::AppState,
};

/// Transfer from general balance to AI credits
///
/// Moves `amount` (dollars, a strict string) from the general balance to AI credits, less the
/// fee (`ai_credit_fee_bps` of `GET /wallet/payment-availability`, rounded down to the cent);
/// the answer shows gross, fee and net. One direction only. The balance must cover the gross
/// (402 `insufficient_funds`, nothing moved). With an idempotency key (header or body), a repeat
/// gets the first answer with `replayed: true` and moves nothing.
#[utoipa::path(post, path = "/wallet/transfers", tag = "wallet", security(("bearer" = [])),
    params(crate::idempotency::LedgerKeyHeader), request_body = TransferIn,
    responses((status = 200, body = Envelope<TransferOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.transfer"))))]
pub async fn create_transfer(
    State(st): State<AppState>,
    me: Require<perm::WalletTransfer>,
    headers: HeaderMap,
    Json(input): Json<TransferIn>,
) -> Result<ApiOk<TransferOut>> {
    let gross = money::amount("amount", &input.amount)?;
    let key = ledger::key_of(&headers, input.idempotency_key.as_deref())?
        .map(|k| Key::client(k, &format!("transfer\n{gross}")));
    if let Some(expected) = input.expected_fee_bps {
        if !(0..=9999).contains(&expected) {
            return Err(ApiError::invalid("expected_fee_bps", "must be between 0 and 9999"));
        }
    }
    let bps = st.cfg.money.ai_fee_bps;
    let (fee, net) = match split(gross, bps, input.expected_fee_bps) {
        Ok(split) => split,
        // A retry of a transfer that was made gets its answer, whatever the fee is now. (A
        // repeat that passes these checks is found by the key's unique index when recorded.)
        Err(e) => match ledger::earlier(&st.db, &me.user.user_id, key.as_ref()).await? {
            Some(prior) => return Ok(ApiOk::new("Transfer already made (replayed)", replayed(&prior)?)),
            None => return Err(e),
        },
    };
    let mut postings = vec![(Account::General, -gross), (Account::Ai, net)];
    if fee > 0 {
        postings.push((Account::Platform(db::ledger::FEES), fee));
    }
    let m = Movement {
        user_id: me.user.user_id.clone(),
        kind: "transfer",
        amount_cents: gross,
        reason: "Transfer to AI credits".into(),
        key,
        postings,
        meta: serde_json::json!({"fee_bps": bps, "fee_cents": fee, "net_cents": net}),
    };
    let (st, m) = (&st, &m);
    let out = ledger::retrying(|| async move {
        match ledger::record_alone(&st.db, m).await? {
            Recorded::New { txn_id, balances } => {
                let (general, ai) = balances.ok_or_else(|| anyhow::anyhow!("transfer {txn_id} without balances"))?;
                Ok(TransferOut {
                    gross_transferred: money::dollars(gross),
                    net_ai_credit: money::dollars(net),
                    fee: money::dollars(fee),
                    general_balance: money::dollars(general),
                    ai_balance: money::dollars(ai),
                    key_created: false,
                    limit_sync_pending: false,
                    replayed: false,
                    transaction_id: txn_id,
                })
            }
            Recorded::Replay(prior) => replayed(&prior),
        }
    })
    .await?;
    let message = if out.replayed { "Transfer already made (replayed)" } else { "Transfer completed" };
    Ok(ApiOk::new(message, out))
}

/// Get AI credit fee history
///
/// The platform fees taken from your transactions (transfers to AI credits), with the
/// transaction each came from. Page/limit shape; sorted by `created_at`, `amount` or
/// `transaction_id`.
#[utoipa::path(get, path = "/wallet/ai-fee-history", tag = "wallet", security(("bearer" = [])),
    params(ListParams<FeeSort>),
    responses((status = 200, body = Envelope<FeeListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn list_ai_fees(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    p: ListParams<FeeSort>,
) -> Result<ApiOk<FeeListOut>> {
    let order = p.order_by();
    let page =
        list::fetch(&p, |limit, offset| db::ledger::fees(&st.db, &me.user.user_id, &order, limit, offset)).await?;
    let page = page.map(|f| FeeOut {
        id: f.posting_id.to_string(),
        transaction_id: f.txn_id.clone(),
        amount: money::dollars(f.amount_cents),
        created_at: db::ts(f.created_at),
        transaction: FeeTxnOut { id: f.txn_id, reason: f.reason, amount: money::dollars(f.txn_amount_cents) },
    });
    let pagination = page.pagination();
    Ok(ApiOk::new("AI credit fee history", FeeListOut { fees: page.items, pagination }))
}

/// The fee and the net of a transfer of `gross` at today's fee (`bps`): 409 `fee_changed` when
/// the caller expected another fee, 422 when the fee would take all of it.
fn split(gross: i64, bps: u32, expected: Option<i64>) -> Result<(i64, i64)> {
    if let Some(expected) = expected.filter(|e| *e != i64::from(bps)) {
        return Err(ApiError::conflict(
            "fee_changed",
            format!("The transfer fee is now {bps} basis points, not {expected}; nothing was moved"),
        ));
    }
    let fee = money::fee(gross, bps);
    let net = gross - fee;
    if net <= 0 {
        return Err(ApiError::invalid("amount", "is too small: the fee would take all of it"));
    }
    Ok((fee, net))
}

/// The answer a transfer made earlier with the key gave, marked `replayed`: from what it was
/// recorded with (its amount; `fee_cents`, `net_cents` and the `balances` after it in its meta),
/// or the answer kept whole by transfers made before the balances were kept (`meta.answer`).
fn replayed(prior: &db::ledger::TxnRow) -> Result<TransferOut> {
    let meta = &prior.meta;
    let lost = || anyhow::anyhow!("transfer {} kept no answer", prior.txn_id);
    let mut out: TransferOut = match meta.get("answer") {
        Some(kept) => serde_json::from_value(kept.clone()).map_err(|e| anyhow::anyhow!("{}: {e}", lost()))?,
        None => {
            let cents = |v: &serde_json::Value| v.as_i64().ok_or_else(lost);
            TransferOut {
                gross_transferred: money::dollars(prior.amount_cents),
                net_ai_credit: money::dollars(cents(&meta["net_cents"])?),
                fee: money::dollars(cents(&meta["fee_cents"])?),
                general_balance: money::dollars(cents(&meta["balances"]["general"])?),
                ai_balance: money::dollars(cents(&meta["balances"]["ai"])?),
                key_created: false,
                limit_sync_pending: false,
                replayed: true,
                transaction_id: prior.txn_id.clone(),
            }
        }
    };
    if let (Some(general), Some(ai)) = (meta["balances"]["general"].as_i64(), meta["balances"]["ai"].as_i64()) {
        (out.general_balance, out.ai_balance) = (money::dollars(general), money::dollars(ai));
    }
    out.replayed = true;
    Ok(out)
}
