//! What a container's environment may hold: what LXD takes (`environment.<KEY>` config keys
//! cannot hold line breaks; the instance would not start) and what one container may carry.

use std::collections::BTreeMap;

use crate::error::ApiError;

pub const MAX_VARS: usize = 256;
pub const MAX_BYTES: usize = 64 * 1024;
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// Keys the platform sets itself.
pub const RESERVED_PREFIX: &str = "HOODY_";

/// `^[A-Za-z_][A-Za-z0-9_]*$`, at most 128.
pub fn key_ok(k: &str) -> bool {
    let mut b = k.bytes();
    k.len() <= 128
        && b.next().is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

pub fn reserved(k: &str) -> bool {
    k.to_ascii_uppercase().starts_with(RESERVED_PREFIX)
}

/// At most 32 KB, no line breaks, NUL or other control characters (a tab is fine).
pub fn value_ok(v: &str) -> bool {
    v.len() <= MAX_VALUE_BYTES && !v.chars().any(|c| c.is_control() && c != '\t')
}

/// Why an environment is too big, if it is.
pub fn too_big(env: &BTreeMap<String, String>) -> Option<String> {
    if env.len() > MAX_VARS {
        return Some(format!("at most {MAX_VARS} variables"));
    }
    if env.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() > MAX_BYTES {
        return Some("at most 64 KB in all".into());
    }
    None
}

pub fn check_size(env: &BTreeMap<String, String>) -> Result<(), ApiError> {
    match too_big(env) {
        Some(why) => Err(ApiError::invalid("environment_vars", why)),
        None => Ok(()),
    }
}
