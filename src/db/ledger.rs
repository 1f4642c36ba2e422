//! `ledger_account`, `ledger_txn`, `ledger_posting`: the money tables. Balances change only
//! through postings (a trigger applies each to its user account in the same transaction).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};

/// The platform's own accounts (seeded by the migration).
pub const REVENUE: &str = "platform_revenue";
pub const FEES: &str = "platform_fees";
pub const PROVIDER_CLEARING: &str = "platform_provider_clearing";
pub const PROMOTIONS: &str = "platform_promotions";

/// A user's two accounts.
#[derive(Debug, Clone)]
pub struct UserAccounts {
    pub general: String,
    pub ai: String,
}

/// The user's accounts, made on first use.
pub async fn user_accounts(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<UserAccounts> {
    if let Some(a) = existing_accounts(&mut *conn, user_id).await? {
        return Ok(a);
    }
    sqlx::query!(
        "insert into ledger_account (account_id, user_id, kind) values ($1, $3, 'general'), ($2, $3, 'ai') \
         on conflict (user_id, kind) do nothing",
        super::new_id(),
        super::new_id(),
        user_id
    )
    .execute(&mut *conn)
    .await?;
    existing_accounts(&mut *conn, user_id).await?.ok_or(sqlx::Error::RowNotFound)
}

async fn existing_accounts(conn: &mut PgConnection, user_id: &str) -> sqlx::Result<Option<UserAccounts>> {
    let rows = sqlx::query!(
        "select account_id, kind from ledger_account where user_id = $1 and kind in ('general', 'ai')",
        user_id
    )
    .fetch_all(&mut *conn)
    .await?;
    let find = |kind: &str| rows.iter().find(|r| r.kind == kind).map(|r| r.account_id.clone());
    Ok(find("general").zip(find("ai")).map(|(general, ai)| UserAccounts { general, ai }))
}

pub struct NewTxn<'a> {
    pub txn_id: &'a str,
    pub user_id: Option<&'a str>,
    pub kind: &'a str,
    pub amount_cents: i64,
    pub reason: &'a str,
    pub idem_key: Option<&'a str>,
    pub request_hash: Option<&'a [u8]>,
    pub meta: &'a serde_json::Value,
}

/// Record a transaction; false when the user already has one with this idempotency key (the
/// insert waits for a concurrent one with the key to commit or roll back first).
pub async fn insert_txn(conn: &mut PgConnection, t: &NewTxn<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        "insert into ledger_txn (txn_id, user_id, kind, amount_cents, reason, idem_key, request_hash, meta) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (user_id, idem_key) do nothing returning 1",
        t.txn_id,
        t.user_id,
        t.kind,
        t.amount_cents,
        t.reason,
        t.idem_key,
        t.request_hash,
        t.meta
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(done.is_some())
}

