//! Moving money: one [`Movement`] is one ledger transaction with balanced postings, recorded
//! inside the caller's database transaction (so a rental, a purchase or a claim row commits with
//! its debit or not at all), or, when nothing else is written with it (a transfer), alone in one
//! statement that commits on its own ([`record_alone`]: one round trip).
//!
//! Idempotency lives in the ledger itself: a movement carries the caller's key (the
//! `Idempotency-Key` header or the body's `idempotency_key`) and a hash of what was asked, and
//! the key is unique per user in `ledger_txn`. A second request with the key waits for the first
//! to commit, then gets the first's answer (`replayed`); with another request behind it, 422.
//! Because the key is written in the same transaction as the money, no crash, lost reply or
//! retry can move money twice. The generic `Idempotency-Key` layer does not handle these routes
//! (they document the header with `crate::idempotency::LedgerKeyHeader`).
//!
//! Overdrafts: a debit posting that would take a user account below zero fails on the
//! account's check constraint (the trigger that applies postings takes the row lock), and is
//! answered 402 `insufficient_funds`; no read-then-write.

use std::{future::Future, time::Duration};

use axum::http::HeaderMap;
use rand::Rng;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;

use crate::{
    db::{self, ledger::TxnRow},
    error::{ApiError, Result},
    idempotency,
};

/// Where a posting goes.
#[derive(Debug, Clone, Copy)]
pub enum Account {
    /// The user's general balance.
    General,
    /// The user's AI credits.
    Ai,
    /// One of the platform's accounts (`db::ledger::FEES`, …).
    Platform(&'static str),
}

/// The caller's idempotency key and what it stands for.
#[derive(Debug, Clone)]
pub struct Key {
    pub key: String,
    pub hash: Vec<u8>,
}

impl Key {
    /// A key the server chose (`intent:<id>`, `github-bonus`). `what` describes the request by
    /// meaning (route and checked inputs), so the same request written another way is the same.
    pub fn new(key: String, what: &str) -> Self {
        Self { key, hash: Sha256::digest(what.as_bytes()).to_vec() }
    }

