//! NOWPayments' REST API as the wallet uses it: a hosted invoice (`POST /v1/invoice`, the
//! `x-api-key` header) per crypto intent, its `order_id` our intent id; and the IPN callback's
//! `x-nowpayments-sig` check (HMAC-SHA512 with the IPN secret over the body's JSON re-serialised
//! with object keys sorted, as NOWPayments documents it).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha512;

use super::ProviderError;
use crate::{config::Money, secret::Secret};

pub struct Client<'a> {
    http: &'a reqwest::Client,
    base: &'a str,
    key: &'a Secret,
}

/// What `POST /v1/invoice` is sent.
#[derive(Debug, Serialize)]
pub struct NewInvoice<'a> {
    /// Dollars, a JSON number with at most two decimals.
    pub price_amount: serde_json::Number,
    pub price_currency: &'static str,
    /// Our intent id: every IPN of a payment of this invoice names it.
    pub order_id: &'a str,
    pub order_description: &'a str,
    pub ipn_callback_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancel_url: Option<&'a str>,
}

/// The invoice NOWPayments made: its id (a number or a string there) and hosted page.
#[derive(Debug, Deserialize)]
pub struct Invoice {
    #[serde(deserialize_with = "id_text")]
    pub id: String,
    pub invoice_url: String,
}

/// An id NOWPayments writes as a number or a string, as text.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) if !s.is_empty() => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(serde::de::Error::custom(format!("not an id: {other}"))),
    }
}

/// NOWPayments' error body: `{"statusCode": 400, "code": "…", "message": "…"}`.
fn message_of(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v.get("message").or_else(|| v.get("code")).and_then(Value::as_str).map(str::to_owned)
}

impl<'a> Client<'a> {
    /// A client when crypto payments are configured (the API key and the IPN secret).
    pub fn new(http: &'a reqwest::Client, m: &'a Money) -> Option<Self> {
        m.nowpayments_configured().then_some(())?;
        Some(Self { http, base: &m.nowpayments_api_base, key: m.nowpayments_api_key.as_ref()? })
    }

    /// A hosted invoice. NOWPayments takes no idempotency key: asking again makes another invoice
    /// with the same `order_id`, so a payment of either credits the same intent (once).
    pub async fn invoice(&self, new: &NewInvoice<'_>) -> Result<Invoice, ProviderError> {
        let req = self
            .http
            .post(format!("{}/v1/invoice", self.base))
            .header("x-api-key", self.key.as_str())
            .timeout(Duration::from_secs(20))
            .json(new);
        super::send(req, message_of).await
    }
}

/// Why an IPN is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing or malformed x-nowpayments-sig")]
    Malformed,
    #[error("the body is not a JSON object")]
    NotJson,
    #[error("the signature does not match")]
    Mismatch,
}

/// `v` as JSON with every object's keys sorted (recursively), no whitespace, strings escaped as
/// JSON.stringify escapes them. `whole_floats`: a number with no fraction is written as
/// JSON.stringify writes it (`10`, not `10.0`), as NOWPayments' Node example signs it.
fn canonical(v: &Value, whole_floats: bool, out: &mut String) {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&map[k], whole_floats, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(item, whole_floats, out);
            }
            out.push(']');
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if whole_floats && n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => {
                out.push_str(&format!("{}", f as i64));
            }
            _ => out.push_str(&n.to_string()),
        },
        other => out.push_str(&other.to_string()),
    }
}

fn mac(secret: &str, text: &str) -> Hmac<Sha512> {
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(text.as_bytes());
    mac
}

/// Check `x-nowpayments-sig` (hex HMAC-SHA512 with `secret`) over `payload` re-serialised with
/// sorted keys, comparing in constant time; returns the parsed body. Both of NOWPayments'
/// documented serialisations of a whole-valued number are accepted (`10` and `10.0`: its Node and
/// its PHP/Python examples differ there); each is an HMAC with the secret over the same content.
pub fn verify(secret: &str, header: &str, payload: &[u8]) -> Result<Value, SignatureError> {
    let sig = hex::decode(header.trim()).map_err(|_| SignatureError::Malformed)?;
    if sig.len() != 64 {
        return Err(SignatureError::Malformed);
    }
    let body: Value = serde_json::from_slice(payload).map_err(|_| SignatureError::NotJson)?;
    if !body.is_object() {
        return Err(SignatureError::NotJson);
    }
    for whole_floats in [false, true] {
        let mut text = String::new();
        canonical(&body, whole_floats, &mut text);
        // `verify_slice` compares in constant time.
        if mac(secret, &text).verify_slice(&sig).is_ok() {
            return Ok(body);
        }
    }
    Err(SignatureError::Mismatch)
}

/// The `x-nowpayments-sig` a sender with `secret` puts on `body` (tests and stand-ins).
pub fn sign(secret: &str, body: &Value) -> String {
    let mut text = String::new();
    canonical(body, false, &mut text);
    hex::encode(mac(secret, &text).finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_signed_text_has_sorted_keys_at_every_level() {
        let v = json!({"b": 1, "a": {"d": [{"z": 1, "y": "é/\""}], "c": null}, "p": 10.5, "q": 2.0});
        let mut text = String::new();
        canonical(&v, false, &mut text);
        assert_eq!(text, r#"{"a":{"c":null,"d":[{"y":"é/\"","z":1}]},"b":1,"p":10.5,"q":2.0}"#);
        let mut js = String::new();
        canonical(&v, true, &mut js);
        assert!(js.ends_with(r#""p":10.5,"q":2}"#), "{js}");
    }

    #[test]
    fn signatures() {
        let body =
            json!({"payment_id": 5077125051u64, "payment_status": "finished", "order_id": "abc", "price_amount": 25});
        let sig = sign("ipn_x", &body);
        // Another key order and whitespace: the same content, the same signature.
        let sent =
            br#"{ "price_amount": 25, "order_id": "abc", "payment_status": "finished", "payment_id": 5077125051 }"#;
        assert_eq!(verify("ipn_x", &sig, sent).unwrap()["order_id"], "abc");
        assert_eq!(verify("ipn_x", &sig.to_uppercase(), sent).map(|_| ()), Ok(()));
        assert_eq!(verify("ipn_y", &sig, sent).map(|_| ()), Err(SignatureError::Mismatch));
        let tampered =
            br#"{"price_amount": 2500, "order_id": "abc", "payment_status": "finished", "payment_id": 5077125051}"#;
        assert_eq!(verify("ipn_x", &sig, tampered).map(|_| ()), Err(SignatureError::Mismatch));
        assert_eq!(verify("ipn_x", "", sent).map(|_| ()), Err(SignatureError::Malformed));
        assert_eq!(verify("ipn_x", "zz", sent).map(|_| ()), Err(SignatureError::Malformed));
        assert_eq!(verify("ipn_x", &sig, b"not json").map(|_| ()), Err(SignatureError::NotJson));
        assert_eq!(verify("ipn_x", &sig, b"[1]").map(|_| ()), Err(SignatureError::NotJson));
        // A whole-valued amount written 25.0 and signed as Node writes it (25): accepted.
        let mut node = String::new();
        canonical(&json!({"price_amount": 25.0}), true, &mut node);
        assert_eq!(node, r#"{"price_amount":25}"#);
        let node_sig = hex::encode(mac("ipn_x", &node).finalize().into_bytes());
        assert!(verify("ipn_x", &node_sig, br#"{"price_amount": 25.0}"#).is_ok());
    }
}
