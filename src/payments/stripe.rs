//! Stripe's HTTP API as the wallet uses it: Checkout Sessions (a hosted page) and
//! PaymentIntents (a saved card charged directly), form-encoded with `Stripe-Version` pinned and
//! an `Idempotency-Key` per intent; and the webhook's `Stripe-Signature` check.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

use crate::{config::Money, secret::Secret};

/// The API version every request asks for.
pub const API_VERSION: &str = "2024-06-20";
/// How old a signed webhook may be.
pub const TOLERANCE_SECS: i64 = 300;

pub struct Client<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: &'a Secret,
}

/// What Stripe answered, or why there is nothing to go on (the providers' one error).
pub use super::ProviderError as StripeError;

#[derive(Debug, Deserialize)]
pub struct Session {
    pub id: String,
    pub url: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Customer {
    pub id: String,
}

#[derive(Debug, Deserialize)]
pub struct PaymentMethod {
    pub id: String,
    /// The customer it is attached to (`cus_…`), or none.
    pub customer: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    message: Option<String>,
    code: Option<String>,
}

impl<'a> Client<'a> {
    /// A client when Stripe is configured.
    pub fn new(http: &'a reqwest::Client, m: &'a Money) -> Option<Self> {
        m.stripe_configured().then_some(())?;
        Some(Self { http, base: &m.stripe_api_base, key: m.stripe_secret_key.as_ref()? })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        form: &[(String, String)],
    ) -> Result<T, StripeError> {
        let req = self.http.post(format!("{}{path}", self.base)).header("Idempotency-Key", idempotency_key).form(form);
        self.send(req).await
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, StripeError> {
        self.send(self.http.get(format!("{}{path}", self.base))).await
    }

    async fn send<T: serde::de::DeserializeOwned>(&self, req: reqwest::RequestBuilder) -> Result<T, StripeError> {
        let req =
            req.bearer_auth(self.key.as_str()).header("Stripe-Version", API_VERSION).timeout(Duration::from_secs(20));
        super::send(req, |body| {
            let d = serde_json::from_slice::<ErrorBody>(body).ok()?.error;
            d.message.or(d.code)
        })
        .await
    }

    /// The user's customer object (made once per user: the key is the user's id).
    pub async fn create_customer(&self, user_id: &str) -> Result<Customer, StripeError> {
        let form = vec![("metadata[user_id]".to_owned(), user_id.to_owned())];
        self.post("/v1/customers", &format!("customer-{user_id}"), &form).await
    }

    pub async fn payment_method(&self, id: &str) -> Result<PaymentMethod, StripeError> {
        if !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(StripeError::Refused("not a payment method id".into()));
        }
        self.get(&format!("/v1/payment_methods/{id}")).await
    }

    /// Attach a payment method to the user's customer.
    pub async fn attach(&self, id: &str, customer: &str) -> Result<PaymentMethod, StripeError> {
        let form = vec![("customer".to_owned(), customer.to_owned())];
        self.post(&format!("/v1/payment_methods/{id}/attach"), &format!("attach-{id}-{customer}"), &form).await
    }

    /// A Checkout Session for `cents` that sends the payer back to `success_url` or `cancel_url`.
    pub async fn checkout_session(
        &self,
        intent_id: &str,
        cents: i64,
        success_url: &str,
        cancel_url: &str,
    ) -> Result<Session, StripeError> {
        let form = [
            ("mode", "payment".to_owned()),
            ("success_url", success_url.to_owned()),
            ("cancel_url", cancel_url.to_owned()),
            ("client_reference_id", intent_id.to_owned()),
            ("line_items[0][quantity]", "1".to_owned()),
            ("line_items[0][price_data][currency]", "usd".to_owned()),
            ("line_items[0][price_data][unit_amount]", cents.to_string()),
            ("line_items[0][price_data][product_data][name]", "Wallet top-up".to_owned()),
            ("metadata[intent_id]", intent_id.to_owned()),
            ("payment_intent_data[metadata][intent_id]", intent_id.to_owned()),
        ];
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self.post("/v1/checkout/sessions", intent_id, &form).await
    }

    /// Charge a saved payment method `cents` at once (confirmed in the same call).
    pub async fn charge(
        &self,
        intent_id: &str,
        cents: i64,
        payment_method: &str,
        customer: Option<&str>,
    ) -> Result<PaymentIntent, StripeError> {
        let mut form = vec![
            ("amount", cents.to_string()),
            ("currency", "usd".to_owned()),
            ("payment_method", payment_method.to_owned()),
            ("confirm", "true".to_owned()),
            ("off_session", "true".to_owned()),
            ("metadata[intent_id]", intent_id.to_owned()),
        ];
        if let Some(c) = customer {
            form.push(("customer", c.to_owned()));
        }
        let form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        self.post("/v1/payment_intents", intent_id, &form).await
    }
}

/// A verified webhook event.
#[derive(Debug, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Debug, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

/// Why a webhook is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed Stripe-Signature")]
    Malformed,
    #[error("the signature is older than 300 s")]
    TooOld,
    #[error("no signature matches")]
    Mismatch,
}

/// Check `Stripe-Signature: t=<unix>,v1=<hex>[,v1=…]` over `<t>.<payload>` with HMAC-SHA256 and
/// `secret`, within [`TOLERANCE_SECS`] of `now` (either way), comparing in constant time.
pub fn verify(secret: &str, header: &str, payload: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<i64>().ok(),
            Some(("v1", v)) => sigs.push(hex::decode(v).map_err(|_| SignatureError::Malformed)?),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::TooOld);
    }
    for sig in sigs {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Malformed)?;
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(payload);
        // `verify_slice` compares in constant time.
        if mac.verify_slice(&sig).is_ok() {
            return Ok(());
        }
    }
    Err(SignatureError::Mismatch)
}

/// The header a sender with `secret` puts on `payload` at `t` (tests and stand-ins).
pub fn sign(secret: &str, payload: &[u8], t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let body = br#"{"id":"evt_1"}"#;
        let h = sign("whsec_x", body, 1000);
        assert_eq!(verify("whsec_x", &h, body, 1000), Ok(()));
        assert_eq!(verify("whsec_x", &h, body, 1299), Ok(()));
        assert_eq!(verify("whsec_x", &h, body, 1301), Err(SignatureError::TooOld));
        assert_eq!(verify("whsec_y", &h, body, 1000), Err(SignatureError::Mismatch));
        assert_eq!(verify("whsec_x", &h, br#"{"id":"evt_2"}"#, 1000), Err(SignatureError::Mismatch));
        assert_eq!(verify("whsec_x", "v1=00", body, 1000), Err(SignatureError::Malformed));
        assert_eq!(verify("whsec_x", "t=1000", body, 1000), Err(SignatureError::Malformed));
        let far = format!("t={},v1=00", i64::MIN);
        assert_eq!(verify("whsec_x", &far, body, 1000), Err(SignatureError::TooOld));
        // A second, valid v1 among stale ones (Stripe sends several while rolling a secret).
        let good = sign("whsec_x", body, 1000);
        let two = format!("t=1000,v1={},{}", "ab".repeat(32), good.split(',').nth(1).unwrap());
        assert_eq!(verify("whsec_x", &two, body, 1000), Ok(()));
    }
}
