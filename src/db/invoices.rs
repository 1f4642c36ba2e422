//! `invoice` and `invoice_counter`: one invoice per ledger transaction, numbered
//! `INV-<year>-<000001>` per year with no gaps (the counter row is taken in the invoice's own
//! transaction: a rollback gives its number back, and concurrent invoices queue on the row).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, Postgres, QueryBuilder};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InvoiceRow {
    pub invoice_id: String,
    pub user_id: String,
    pub txn_id: String,
    pub invoice_number: String,
    pub status: String,
    pub amount_cents: i64,
    pub currency: String,
    pub billing_details: Option<serde_json::Value>,
    pub items: Option<serde_json::Value>,
    pub issue_date: DateTime<Utc>,
    pub due_date: DateTime<Utc>,
    pub paid_date: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub txn_kind: String,
    pub txn_status: String,
    pub txn_amount_cents: i64,
    pub txn_created_at: DateTime<Utc>,
}

const COLUMNS: &str = "i.invoice_id, i.user_id, i.txn_id, i.invoice_number, i.status, i.amount_cents, i.currency, \
    i.billing_details, i.items, i.issue_date, i.due_date, i.paid_date, i.created_at, i.updated_at, \
    t.kind as txn_kind, t.status as txn_status, t.amount_cents as txn_amount_cents, t.created_at as txn_created_at";

pub async fn get(db: impl PgExecutor<'_>, user_id: &str, id: &str) -> sqlx::Result<Option<InvoiceRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from invoice i join ledger_txn t using (txn_id) where i.user_id = $1 and i.invoice_id = $2"
    ))
    .bind(user_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn of_txn(db: impl PgExecutor<'_>, user_id: &str, txn_id: &str) -> sqlx::Result<Option<InvoiceRow>> {
    sqlx::query_as(&format!(
        "select {COLUMNS} from invoice i join ledger_txn t using (txn_id) where i.user_id = $1 and i.txn_id = $2"
    ))
    .bind(user_id)
    .bind(txn_id)
    .fetch_optional(db)
    .await
}

/// The next number of `year` (taken in the caller's transaction).
pub async fn next_number(conn: &mut PgConnection, year: i32) -> sqlx::Result<i32> {
    sqlx::query_scalar!(
        "insert into invoice_counter (year, last) values ($1, 1) \
         on conflict (year) do update set last = invoice_counter.last + 1 returning last",
        year
    )
    .fetch_one(conn)
    .await
}

pub struct NewInvoice<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub txn_id: &'a str,
    pub number: &'a str,
    pub amount_cents: i64,
    pub billing_details: &'a serde_json::Value,
    pub items: &'a serde_json::Value,
    pub paid_date: DateTime<Utc>,
}

/// Insert; false when the transaction has an invoice already.
pub async fn insert(conn: &mut PgConnection, n: &NewInvoice<'_>) -> sqlx::Result<bool> {
    let done = sqlx::query_scalar!(
        "insert into invoice (invoice_id, user_id, txn_id, invoice_number, amount_cents, billing_details, items, paid_date) \
         values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict (txn_id) do nothing returning 1",
        n.id,
        n.user_id,
        n.txn_id,
        n.number,
        n.amount_cents,
        n.billing_details,
        n.items,
        n.paid_date
    )
    .fetch_optional(conn)
    .await?;
    Ok(done.is_some())
}

/// One condition of a list's filter: a whitelisted column, an operator, and its value(s).
#[derive(Debug, Clone)]
pub enum Value {
    Text(String),
    Cents(i64),
    Time(DateTime<Utc>),
}

#[derive(Debug, Clone)]
pub struct Cond {
    /// From a fixed whitelist (`i.status`…), never from input.
    pub column: &'static str,
    /// `=`, `<>`, `>`, `>=`, `<`, `<=`, `like`, `in`.
    pub op: &'static str,
    pub values: Vec<Value>,
}

fn push_value(q: &mut QueryBuilder<'_, Postgres>, v: &Value) {
    match v {
        Value::Text(s) => q.push_bind(s.clone()),
        Value::Cents(c) => q.push_bind(*c),
        Value::Time(t) => q.push_bind(*t),
    };
}

/// A page of the user's invoices matching every condition; `order_by` from a whitelist.
pub async fn list(
    db: impl PgExecutor<'_>,
    user_id: &str,
    conds: &[Cond],
    order_by: &str,
    limit: i64,
    offset: i64,
) -> sqlx::Result<Vec<crate::api::list::Counted<InvoiceRow>>> {
    let mut q = QueryBuilder::<Postgres>::new(format!(
        "select {COLUMNS}, count(*) over () as total from invoice i join ledger_txn t using (txn_id) where i.user_id = "
    ));
    q.push_bind(user_id.to_owned());
    for c in conds {
        q.push(format!(" and {} ", c.column));
        if c.op == "in" {
            q.push("in (");
            let mut sep = q.separated(", ");
            for v in &c.values {
                match v {
                    Value::Text(s) => sep.push_bind(s.clone()),
                    Value::Cents(n) => sep.push_bind(*n),
                    Value::Time(t) => sep.push_bind(*t),
                };
            }
            q.push(")");
        } else {
            q.push(format!("{} ", c.op));
            if let Some(v) = c.values.first() {
                push_value(&mut q, v);
            }
        }
    }
    q.push(format!(" order by {order_by}, i.invoice_id limit "));
    q.push_bind(limit);
    q.push(" offset ");
    q.push_bind(offset);
    q.build_query_as().fetch_all(db).await
}