/// A whole movement that shows the balances after it, in one statement committed on its own
/// (one round trip): lock the user's two accounts (general, then AI: the order postings take
/// them), record the transaction with, in its meta under `balances`, what they will hold after
/// its postings (exact: no other movement can change them before this one commits), and the
/// postings (each names a user account by its kind, `general` or `ai`, or a platform account by
/// its id; their trigger applies them to the locked accounts). `None`, with
/// nothing written, when the user already has a transaction with this key or lacks one of the two
/// accounts. A debit beyond a balance fails with the `ledger_account_no_negative` check, and the
/// deferred check that the postings balance runs at its commit, as for any transaction.
pub async fn record_alone(
    db: impl PgExecutor<'_>,
    t: &NewTxn<'_>,
    postings: &[(&str, i64)],
) -> sqlx::Result<Option<(i64, i64)>> {
    let accounts: Vec<&str> = postings.iter().map(|p| p.0).collect();
    let amounts: Vec<i64> = postings.iter().map(|p| p.1).collect();
    let delta = |kind: &str| postings.iter().filter(|p| p.0 == kind).map(|p| p.1).sum::<i64>();
    let (general_delta, ai_delta) = (delta("general"), delta("ai"));
    let r = sqlx::query!(
        r#"with t as (
             insert into ledger_txn (txn_id, user_id, kind, amount_cents, reason, idem_key, request_hash, meta)
             select $1, $2, $3, $4, $5, $6, $7,
                    $8::jsonb || jsonb_build_object('balances',
                        jsonb_build_object('general', b.general + $9, 'ai', b.ai + $10))
               from (select coalesce(sum(balance_cents) filter (where kind = 'general'), 0)::bigint as general,
                            coalesce(sum(balance_cents) filter (where kind = 'ai'), 0)::bigint as ai,
                            count(*) as accounts
                       from (select kind, balance_cents from ledger_account
                              where user_id = $2 and kind in ('general', 'ai')
                              order by kind desc for update) l) b
              where b.accounts = 2
             on conflict (user_id, idem_key) do nothing
             returning txn_id, meta),
           p as (
             insert into ledger_posting (txn_id, account_id, amount_cents)
             select t.txn_id, case when p.a in ('general', 'ai') then u.account_id else p.a end, p.n
               from t cross join unnest($11::text[], $12::bigint[]) with ordinality as p(a, n, i)
               left join ledger_account u on u.user_id = $2 and u.kind = p.a
              order by p.i)
           select (t.meta -> 'balances' ->> 'general')::bigint as "general!",
                  (t.meta -> 'balances' ->> 'ai')::bigint as "ai!"
             from t"#,
        t.txn_id,
        t.user_id,
        t.kind,
        t.amount_cents,
        t.reason,
        t.idem_key,
        t.request_hash,
        t.meta,
        general_delta,
        ai_delta,
        &accounts as &[&str],
        &amounts
    )
    .fetch_optional(db)
    .await?;
    Ok(r.map(|r| (r.general, r.ai)))
}

