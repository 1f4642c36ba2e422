//! Payment methods: a user's saved cards (by their provider's id, never card numbers) and which
//! one is the default. One default per user (a partial unique index); the first active method
//! becomes the default; deleting or deactivating the default leaves none and says so.

use axum::extract::State;

use super::{
    dto::{MethodStatus, PaymentMethodIn, PaymentMethodOut, PaymentMethodPatch},
    path_id,
};
use crate::{
    api::fields,
    auth::{access::Require, permissions::perm},
    db::{self, payment_methods as pm},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result, ResultExt},
    extract::{Json, Path},
    state::AppState,
};

const MAX_DETAILS: usize = 8 * 1024;

fn card_taken() -> ApiError {
    ApiError::conflict("payment_method_exists", "This card is saved already")
}

pub fn payment_method_not_found() -> ApiError {
    ApiError::not_found("payment_method_not_found", "Payment method not found")
}

/// `details` checked: an object of at most 8 KB holding no card number (a 13–19 digit run that
/// passes the Luhn check), and a well-formed `stripe_payment_method` if there is one. Gives the
/// method's type: `card` with a provider id, `other` without.
fn details_of(v: Option<serde_json::Value>) -> Result<(serde_json::Value, &'static str)> {
    let v = v.unwrap_or_else(|| serde_json::json!({}));
    fields::json_object("details", &v, MAX_DETAILS)?;
    let text = v.to_string();
    if holds_card_number(&text) {
        return Err(ApiError::invalid(
            "details",
            "must not hold a card number: save the card with the payment provider and send its id (stripe_payment_method)",
        ));
    }
    if v.get("stripe_customer").is_some() {
        return Err(ApiError::invalid("details.stripe_customer", "is set by the server, not by a request"));
    }
    match v.get("stripe_payment_method") {
        None => Ok((v, "other")),
        Some(serde_json::Value::String(s))
            if s.len() <= 255
                && s.strip_prefix("pm_")
                    .is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')) =>
        {
            Ok((v, "card"))
        }
        Some(_) => Err(ApiError::invalid("details.stripe_payment_method", "must be a Stripe payment method id (pm_…)")),
    }
}

/// A run of 13–19 digits (spaces and dashes between them allowed) that passes the Luhn check.
fn holds_card_number(s: &str) -> bool {
    let mut digits: Vec<u8> = Vec::new();
    let check = |d: &[u8]| {
        (13..=19).contains(&d.len())
            && d.iter().rev().enumerate().map(|(i, &x)| if i % 2 == 1 { let y = x * 2; if y > 9 { y - 9 } else { y } } else { x } as u32).sum::<u32>() % 10 == 0
    };
    for c in s.chars().chain(std::iter::once('x')) {
        match c {
            '0'..='9' => digits.push(c as u8 - b'0'),
            ' ' | '-' if !digits.is_empty() => {}
            _ => {
                if check(&digits) {
                    return true;
                }
                digits.clear();
            }
        }
    }
    false
}

fn name_of(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::validation(vec![FieldError::new(
            "name",
            "must be 1-100 characters, no control characters",
        )]));
    }
    Ok(name.to_owned())
}

async fn load(st: &AppState, user_id: &str, id: &str) -> Result<db::payment_methods::MethodRow> {
    let id = path_id(id, payment_method_not_found)?;
    pm::get(&st.db, user_id, id).await?.ok_or_else(payment_method_not_found)
}