    /// A caller's key: kept under `c/`, so it can never be one of the server's own keys.
    pub fn client(key: String, what: &str) -> Self {
        Self::new(format!("c/{key}"), what)
    }
}

/// One movement of money for a user.
#[derive(Debug, Clone)]
pub struct Movement {
    pub user_id: String,
    /// `ledger_txn.kind`: topup, transfer, rent, rent_extend, image_purchase, bonus, credit, refund.
    pub kind: &'static str,
    pub amount_cents: i64,
    pub reason: String,
    pub key: Option<Key>,
    /// Signed cents per account; they sum to zero.
    pub postings: Vec<(Account, i64)>,
    pub meta: serde_json::Value,
}

/// What recording gave.
#[derive(Debug)]
pub enum Recorded {
    /// Moved now, as `txn_id`; with the user's balances (general, AI) after it when recorded by
    /// [`record_alone`].
    New { txn_id: String, balances: Option<(i64, i64)> },
    /// The key's earlier movement (nothing moved now).
    Replay(TxnRow),
}

/// The key of a money-moving request: the `Idempotency-Key` header or the body's
/// `idempotency_key` (1–255 visible ASCII characters); both given must agree.
pub fn key_of(headers: &HeaderMap, body: Option<&str>) -> Result<Option<String>> {
    let header = match headers.contains_key(idempotency::HEADER) {
        true => Some(idempotency::key_of(headers)?),
        false => None,
    };
    let body = body
        .map(|b| {
            idempotency::valid_key(b)
                .map(str::to_owned)
                .ok_or_else(|| ApiError::invalid("idempotency_key", "must be 1-255 visible ASCII characters"))
        })
        .transpose()?;
    match (header, body) {
        (Some(h), Some(b)) if h != b => {
            Err(ApiError::invalid("idempotency_key", "differs from the Idempotency-Key header; send one key"))
        }
        (h, b) => Ok(h.or(b)),
    }
}

/// Record `m` in the caller's transaction. A debit beyond a balance → 402 (the caller's
/// transaction is then unusable: return the error).
///
/// Round trips: the transaction's insert (which finds a repeated key) and the postings (which
/// resolve the user's accounts themselves and, through their trigger, lock and change them). A movement that only credits the user first makes
/// the user's accounts if they have none; one that debits the user needs them already (without
/// them the balance is zero: 402).
pub async fn record(conn: &mut PgConnection, m: &Movement) -> Result<Recorded> {
    debug_assert_eq!(m.postings.iter().map(|p| p.1).sum::<i64>(), 0, "unbalanced movement");
    let debits_user = m.postings.iter().any(|(a, n)| matches!(a, Account::General | Account::Ai) && *n < 0);
    if !debits_user {
        db::ledger::user_accounts(&mut *conn, &m.user_id).await?;
    }
    let txn_id = db::new_id();
    if !db::ledger::insert_txn(&mut *conn, &new_txn(&txn_id, m)).await? {
        let key = m.key.as_ref().map(|k| k.key.as_str()).unwrap_or_default();
        let prior = db::ledger::by_key(&mut *conn, &m.user_id, key).await?.ok_or(sqlx::Error::RowNotFound)?;
        if prior.request_hash.as_deref() != m.key.as_ref().map(|k| k.hash.as_slice()) {
            return Err(ApiError::invalid("idempotency_key", "This idempotency key was used for a different request"));
        }
        return Ok(Recorded::Replay(prior));
    }
    let postings = posting_ids(m);
    match db::ledger::post(&mut *conn, &txn_id, &m.user_id, &postings).await {
        Err(e) if is_overdraft(&e) => Err(insufficient_funds()),
        // A user account the movement names does not exist: the user has no balance to debit.
        Ok(n) if n < postings.len() as u64 => Err(insufficient_funds()),
        other => other.map(drop).map_err(ApiError::from),
    }?;
    Ok(Recorded::New { txn_id, balances: None })
}

/// A movement of the user's own money that shows the balances after it (a transfer), recorded
/// on its own in one statement and one round trip (`db::ledger::record_alone`), not in a
/// caller's transaction: it locks the user's accounts from the start and keeps (in the
/// movement's meta, under `balances`) and gives what they hold after it. A repeated key gives
/// the earlier movement (422 when that was another request); a debit beyond a balance, or a user
/// without accounts, 402.
pub async fn record_alone(db: &sqlx::PgPool, m: &Movement) -> Result<Recorded> {
    debug_assert_eq!(m.postings.iter().map(|p| p.1).sum::<i64>(), 0, "unbalanced movement");
    let txn_id = db::new_id();
    match db::ledger::record_alone(db, &new_txn(&txn_id, m), &posting_ids(m)).await {
        Err(e) if is_overdraft(&e) => Err(insufficient_funds()),
        Err(e) => Err(e.into()),
        Ok(Some(balances)) => Ok(Recorded::New { txn_id, balances: Some(balances) }),
        // A repeated key, or no accounts to debit.
        Ok(None) => match earlier(db, &m.user_id, m.key.as_ref()).await? {
            Some(prior) => Ok(Recorded::Replay(prior)),
            None => Err(insufficient_funds()),
        },
    }
}

fn new_txn<'a>(txn_id: &'a str, m: &'a Movement) -> db::ledger::NewTxn<'a> {
    db::ledger::NewTxn {
        txn_id,
        user_id: Some(&m.user_id),
        kind: m.kind,
        amount_cents: m.amount_cents,
        reason: &m.reason,
        idem_key: m.key.as_ref().map(|k| k.key.as_str()),
        request_hash: m.key.as_ref().map(|k| k.hash.as_slice()),
        meta: &m.meta,
    }
}

/// The postings as the ledger's statements take them: a user account by its kind, a platform
/// account by its id.
fn posting_ids(m: &Movement) -> Vec<(&str, i64)> {
    m.postings
        .iter()
        .map(|(a, n)| {
            let id = match a {
                Account::General => "general",
                Account::Ai => "ai",
                Account::Platform(p) => p,
            };
            (id, *n)
        })
        .collect()
}

/// The movement an earlier request with this key made, if any (422 when that request was
/// another one). Looked up before anything that depends on the current settings or state (a fee,
/// a price), so a retry of a request that succeeded gets its answer, not a new refusal.
pub async fn earlier(db: &sqlx::PgPool, user_id: &str, key: Option<&Key>) -> Result<Option<TxnRow>> {
    let Some(k) = key else { return Ok(None) };
    let Some(prior) = db::ledger::by_key(db, user_id, &k.key).await? else { return Ok(None) };
    if prior.request_hash.as_deref() != Some(k.hash.as_slice()) {
        return Err(ApiError::invalid("idempotency_key", "This idempotency key was used for a different request"));
    }
    Ok(Some(prior))
}

/// Inside a money transaction, before any other lock: wait until a concurrent request with the
/// same key has ended, then give the movement it made, if any (422 when it was another
/// request). So a repeat that was in flight gets the first answer, never a refusal that the
/// first request's own effect (a server now rented, a stock now spent) would cause.
pub async fn hold_key(conn: &mut PgConnection, user_id: &str, key: Option<&Key>) -> Result<Option<TxnRow>> {
    let Some(k) = key else { return Ok(None) };
    db::ledger::lock_key(&mut *conn, user_id, &k.key).await?;
    let Some(prior) = db::ledger::by_key(&mut *conn, user_id, &k.key).await? else { return Ok(None) };
    if prior.request_hash.as_deref() != Some(k.hash.as_slice()) {
        return Err(ApiError::invalid("idempotency_key", "This idempotency key was used for a different request"));
    }
    Ok(Some(prior))
}

/// A money transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Postgres>;

/// What a once-only payment made: its ledger transaction, the meta it was recorded with, and
/// the answer, which is kept with it for a repeat.
pub struct Paid<T> {
    pub txn_id: String,
    pub meta: serde_json::Value,
    pub out: T,
    /// Written last, after the answer is kept (the event lock is held until the commit).
    pub events: Vec<crate::events::Event>,
}

/// A money-moving request made at most once per key (rent, extend, reserve, image purchase):
/// in one database transaction, retried on deadlocks, it first holds the key (a concurrent
/// repeat waits for this one to end) and replays the movement an earlier request with the key
/// made; otherwise `work` checks, records its movement, writes what goes with it and gives the
/// answer, which is kept in the movement's meta. Returns the answer and whether it is a replay.
/// Every check in `work` comes after the key, so a repeat of a request that was made gets its
/// answer, never a refusal that its own effect (a server now rented, a stock now spent) causes.
///
/// `work` takes the transaction and gives it back with what it made (owned, so that the handler's
/// future stays `Send`); an error drops it, which rolls everything back.
pub async fn once<T, F, Fut>(pool: &sqlx::PgPool, user_id: &str, key: Option<&Key>, work: F) -> Result<(T, bool)>
where
    T: serde::Serialize + serde::de::DeserializeOwned,
    F: Fn(Tx) -> Fut,
    Fut: Future<Output = Result<(Tx, Paid<T>)>>,
{
    let work = &work;
    retrying(|| async move {
        let mut tx = pool.begin().await?;
        if let Some(prior) = hold_key(&mut tx, user_id, key).await? {
            return Ok((kept_answer(&prior)?, true));
        }
        let (mut tx, paid) = work(tx).await?;
        let mut meta = paid.meta;
        meta["answer"] = serde_json::to_value(&paid.out).map_err(anyhow::Error::from)?;
        db::ledger::set_meta(&mut tx, &paid.txn_id, &meta).await?;
        crate::events::publish_all(&mut tx, &paid.events).await?;
        tx.commit().await?;
        Ok((paid.out, false))
    })
    .await
}

/// The answer a movement was kept with (`meta.answer`).
pub fn kept_answer<T: serde::de::DeserializeOwned>(prior: &TxnRow) -> Result<T> {
    Ok(serde_json::from_value(prior.meta["answer"].clone())
        .map_err(|e| anyhow::anyhow!("movement {} kept no answer: {e}", prior.txn_id))?)
}

impl Recorded {
    /// The new movement's id, inside [`once`] (which held the key: no repeat can be found here).
    pub fn new_id(self) -> Result<String> {
        match self {
            Recorded::New { txn_id, .. } => Ok(txn_id),
            Recorded::Replay(prior) => {
                Err(ApiError::Internal(anyhow::anyhow!("key of movement {} found while held", prior.txn_id)))
            }
        }
    }
}

pub fn insufficient_funds() -> ApiError {
    ApiError::payment_required("insufficient_funds", "Your balance does not cover this; top up your wallet first")
}

fn is_overdraft(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.constraint()) == Some("ledger_account_no_negative")
}

