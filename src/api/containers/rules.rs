//! Field rules for containers: names, environment variables, SSH keys, comments, images.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{ApiError, FieldError, Result};

use crate::lifecycle::env as env_rules;

pub const MAX_COMMENT: usize = 16_000;

/// 3–100 of `A-Za-z0-9_-`; `None` or "rand" → a generated one.
pub fn name(path: &str, n: Option<&str>) -> Result<String, FieldError> {
    match n.map(str::trim) {
        None | Some("rand") | Some("") => Ok(generated_name()),
        Some(n) => {
            let ok =
                (3..=100).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if ok {
                Ok(n.to_owned())
            } else {
                Err(FieldError::new(path, "must be 3–100 characters of letters, digits, hyphens and underscores"))
            }
        }
    }
}

fn generated_name() -> String {
    const A: &[&str] = &["amber", "brisk", "cobalt", "dusky", "ember", "frosty", "golden", "hazel", "ivory", "jade"];
    const B: &[&str] =
        &["atlas", "breeze", "canyon", "delta", "fjord", "glacier", "harbor", "island", "jungle", "lagoon"];
    let id = crate::db::new_id();
    let n = u32::from_str_radix(&id[..6], 16).unwrap_or(0) as usize;
    format!("{}-{}-{}", A[n % A.len()], B[(n / A.len()) % B.len()], &id[6..12])
}

/// An environment key a caller may set or remove: well formed and not reserved (`HOODY_*`).
pub fn env_key(path: &str, k: &str) -> Result<(), FieldError> {
    if !env_rules::key_ok(k) {
        return Err(FieldError::new(path, "keys match ^[A-Za-z_][A-Za-z0-9_]*$ (≤ 128)"));
    }
    if env_rules::reserved(k) {
        return Err(FieldError::new(path, "keys starting with HOODY_ are reserved for the platform"));
    }
    Ok(())
}

const VALUE_RULE: &str = "at most 32 KB, no line breaks, NUL or other control characters";

/// A JSON object of string values with valid keys → the map.
pub fn env(path: &str, v: &Value) -> Result<BTreeMap<String, String>, FieldError> {
    let obj = v.as_object().ok_or_else(|| FieldError::new(path, "must be an object of string values"))?;
    let mut out = BTreeMap::new();
    for (k, v) in obj {
        env_key(&format!("{path}.{k}"), k)?;
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return Err(FieldError::new(format!("{path}.{k}"), "must be a string")),
        };
        if !env_rules::value_ok(&s) {
            return Err(FieldError::new(format!("{path}.{k}"), VALUE_RULE));
        }
        out.insert(k.clone(), s);
    }
    check_env_size(path, &out)?;
    Ok(out)
}

pub fn check_env_size(path: &str, env: &BTreeMap<String, String>) -> Result<(), FieldError> {
    match env_rules::too_big(env) {
        Some(why) => Err(FieldError::new(path, why)),
        None => Ok(()),
    }
}

pub fn env_value(path: &str, v: &str) -> Result<String, FieldError> {
    if env_rules::value_ok(v) {
        Ok(v.to_owned())
    } else {
        Err(FieldError::new(path, VALUE_RULE))
    }
}

/// An OpenSSH public key line: `<type> <base64> [comment]`.
pub fn ssh_key(path: &str, k: &str) -> Result<String, FieldError> {
    let k = k.trim();
    let mut parts = k.split_whitespace();
    let kind = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let known = kind.starts_with("ssh-") || kind.starts_with("ecdsa-sha2-") || kind.starts_with("sk-");
    let b64 = !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b));
    if !known || !b64 || k.len() > 16 * 1024 || k.contains('\n') {
        return Err(FieldError::new(path, "must be an OpenSSH public key line (ssh-ed25519 AAAA… [comment])"));
    }
    // One space between the parts: the key itself (type and body) is what must be unique.
    let comment: Vec<&str> = parts.collect();
    Ok(if comment.is_empty() { format!("{kind} {body}") } else { format!("{kind} {body} {}", comment.join(" ")) })
}

pub fn comment(path: &str, c: &str) -> Result<String, FieldError> {
    if c.chars().count() > MAX_COMMENT || c.contains('\0') {
        return Err(FieldError::new(path, format!("at most {MAX_COMMENT} characters")));
    }
    Ok(c.to_owned())
}

/// An LXD image alias.
pub fn image(path: &str, i: &str) -> Result<String, FieldError> {
    let ok = (1..=128).contains(&i.len())
        && i.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && i.bytes().all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b));
    if ok {
        Ok(i.to_owned())
    } else {
        Err(FieldError::new(path, "must be an image alias: letters, digits and . _ / -"))
    }
}

/// A container busy on its host (creating, copying, deleting, claiming) cannot change now (the
/// runner checks again under the container's lock; this answers early without waiting for it).
pub fn settled(c: &crate::db::containers::ContainerRow) -> Result<(), ApiError> {
    if crate::lifecycle::status::busy(&c.status) {
        return Err(busy(&c.status));
    }
    Ok(())
}

pub use crate::lifecycle::ops::busy;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keys_and_ssh_keys() {
        assert!(name("name", Some("ab")).is_err());
        assert!(name("name", Some("web_1-a")).is_ok());
        assert!(name("name", Some("a b c")).is_err());
        assert!(name("name", Some("rand")).unwrap().len() >= 3);
        assert!(env_key("k", "_A1").is_ok() && env_key("k", "1A").is_err() && env_key("k", "A-B").is_err());
        assert!(env_key("k", "").is_err() && env_key("k", "HOODY_X").is_err() && env_key("k", "hoody_x").is_err());
        assert!(env_value("v", "a\tb").is_ok() && env_value("v", "a\nb").is_err() && env_value("v", "a\rb").is_err());
        assert!(ssh_key("k", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA user@host").is_ok());
        assert!(ssh_key("k", "not a key").is_err());
        assert!(image("i", "debian/12").is_ok() && image("i", "../x").is_err());
    }
}
