//! The user's ledger transactions.

use axum::extract::State;

use super::{
    dto::{TransactionListOut, TransactionOut, TxnSort},
    path_id,
};
use crate::{
    api::list::{self, ListParams},
    auth::{access::Require, permissions::perm},
    db,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Path,
    state::AppState,
};

pub fn transaction_not_found() -> ApiError {
    ApiError::not_found("transaction_not_found", "Transaction not found")
}

/// List transactions
///
/// Every movement of your money, newest first by default: top-ups, transfers, rentals,
/// purchases, bonuses and credits, each with how it changed your general balance and AI
/// credits. Page/limit shape.
#[utoipa::path(get, path = "/wallet/transactions", tag = "wallet", security(("bearer" = [])),
    params(ListParams<TxnSort>),
    responses((status = 200, body = Envelope<TransactionListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn list_transactions(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    p: ListParams<TxnSort>,
) -> Result<ApiOk<TransactionListOut>> {
    let order = p.order_by();
    let page =
        list::fetch(&p, |limit, offset| db::ledger::user_txns(&st.db, &me.user.user_id, &order, limit, offset)).await?;
    let page = page.map(|t| TransactionOut::from(&t));
    let pagination = page.pagination();
    Ok(ApiOk::new("Transactions", TransactionListOut { transactions: page.items, pagination }))
}

/// Get transaction by ID
#[utoipa::path(get, path = "/wallet/transactions/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction ID")),
    responses((status = 200, body = Envelope<TransactionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.wallet.read"))))]
pub async fn get_transaction(
    State(st): State<AppState>,
    me: Require<perm::WalletRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<TransactionOut>> {
    let id = path_id(&id, transaction_not_found)?;
    let t = db::ledger::user_txn(&st.db, &me.user.user_id, id).await?.ok_or_else(transaction_not_found)?;
    Ok(ApiOk::new("Transaction", TransactionOut::from(&t)))
}