/// The postings of one transaction, in one statement. Each posting names a user account by its
/// kind (`general`, `ai`: the user's own, resolved here) or a platform account by its id. Returns
/// how many were written: fewer than given when a user account does not exist. A debit that
/// would take a user account below zero fails with the `ledger_account_no_negative` check.
pub async fn post(conn: &mut PgConnection, txn_id: &str, user_id: &str, postings: &[(&str, i64)]) -> sqlx::Result<u64> {
    let accounts: Vec<&str> = postings.iter().map(|p| p.0).collect();
    let amounts: Vec<i64> = postings.iter().map(|p| p.1).collect();
    let done = sqlx::query!(
        "insert into ledger_posting (txn_id, account_id, amount_cents) \
         select $1, x.account_id, x.n from ( \
           select case when p.a in ('general', 'ai') then u.account_id else p.a end as account_id, p.n, p.i \
             from unnest($2::text[], $3::bigint[]) with ordinality as p(a, n, i) \
             left join ledger_account u on u.user_id = $4 and u.kind = p.a) x \
          where x.account_id is not null order by x.i",
        txn_id,
        &accounts as &[&str],
        &amounts,
        user_id
    )
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// Keep what a replay of this transaction answers.
pub async fn set_meta(conn: &mut PgConnection, txn_id: &str, meta: &serde_json::Value) -> sqlx::Result<()> {
    sqlx::query!("update ledger_txn set meta = $2, updated_at = now() where txn_id = $1", txn_id, meta)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TxnRow {
    pub txn_id: String,
    pub user_id: Option<String>,
    pub kind: String,
    pub status: String,
    pub amount_cents: i64,
    pub reason: String,
    pub request_hash: Option<Vec<u8>>,
    pub meta: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub async fn by_key(db: impl PgExecutor<'_>, user_id: &str, key: &str) -> sqlx::Result<Option<TxnRow>> {
    sqlx::query_as!(
        TxnRow,
        "select txn_id, user_id, kind, status, amount_cents, reason, request_hash, meta, created_at, updated_at \
         from ledger_txn where user_id = $1 and idem_key = $2",
        user_id,
        key
    )
    .fetch_optional(db)
    .await
}

/// Hold a user's idempotency key until the transaction ends (a second request with it waits).
pub async fn lock_key(conn: &mut PgConnection, user_id: &str, key: &str) -> sqlx::Result<()> {
    sqlx::query!("select pg_advisory_xact_lock(hashtextextended('ledger_key:' || $1 || '/' || $2, 0))", user_id, key)
        .execute(conn)
        .await?;
    Ok(())
}

/// One of the user's transactions.
pub async fn txn_of(db: impl PgExecutor<'_>, user_id: &str, txn_id: &str) -> sqlx::Result<Option<TxnRow>> {
    sqlx::query_as!(
        TxnRow,
        "select txn_id, user_id, kind, status, amount_cents, reason, request_hash, meta, created_at, updated_at \
         from ledger_txn where user_id = $1 and txn_id = $2",
        user_id,
        txn_id
    )
    .fetch_optional(db)
    .await
}

/// A user's balances in cents: general, AI, and the AI account's credits and debits.
#[derive(Debug, Clone, Default)]
pub struct Balances {
    pub general_id: Option<String>,
    pub general: i64,
    pub ai: i64,
    pub ai_credited: i64,
    pub ai_spent: i64,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

pub async fn balances(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<Balances> {
    let r = sqlx::query!(
        r#"select g.account_id as "general_id?", g.balance_cents as "general?", g.created_at as "created_at?",
                  g.updated_at as "updated_at?", a.balance_cents as "ai?",
                  (select coalesce(-sum(p.amount_cents), 0)::bigint from ledger_posting p
                    where p.account_id = a.account_id and p.amount_cents < 0) as "ai_spent!"
             from (select 1) as one
             left join ledger_account g on g.user_id = $1 and g.kind = 'general'
             left join ledger_account a on a.user_id = $1 and a.kind = 'ai'"#,
        user_id
    )
    .fetch_one(db)
    .await?;
    let ai = r.ai.unwrap_or(0);
    Ok(Balances {
        general_id: r.general_id,
        general: r.general.unwrap_or(0),
        ai,
        // What came in is what is left plus what was spent.
        ai_credited: ai + r.ai_spent,
        ai_spent: r.ai_spent,
        created_at: r.created_at,
        updated_at: r.updated_at,
    })
}

/// The user's kept balances in cents, (general, AI): one row read, no postings summed (the
/// answer of a money move, read in its own transaction).
pub async fn kept(db: impl PgExecutor<'_>, user_id: &str) -> sqlx::Result<(i64, i64)> {
    let r = sqlx::query!(
        r#"select coalesce(sum(balance_cents) filter (where kind = 'general'), 0)::bigint as "general!",
                  coalesce(sum(balance_cents) filter (where kind = 'ai'), 0)::bigint as "ai!"
             from ledger_account where user_id = $1"#,
        user_id
    )
    .fetch_one(db)
    .await?;
    Ok((r.general, r.ai))
}

/// A transaction as the user's list shows it: what it did to their general balance.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UserTxn {
    pub txn_id: String,
    pub kind: String,
    pub status: String,
    pub amount_cents: i64,
    pub reason: String,
    pub meta: serde_json::Value,
    /// The net change of the user's general and AI balances.
    pub general_delta: i64,
    pub ai_delta: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The select list of [`UserTxn`] over `ledger_txn t` (the user is `$1`).
pub const USER_TXN_COLUMNS: &str = "t.txn_id, t.kind, t.status, t.amount_cents, t.reason, t.meta, \
    coalesce((select sum(p.amount_cents) from ledger_posting p join ledger_account a using (account_id) \
               where p.txn_id = t.txn_id and a.user_id = $1 and a.kind = 'general'), 0)::bigint as general_delta, \
    coalesce((select sum(p.amount_cents) from ledger_posting p join ledger_account a using (account_id) \
               where p.txn_id = t.txn_id and a.user_id = $1 and a.kind = 'ai'), 0)::bigint as ai_delta, \
    t.created_at, t.updated_at";

pub async fn user_txn(db: impl PgExecutor<'_>, user_id: &str, txn_id: &str) -> sqlx::Result<Option<UserTxn>> {
    sqlx::query_as::<_, UserTxn>(&format!(
        "select {USER_TXN_COLUMNS} from ledger_txn t where t.user_id = $1 and t.txn_id = $2"
    ))
    .bind(user_id)
    .bind(txn_id)
    .fetch_optional(db)
    .await
}

/// A page of the user's transactions; `order_by` comes from a sort whitelist.
pub async fn user_txns(
    db: impl PgExecutor<'_>,
    user_id: &str,
    order_by: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<crate::api::list::Counted<UserTxn>>> {
    sqlx::query_as(&format!(
        "select {USER_TXN_COLUMNS}, count(*) over () as total from ledger_txn t where t.user_id = $1 \
         order by {order_by}, t.txn_id limit $2 offset $3"
    ))
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// A fee the platform took from one of the user's transactions.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeeRow {
    pub posting_id: i64,
    pub txn_id: String,
    pub amount_cents: i64,
    pub created_at: DateTime<Utc>,
    pub reason: String,
    pub txn_amount_cents: i64,
}

pub async fn fees(
    db: impl PgExecutor<'_>,
    user_id: &str,
    order_by: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<crate::api::list::Counted<FeeRow>>> {
    sqlx::query_as(&format!(
        "select p.posting_id, p.txn_id, p.amount_cents, p.created_at, t.reason, t.amount_cents as txn_amount_cents, \
                count(*) over () as total \
           from ledger_posting p join ledger_txn t using (txn_id) \
          where t.user_id = $1 and p.account_id = '{FEES}' \
          order by {order_by}, p.posting_id limit $2 offset $3"
    ))
    .bind(user_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await
}

/// An account whose kept balance is not the sum of its postings, or a transaction that does
/// not balance.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub what: String,
    pub kept: i64,
    pub summed: i64,
}

/// Check every invariant the ledger promises: kept balances equal their postings' sums, every
/// transaction sums to zero, no user balance is negative, all postings together sum to zero.
pub async fn verify(db: impl PgExecutor<'_> + Copy) -> sqlx::Result<Vec<Mismatch>> {
    let mut out: Vec<Mismatch> = sqlx::query!(
        r#"select a.account_id as "account_id!", a.balance_cents as "kept!",
                  coalesce((select sum(amount_cents) from ledger_posting p where p.account_id = a.account_id), 0)::bigint as "summed!"
             from ledger_account a where a.user_id is not null"#
    )
    .fetch_all(db)
    .await?
    .into_iter()
    .filter(|r| r.kept != r.summed || r.kept < 0)
    .map(|r| Mismatch { what: format!("account {}", r.account_id), kept: r.kept, summed: r.summed })
    .collect();
    let unbalanced = sqlx::query!(
        r#"select txn_id as "txn_id!", sum(amount_cents)::bigint as "sum!" from ledger_posting
            group by txn_id having sum(amount_cents) <> 0"#
    )
    .fetch_all(db)
    .await?;
    out.extend(unbalanced.into_iter().map(|r| Mismatch {
        what: format!("transaction {}", r.txn_id),
        kept: 0,
        summed: r.sum,
    }));
    Ok(out)
}

/// How many accounts, transactions and postings there are, for `ledger verify`'s report.
pub async fn counts(db: impl PgExecutor<'_>) -> sqlx::Result<(i64, i64, i64)> {
    let r = sqlx::query!(
        r#"select (select count(*) from ledger_account) as "a!", (select count(*) from ledger_txn) as "t!",
                  (select count(*) from ledger_posting) as "p!""#
    )
    .fetch_one(db)
    .await?;
    Ok((r.a, r.t, r.p))
}
