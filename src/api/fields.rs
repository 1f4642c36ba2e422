//! Field rules several namespaces share. Each returns the normalised value, or the failing field
//! (which becomes a 422 with `details.fields`).

use crate::error::{ApiError, FieldError};

/// A display name: 1–100 characters, no control characters; trimmed.
pub fn alias(path: &str, a: &str) -> Result<String, FieldError> {
    let a = a.trim();
    if a.is_empty() || a.chars().count() > 100 || a.chars().any(char::is_control) {
        return Err(FieldError::new(path, "must be 1–100 characters without control characters"));
    }
    Ok(a.to_owned())
}

/// An Ed25519 public key: 64 hex characters; lowercased.
pub fn public_key(path: &str, k: &str) -> Result<String, FieldError> {
    if k.len() != 64 || !k.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FieldError::new(path, "must be an Ed25519 public key: 64 hexadecimal characters"));
    }
    Ok(k.to_ascii_lowercase())
}

/// A JSON object of at most `max_bytes` once serialised.
pub fn json_object(path: &str, v: &serde_json::Value, max_bytes: usize) -> Result<(), FieldError> {
    if !v.is_object() {
        return Err(FieldError::new(path, "must be a JSON object"));
    }
    if serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX) > max_bytes {
        return Err(FieldError::new(path, format!("must be at most {} KB as JSON", max_bytes / 1024)));
    }
    Ok(())
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::validation(vec![e])
    }
}