/// A deadlock or a serialization failure: the whole transaction may simply run again.
fn is_retryable(e: &ApiError) -> bool {
    matches!(e, ApiError::Db(d) if d.as_database_error().and_then(|x| x.code()).is_some_and(|c| c == "40P01" || c == "40001"))
}

/// Run a money transaction, again (up to 3 more times, with jitter) when Postgres aborted it
/// for a deadlock or a serialization failure; `f` opens and commits its own transaction.
pub async fn retrying<T, F, Fut>(mut f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 0u32;
    loop {
        match f().await {
            Err(e) if attempt < 3 && is_retryable(&e) => {
                attempt += 1;
                let ms = rand::thread_rng().gen_range(5..(25 * u64::from(attempt)));
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            other => return other,
        }
    }
}

/// An operator's credit to a user's general balance (a promotion or a refund), from the
/// promotions account. Returns the transaction id.
pub async fn credit(db: &sqlx::PgPool, user_id: &str, cents: i64, reason: &str) -> Result<String> {
    let m = Movement {
        user_id: user_id.to_owned(),
        kind: "credit",
        amount_cents: cents,
        reason: reason.to_owned(),
        key: None,
        postings: vec![(Account::Platform(db::ledger::PROMOTIONS), -cents), (Account::General, cents)],
        meta: serde_json::json!({"by": "operator"}),
    };
    let m = &m;
    retrying(|| async move {
        let mut tx = db.begin().await?;
        let Recorded::New { txn_id, .. } = record(&mut tx, m).await? else {
            return Err(ApiError::Internal(anyhow::anyhow!("a credit without a key cannot be a replay")));
        };
        tx.commit().await?;
        Ok(txn_id)
    })
    .await
}
