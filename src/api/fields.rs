//! Field rules several namespaces share. Each returns the normalised value, or the failing field
//! (which becomes a 422 with `details.fields`).

use crate::{
    auth::principal::Principal,
    error::{ApiError, FieldError},
};

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

/// A hex colour, `#RGB` or `#RRGGBB` (the `#` optional); uppercased with the `#`.
pub fn color(path: &str, c: &str) -> Result<String, FieldError> {
    let hex = c.trim().strip_prefix('#').unwrap_or(c.trim());
    if !(hex.len() == 3 || hex.len() == 6) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(FieldError::new(path, "must be a hex colour: #RGB or #RRGGBB"));
    }
    Ok(format!("#{}", hex.to_ascii_uppercase()))
}

/// Realms for a new project or container: the ones asked for plus the request's own realm.
/// A realm-restricted token may only name realms it holds.
pub fn realms_on_create(me: &Principal, asked: Option<&[String]>) -> Result<Vec<String>, ApiError> {
    let mut out = crate::api::tokens::grant::realm_list(asked.unwrap_or_default())?;
    if let Some(r) = &me.realm {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    if let Some(t) = me.token().filter(|t| t.restricted()) {
        if out.iter().any(|r| !t.realm_ids.contains(r)) {
            return Err(crate::api::tokens::manage::realm_change_forbidden());
        }
    }
    Ok(out)
}

/// Realms after an update: only an unrestricted caller changes them; the request's realm stays.
pub fn realms_on_update(me: &Principal, current: &[String], asked: Option<&[String]>) -> Result<Vec<String>, ApiError> {
    let Some(asked) = asked else { return Ok(current.to_vec()) };
    let mut out = crate::api::tokens::grant::realm_list(asked)?;
    if let Some(r) = &me.realm {
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    let same = out.len() == current.len() && out.iter().all(|r| current.contains(r));
    if !same && !me.unrestricted() {
        return Err(crate::api::tokens::manage::realm_change_forbidden());
    }
    Ok(out)
}

/// A path id that is not a well-formed id names nothing: the same 404 as a missing object (never
/// a lookup).
pub fn path_id(raw: &str, not_found: fn() -> ApiError) -> Result<&str, ApiError> {
    if crate::db::is_id(raw) {
        Ok(raw)
    } else {
        Err(not_found())
    }
}

/// A date filter: RFC 3339, or `YYYY-MM-DD` (its first instant, or with `end_of_day` its last
/// millisecond). A bad one is noted in `errs` under `path`.
pub fn date(
    path: &str,
    v: &str,
    end_of_day: bool,
    errs: &mut Vec<FieldError>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::{DateTime, NaiveDate, Utc};
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some(d.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        Ok(d) if end_of_day => {
            d.succ_opt().and_then(|d| d.and_hms_opt(0, 0, 0)).map(|d| d.and_utc() - chrono::Duration::milliseconds(1))
        }
        Ok(d) => d.and_hms_opt(0, 0, 0).map(|d| d.and_utc()),
        Err(_) => {
            errs.push(FieldError::new(path, "must be an RFC 3339 date-time or YYYY-MM-DD"));
            None
        }
    }
}