/// Add a new payment method
///
/// `details` identify the method with its provider (`stripe_payment_method`); card numbers
/// are refused. `is_default: true` makes it the default (the previous default stops being
/// one); the first method becomes the default anyway.
#[utoipa::path(post, path = "/wallet/payment-methods/", tag = "wallet", security(("bearer" = [])), request_body = PaymentMethodIn,
    responses((status = 201, body = Envelope<PaymentMethodOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.manage_payment_methods"))))]
pub async fn create_payment_method(
    State(st): State<AppState>,
    me: Require<perm::PaymentMethods>,
    Json(input): Json<PaymentMethodIn>,
) -> Result<ApiOk<PaymentMethodOut>> {
    let name = name_of(&input.name)?;
    let (details, kind) = details_of(input.details)?;
    let user = &me.user.user_id;
    if let Some(pm) = details.get("stripe_payment_method").and_then(|v| v.as_str()) {
        super::payments::own_card(&st, user, pm).await?;
    }
    let id = db::new_id();
    let mut tx = st.db.begin().await?;
    pm::lock_user(&mut tx, user).await?;
    let is_default = input.is_default == Some(true) || !pm::has_default(&mut *tx, user).await?;
    if is_default {
        pm::clear_default(&mut tx, user).await?;
    }
    let new = pm::NewMethod { id: &id, user_id: user, r#type: kind, name: &name, details: &details, is_default };
    pm::insert(&mut tx, &new).await.on_constraint("payment_method_stripe", card_taken)?;
    let row = pm::get(&mut *tx, user, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(ApiOk::created("Payment method added", PaymentMethodOut::from(&row)))
}

/// Get all payment methods
///
/// Oldest first; a bare array.
#[utoipa::path(get, path = "/wallet/payment-methods/", tag = "wallet", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Vec<PaymentMethodOut>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.read"))))]
pub async fn list_payment_methods(
    State(st): State<AppState>,
    me: Require<perm::BillingRead>,
) -> Result<ApiOk<Vec<PaymentMethodOut>>> {
    let rows = pm::list(&st.db, &me.user.user_id).await?;
    Ok(ApiOk::new("Payment methods", rows.iter().map(PaymentMethodOut::from).collect()))
}

/// Get payment method by ID
#[utoipa::path(get, path = "/wallet/payment-methods/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method ID")),
    responses((status = 200, body = Envelope<PaymentMethodOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.read"))))]
pub async fn get_payment_method(
    State(st): State<AppState>,
    me: Require<perm::BillingRead>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentMethodOut>> {
    let row = load(&st, &me.user.user_id, &id).await?;
    Ok(ApiOk::new("Payment method", PaymentMethodOut::from(&row)))
}

/// Update a payment method
///
/// `details`, `status` (`inactive` also ends its being the default) and `is_default` (an
/// inactive method cannot be the default: 422).
#[utoipa::path(put, path = "/wallet/payment-methods/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method ID")), request_body = PaymentMethodPatch,
    responses((status = 200, body = Envelope<PaymentMethodOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.manage_payment_methods"))))]
pub async fn update_payment_method(
    State(st): State<AppState>,
    me: Require<perm::PaymentMethods>,
    Path(id): Path<String>,
    Json(input): Json<PaymentMethodPatch>,
) -> Result<ApiOk<PaymentMethodOut>> {
    let checked = input.details.map(|d| details_of(Some(d))).transpose()?;
    let user = &me.user.user_id;
    if let Some(pm) = checked.as_ref().and_then(|(d, _)| d.get("stripe_payment_method")).and_then(|v| v.as_str()) {
        super::payments::own_card(&st, user, pm).await?;
    }
    let id = path_id(&id, payment_method_not_found)?;
    let mut tx = st.db.begin().await?;
    pm::lock_user(&mut tx, user).await?;
    let row = pm::get(&mut *tx, user, id).await?.ok_or_else(payment_method_not_found)?;
    let status = match input.status {
        Some(MethodStatus::Active) => "active",
        Some(MethodStatus::Inactive) => "inactive",
        None => row.status.as_str(),
    };
    let is_default = match input.is_default {
        Some(true) if status != "active" => {
            return Err(ApiError::invalid("is_default", "an inactive payment method cannot be the default"))
        }
        Some(d) => d,
        None => row.is_default && status == "active",
    };
    if is_default && !row.is_default {
        pm::clear_default(&mut tx, user).await?;
    }
    let (details, kind) = checked.unwrap_or((row.details.clone(), if row.r#type == "card" { "card" } else { "other" }));
    pm::update(&mut tx, user, id, &details, kind, status, is_default)
        .await
        .on_constraint("payment_method_stripe", card_taken)?;
    let row = pm::get(&mut *tx, user, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(ApiOk::new("Payment method updated", PaymentMethodOut::from(&row)))
}

/// Set a payment method as default
///
/// The previous default stops being one. An inactive method cannot be the default (422).
#[utoipa::path(put, path = "/wallet/payment-methods/{id}/default", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method ID")),
    responses((status = 200, body = Envelope<PaymentMethodOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.manage_payment_methods"))))]
pub async fn set_default_payment_method(
    State(st): State<AppState>,
    me: Require<perm::PaymentMethods>,
    Path(id): Path<String>,
) -> Result<ApiOk<PaymentMethodOut>> {
    let user = &me.user.user_id;
    let id = path_id(&id, payment_method_not_found)?;
    let mut tx = st.db.begin().await?;
    pm::lock_user(&mut tx, user).await?;
    let row = pm::get(&mut *tx, user, id).await?.ok_or_else(payment_method_not_found)?;
    if row.status != "active" {
        return Err(ApiError::invalid("id", "an inactive payment method cannot be the default"));
    }
    if !row.is_default {
        pm::clear_default(&mut tx, user).await?;
        pm::update(&mut tx, user, id, &row.details, &row.r#type, &row.status, true).await?;
    }
    let row = pm::get(&mut *tx, user, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    tx.commit().await?;
    Ok(ApiOk::new("Default payment method set", PaymentMethodOut::from(&row)))
}

/// Delete a payment method
///
/// Deleting the default promotes no other method: the message says you have no default now.
#[utoipa::path(delete, path = "/wallet/payment-methods/{id}", tag = "wallet", security(("bearer" = [])),
    params(("id" = String, Path, description = "Payment method ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("financial.billing.manage_payment_methods"))))]
pub async fn delete_payment_method(
    State(st): State<AppState>,
    me: Require<perm::PaymentMethods>,
    Path(id): Path<String>,
) -> Result<ApiOk<()>> {
    let user = &me.user.user_id;
    let id = path_id(&id, payment_method_not_found)?;
    let mut tx = st.db.begin().await?;
    pm::lock_user(&mut tx, user).await?;
    let was_default = pm::delete(&mut tx, user, id).await?.ok_or_else(payment_method_not_found)?;
    tx.commit().await?;
    let message = if was_default {
        "Payment method deleted. It was your default: you have no default payment method now; set one with PUT /wallet/payment-methods/{id}/default"
    } else {
        "Payment method deleted"
    };
    Ok(ApiOk::new(message, ()))
}

#[cfg(test)]
mod tests {
    use super::holds_card_number;

    #[test]
    fn card_numbers_are_recognised() {
        for s in [
            "4242424242424242",
            "4242 4242 4242 4242",
            "{\"n\":\"4000-0566-5566-5556\"}",
            "x5555555555554444y",
            "a 4111-1111-1111-1111.",
        ] {
            assert!(holds_card_number(s), "{s}");
        }
        for s in ["4242424242424241", "123", "pm_1234567890123", "2026-12-02T10:00:00Z 1234"] {
            assert!(!holds_card_number(s), "{s}");
        }
    }
}
