//! Invoices: one per ledger transaction (made on request, idempotent), listed with a JSON
//! filter, and rendered as a PDF.

use axum::{
    extract::State,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Datelike, Utc};

use super::{
    dto::{InvoiceCreatedOut, InvoiceListOut, InvoiceOut, InvoiceQuery},
    path_id,
    transactions::transaction_not_found,
};
use crate::{
    api::list::{self, Paged},
    auth::{access::Require, permissions::perm},
    db::{
        self,
        invoices::{Cond, Value},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{Path, Query},
    invoice_pdf::{self, InvoiceDoc},
    money,
    state::AppState,
};

pub fn invoice_not_found() -> ApiError {
    ApiError::not_found("invoice_not_found", "Invoice not found")
}

/// What an invoice says a transaction was.
fn describe(t: &db::ledger::TxnRow) -> (serde_json::Value, serde_json::Value) {
    let amount = money::dollars_number(t.amount_cents);
    let cents = |k: &str| t.meta.get(k).and_then(serde_json::Value::as_i64);
    let details = match t.kind.as_str() {
        "transfer" => serde_json::json!({
            "credit_type": "ai",
            "fee_bps": t.meta.get("fee_bps"),
            "gross_amount": amount,
            "net_amount": cents("net_cents").map(money::dollars_number),
            "fee_amount": cents("fee_cents").map(money::dollars_number),
        }),
        _ => serde_json::json!({ "credit_type": "general" }),
    };
    let description = match t.kind.as_str() {
        "transfer" => "Transfer to AI credits".to_owned(),
        "topup" => "Wallet top-up".to_owned(),
        "rent" | "rent_extend" => format!("Server rental: {}", t.reason),
        "image_purchase" => format!("Image purchase: {}", t.reason),
        _ => {
            if t.reason.is_empty() {
                t.kind.clone()
            } else {
                t.reason.clone()
            }
        }
    };
    let items = serde_json::json!([{ "type": t.kind, "description": description, "amount": amount }]);
    (details, items)
}

/// Generate invoice for transaction
///
/// The invoice of one of your transactions: made the first time (201), the same one after
/// (200). Numbers are `INV-<year>-<six digits>`, sequential per year with no gaps.
#[utoipa::path(post, path = "/wallet/invoices/generate/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Transaction ID")),
    responses((status = 201, body = Envelope<InvoiceCreatedOut>), (status = 200, body = Envelope<InvoiceCreatedOut>),
              (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.read"))))]
pub async fn generate_invoice(
    State(st): State<AppState>,
    me: Require<perm::BillingRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<InvoiceCreatedOut>> {
    let user = &me.user.user_id;
    let txn_id = path_id(&id, transaction_not_found)?;
    let t = db::ledger::txn_of(&st.db, user, txn_id).await?.ok_or_else(transaction_not_found)?;
    if let Some(existing) = db::invoices::of_txn(&st.db, user, txn_id).await? {
        return Ok(ApiOk::new("Invoice", created(&existing)));
    }
    let (details, items) = describe(&t);
    let mut tx = st.db.begin().await?;
    let year = Utc::now().year();
    let n = db::invoices::next_number(&mut tx, year).await?;
    let number = format!("INV-{year}-{n:06}");
    let invoice_id = db::new_id();
    let new = db::invoices::NewInvoice {
        id: &invoice_id,
        user_id: user,
        txn_id,
        number: &number,
        amount_cents: t.amount_cents,
        billing_details: &details,
        items: &items,
        paid_date: t.created_at,
    };
    if db::invoices::insert(&mut tx, &new).await? {
        tx.commit().await?;
        return Ok(ApiOk::created("Invoice generated", InvoiceCreatedOut { invoice_id, invoice_number: number }));
    }
    // Made meanwhile by a concurrent request: its number stands, ours goes back.
    tx.rollback().await?;
    let existing = db::invoices::of_txn(&st.db, user, txn_id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(ApiOk::new("Invoice", created(&existing)))
}

fn created(r: &db::invoices::InvoiceRow) -> InvoiceCreatedOut {
    InvoiceCreatedOut { invoice_id: r.invoice_id.clone(), invoice_number: r.invoice_number.clone() }
}

/// The sortable (and filterable) fields and their columns.
fn column(field: &str) -> Option<&'static str> {
    Some(match field {
        "id" => "i.invoice_id",
        "invoice_number" => "i.invoice_number",
        "status" => "i.status",
        "amount" => "i.amount_cents",
        "currency" => "i.currency",
        "issue_date" => "i.issue_date",
        "due_date" => "i.due_date",
        "paid_date" => "i.paid_date",
        "created_at" => "i.created_at",
        "updated_at" => "i.updated_at",
        "user_id" => "i.user_id",
        "transaction_id" => "i.txn_id",
        _ => return None,
    })
}

fn bad_filter(message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::BadRequest {
        code: "invalid_filter",
        message: format!("filter: {message}").into(),
        fields: vec![crate::error::FieldError::new("filter", message)],
    }
}

/// One value of `field` as the column holds it: dollars → cents, dates → times, else text.
fn value_of(field: &str, v: &serde_json::Value) -> Result<Value> {
    match field {
        "amount" => {
            let text = match v {
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::String(s) => s.clone(),
                _ => return Err(bad_filter("amount takes a number of dollars")),
            };
            money::hundredths(&text)
                .map(Value::Cents)
                .ok_or_else(|| bad_filter("amount takes a number of dollars, at most two decimals"))
        }
        "issue_date" | "due_date" | "paid_date" | "created_at" | "updated_at" => v
            .as_str()
            .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
            .map(|t| Value::Time(t.with_timezone(&Utc)))
            .ok_or_else(|| bad_filter(format!("{field} takes an RFC 3339 time"))),
        _ => match v {
            serde_json::Value::String(s) if s.len() <= 200 && !s.contains('\0') => Ok(Value::Text(s.clone())),
            _ => Err(bad_filter(format!("{field} takes a string of at most 200 characters"))),
        },
    }
}

/// `filter` parsed: `{field: value}` (equals) or `{field: {op: value, …}}`; 400 naming what is wrong.
fn filter_of(raw: Option<&str>) -> Result<Vec<Cond>> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else { return Ok(Vec::new()) };
    let parsed: serde_json::Value = serde_json::from_str(raw).map_err(|_| bad_filter("must be a JSON object"))?;
    let obj = parsed.as_object().ok_or_else(|| bad_filter("must be a JSON object"))?;
    let mut out = Vec::new();
    for (field, spec) in obj {
        let col = column(field).ok_or_else(|| bad_filter(format!("unknown field {field:?}")))?;
        let ops: Vec<(&str, &serde_json::Value)> = match spec {
            serde_json::Value::Object(m) => m.iter().map(|(k, v)| (k.as_str(), v)).collect(),
            v => vec![("eq", v)],
        };
        if ops.is_empty() {
            return Err(bad_filter(format!("{field} has no operator")));
        }
        for (op, v) in ops {
            let sql = match op {
                "eq" => "=",
                "ne" => "<>",
                "gt" => ">",
                "gte" => ">=",
                "lt" => "<",
                "lte" => "<=",
                "like" => "like",
                "in" => "in",
                other => return Err(bad_filter(format!("unknown operator {other:?}"))),
            };
            let values = if op == "in" {
                let items = v.as_array().filter(|a| !a.is_empty() && a.len() <= 100);
                let items = items.ok_or_else(|| bad_filter(format!("{field}.in takes a list of 1-100 values")))?;
                items.iter().map(|x| value_of(field, x)).collect::<Result<Vec<_>>>()?
            } else {
                vec![value_of(field, v)?]
            };
            match values.first() {
                Some(Value::Text(t)) if op == "like" && (t.len() - t.trim_end_matches('\\').len()) % 2 == 1 => {
                    return Err(bad_filter("a like pattern cannot end with an escaping backslash"));
                }
                Some(Value::Text(_)) => {}
                _ if op == "like" => return Err(bad_filter(format!("like applies to text fields, not {field}"))),
                _ => {}
            }
            out.push(Cond { column: col, op: sql, values });
        }
    }
    if out.len() > 20 {
        return Err(bad_filter("at most 20 conditions"));
    }
    Ok(out)
}

/// Get all invoices
///
/// Your invoices, newest first by default; `{invoices: [], pagination}` when you have none.
/// `filter` is a JSON object over the sortable fields (`{"status":"paid"}`,
/// `{"amount":{"gte":10}}`; operators eq, ne, gt, gte, lt, lte, like, in; amounts in dollars,
/// dates RFC 3339); unknown fields or operators → 400.
#[utoipa::path(get, path = "/wallet/invoices/", tag = "wallet", security(("bearer" = [])), params(InvoiceQuery),
    responses((status = 200, body = Envelope<InvoiceListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.read"))))]
pub async fn list_invoices(
    State(st): State<AppState>,
    me: Require<perm::BillingRead>,
    Query(q): Query<InvoiceQuery>,
) -> Result<ApiOk<InvoiceListOut>> {
    let p = list::ListParams::<list::Unsorted>::new(q.page, q.limit)?;
    let conds = filter_of(q.filter.as_deref())?;
    let col = q.sort_by.as_deref().and_then(column).unwrap_or("i.created_at");
    let order = format!("{col} {} nulls last", q.sort_order.unwrap_or_default().sql());
    let page: Paged<_> =
        list::fetch(&p, |limit, offset| db::invoices::list(&st.db, &me.user.user_id, &conds, &order, limit, offset))
            .await?;
    let page = page.map(|r| InvoiceOut::new(&r, false));
    let pagination = page.pagination();
    Ok(ApiOk::new("Invoices", InvoiceListOut { invoices: page.items, pagination }))
}

/// Get invoice by ID
///
/// With its billing details and items.
#[utoipa::path(get, path = "/wallet/invoices/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice ID")),
    responses((status = 200, body = Envelope<InvoiceOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.read"))))]
pub async fn get_invoice(
    State(st): State<AppState>,
    me: Require<perm::BillingRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<InvoiceOut>> {
    let id = path_id(&id, invoice_not_found)?;
    let r = db::invoices::get(&st.db, &me.user.user_id, id).await?.ok_or_else(invoice_not_found)?;
    Ok(ApiOk::new("Invoice", InvoiceOut::new(&r, true)))
}

/// Download invoice PDF
///
/// `application/pdf`, as an attachment named after the invoice number.
#[utoipa::path(get, path = "/wallet/invoices/{id}/pdf", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Invoice ID")),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.download_invoices"))))]
pub async fn get_invoice_pdf(
    State(st): State<AppState>,
    me: Require<perm::DownloadInvoices>,
    Path(id): Path<String>,
) -> Result<Response> {
    let id = path_id(&id, invoice_not_found)?;
    let r = db::invoices::get(&st.db, &me.user.user_id, id).await?.ok_or_else(invoice_not_found)?;
    let day = |t: DateTime<Utc>| t.format("%Y-%m-%d").to_string();
    let items = r
        .items
        .as_ref()
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .map(|i| {
                    let desc = i.get("description").and_then(|d| d.as_str()).unwrap_or("").to_owned();
                    let cents = i.get("amount").and_then(|a| a.as_f64()).map(|f| (f * 100.0).round() as i64);
                    (desc, cents.map(money::dollars).unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    let doc = InvoiceDoc {
        number: r.invoice_number.clone(),
        issue_date: day(r.issue_date),
        paid_date: r.paid_date.map(day),
        status: r.status.clone(),
        billed_to: me.user.email.clone(),
        seller: "Hoody".into(),
        currency: r.currency.clone(),
        items,
        total: money::dollars(r.amount_cents),
    };
    let bytes = invoice_pdf::render(&doc);
    let mut res = (StatusCode::OK, bytes).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    let disposition = format!("attachment; filename=\"{}.pdf\"", r.invoice_number);
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).map_err(anyhow::Error::from)?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(res)
}
