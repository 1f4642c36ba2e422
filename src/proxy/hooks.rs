//! Hooks: per service, an ordered list of (match, script) rules, the first match wins. Ids are
//! ULIDs in lowercase Crockford base32.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::RESERVED_SERVICES;
use crate::error::FieldError;

const CROCKFORD: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new ULID: 48 bits of milliseconds, 80 random bits, 26 lowercase Crockford characters.
pub fn new_id() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let mut n: u128 = (ms & ((1 << 48) - 1)) << 80;
    for (i, b) in random.iter().enumerate() {
        n |= u128::from(*b) << (8 * (9 - i));
    }
    (0..26).map(|i| CROCKFORD[((n >> (5 * (25 - i))) & 31) as usize] as char).collect()
}

/// `^[0-9a-hjkmnp-tv-z]{26}$` with a first character of at most 7 (128 bits).
pub fn id_ok(id: &str) -> bool {
    id.len() == 26 && id.bytes().all(|b| CROCKFORD.contains(&b)) && id.as_bytes()[0] <= b'7'
}

/// A hook as stored; its position is its index in the service's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hook {
    pub id: String,
    #[serde(rename = "match")]
    pub matcher: Value,
    pub script: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applies_to: Option<Value>,
}

/// A hook as a body gives it (`id` only in a whole document, `position` only on the routes).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyHookIn)]
#[schema(example = json!({
    "match": {"method": ["POST"], "path": "/webhooks/github"},
    "script": {"path": "/srv/hooks/github.js"},
    "timeout": 5000
}))]
pub struct HookIn {
    #[serde(default)]
    pub id: Option<String>,
    /// `{ method?: string | string[], path?: string, headers?: object }`.
    #[serde(rename = "match")]
    #[schema(value_type = Object)]
    pub matcher: Option<Value>,
    /// `{ subdomain?: string, execId?: string, path: string }`.
    #[schema(value_type = Object)]
    pub script: Option<Value>,
    /// 1–30000 ms.
    pub timeout: Option<i64>,
    /// `{ groups?: string[] }`.
    #[schema(value_type = Option<Object>)]
    pub applies_to: Option<Value>,
    /// 0-based place in the service's list (routes only); the end when omitted.
    pub position: Option<i64>,
}

const METHODS: [&str; 9] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"];

fn short_text(v: Option<&Value>, max: usize) -> Result<(), &'static str> {
    match v {
        None => Ok(()),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= max && !s.chars().any(char::is_control) => Ok(()),
        Some(_) => Err("must be a non-empty string"),
    }
}

fn object<'a>(v: &'a Value, at: &str, field: &str, errors: &mut Vec<FieldError>) -> Option<&'a Map<String, Value>> {
    let o = v.as_object();
    if o.is_none() {
        errors.push(FieldError::new(format!("{at}{field}"), "must be an object"));
    }
    o
}

impl HookIn {
    /// Validate into a stored hook (a new id when it has none), naming fields under `at`
    /// (`hooks.http[0].` or none).
    pub fn into_hook(self, at: &str, groups: Option<&dyn Fn(&str) -> bool>) -> Result<Hook, Vec<FieldError>> {
        let mut errors = vec![];
        let mut fail = |f: &str, m: &str| errors.push(FieldError::new(format!("{at}{f}"), m));
        let id = match self.id {
            Some(id) if id_ok(&id) => id,
            Some(_) => {
                fail("id", "must be a ULID: 26 lowercase Crockford base32 characters");
                String::new()
            }
            None => new_id(),
        };
        let mut inner = vec![];
        let matcher = match self.matcher {
            None => {
                fail("match", "is required");
                Value::Null
            }
            Some(m) => {
                if let Some(o) = object(&m, at, "match", &mut inner) {
                    for k in o.keys().filter(|k| !matches!(k.as_str(), "method" | "path" | "headers")) {
                        inner.push(FieldError::new(format!("{at}match.{k}"), "is not a match field"));
                    }
                    let method_ok = match o.get("method") {
                        None => true,
                        Some(Value::String(s)) => METHODS.contains(&s.as_str()),
                        Some(Value::Array(a)) => {
                            !a.is_empty() && a.iter().all(|m| m.as_str().is_some_and(|s| METHODS.contains(&s)))
                        }
                        Some(_) => false,
                    };
                    if !method_ok {
                        inner.push(FieldError::new(
                            format!("{at}match.method"),
                            "must be an HTTP method or a list of them",
                        ));
                    }
                    if let Err(m) = short_text(o.get("path"), 1024) {
                        inner.push(FieldError::new(format!("{at}match.path"), m));
                    }
                    if let Some(h) = o.get("headers") {
                        let ok = h
                            .as_object()
                            .is_some_and(|h| h.len() <= 32 && h.values().all(|v| v.is_string() || v.is_boolean()));
                        if !ok {
                            inner.push(FieldError::new(
                                format!("{at}match.headers"),
                                "must map at most 32 names to strings",
                            ));
                        }
                    }
                }
                m
            }
        };
        let script = match self.script {
            None => {
                fail("script", "is required");
                Value::Null
            }
            Some(s) => {
                if let Some(o) = object(&s, at, "script", &mut inner) {
                    for k in o.keys().filter(|k| !matches!(k.as_str(), "subdomain" | "execId" | "path")) {
                        inner.push(FieldError::new(format!("{at}script.{k}"), "is not a script field"));
                    }
                    if o.get("path").is_none() {
                        inner.push(FieldError::new(format!("{at}script.path"), "is required"));
                    }
                    for f in ["path", "subdomain", "execId"] {
                        if let Err(m) = short_text(o.get(f), 1024) {
                            inner.push(FieldError::new(format!("{at}script.{f}"), m));
                        }
                    }
                }
                s
            }
        };
        let timeout = match self.timeout {
            None => None,
            Some(t @ 1..=30_000) => Some(t as u32),
            Some(_) => {
                fail("timeout", "must be 1-30000 (milliseconds)");
                None
            }
        };
        if let Some(a) = &self.applies_to {
            let names = a.as_object().and_then(|o| {
                if o.keys().any(|k| k != "groups") {
                    return None;
                }
                match o.get("groups") {
                    None => Some(vec![]),
                    Some(Value::Array(g)) => g.iter().map(Value::as_str).collect::<Option<Vec<_>>>(),
                    Some(_) => None,
                }
            });
            match names {
                None => fail("applies_to", "must be { groups: string[] }"),
                Some(names) => {
                    if let Some(bad) = groups.and_then(|known| names.iter().find(|n| !known(n))) {
                        fail("applies_to.groups", &format!("names no group of the document: {bad}"));
                    }
                }
            }
        }
        errors.extend(inner);
        if errors.is_empty() {
            Ok(Hook { id, matcher, script, timeout, applies_to: self.applies_to })
        } else {
            Err(errors)
        }
    }
}

/// The 422 for a service name (in a path or a document's `hooks`).
pub fn check_service(name: &str, field: &str) -> Result<(), FieldError> {
    super::check_name(name, field)?;
    if RESERVED_SERVICES.contains(&name) {
        return Err(FieldError::new(field, "logs, proxy and workspaces take no hooks"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_crockford_ulids_in_time_order() {
        let a = new_id();
        assert!(id_ok(&a), "{a}");
        assert!(a.bytes().all(|b| !b"ilou".contains(&b) && !b.is_ascii_uppercase()));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(new_id()[..10] > a[..10]);
        assert!(!id_ok("01ARZ3NDEKTSV4RRFFQ69G5FAV"), "uppercase");
        assert!(!id_ok("81arz3ndektsv4rrffq69g5fav"), "over 128 bits");
    }
}
