//! The `__Host-` cookies that bind a browser step to the browser that began it (the OAuth popup
//! hand-off, the device verification page): Secure, HttpOnly, host-only, `Path=/`, SameSite=Lax
//! (Lax, so they come along on the provider's top-level redirect back to us).

use axum::http::{header, HeaderMap, HeaderValue};

use crate::error::{ApiError, Result};

/// `Set-Cookie` for `name=value`, living `max_age_secs`.
pub fn set(name: &str, value: &str, max_age_secs: i64) -> Result<HeaderValue> {
    let v = format!("{name}={value}; Max-Age={}; Path=/; Secure; HttpOnly; SameSite=Lax", max_age_secs.max(0));
    HeaderValue::from_str(&v).map_err(|e| ApiError::Internal(e.into()))
}

/// `Set-Cookie` that removes `name`.
pub fn clear(name: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!("{name}=; Max-Age=0; Path=/; Secure; HttpOnly; SameSite=Lax")).ok()
}

/// The value of cookie `name` in the request, if sent.
pub fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find_map(|(n, v)| (n == name).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_named_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; __Host-x=abc"));
        h.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(get(&h, "__Host-x"), Some("abc"));
        assert_eq!(get(&h, "b"), Some("2"));
        assert_eq!(get(&h, "__Host-y"), None);
        let s = set("__Host-x", "v", 60).unwrap();
        for attr in ["Max-Age=60", "Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
            assert!(s.to_str().unwrap().contains(attr));
        }
    }
}
