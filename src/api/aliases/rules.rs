//! The field rules of an alias. Each returns the normalised value or a 422 naming the field.

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rand::RngCore;
use serde_json::Value;

use super::catalogue;
use crate::error::{ApiError, Result};

/// Unix times below this are seconds; from it on, milliseconds (10^11 s is the year 5138).
const MS_FROM: i64 = 100_000_000_000;
/// The highest port or instance index.
const MAX_INDEX: i64 = 65_535;
const MAX_PATH: usize = 1024;

/// A caller-chosen name: 3–61 of `a-z0-9-`, no hyphen first or last, not reserved.
pub fn name(path: &str, s: &str) -> Result<String> {
    let shape_ok = (3..=61).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-');
    if !shape_ok {
        return Err(ApiError::invalid(
            path,
            "must be 3–61 characters of a-z, 0-9 and hyphens, not starting or ending with a hyphen",
        ));
    }
    if catalogue::get().reserved(s) {
        return Err(reserved(path));
    }
    Ok(s.to_owned())
}

pub fn reserved(path: &str) -> ApiError {
    ApiError::Validation {
        message: format!("{path}: this name is reserved").into(),
        fields: vec![crate::error::FieldError::new(path, "is reserved; choose another name")],
    }
}

/// 48 random hex characters.
pub fn generated() -> String {
    let mut b = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The create body's `alias`: a name, or `null`/`false`/omitted for a generated one.
pub fn name_or_generated(v: Option<&Value>) -> Result<String> {
    match v {
        None | Some(Value::Null) | Some(Value::Bool(false)) => Ok(generated()),
        Some(Value::String(s)) => name("alias", s),
        Some(_) => Err(ApiError::invalid("alias", "must be a string, null or false")),
    }
}

/// A program the catalogue lists.
pub fn program(s: &str) -> Result<String> {
    match catalogue::get().program(s) {
        Some(p) => Ok(p.name.clone()),
        None => Err(ApiError::invalid(
            "program",
            format!("is not a known program (catalogue v{})", catalogue::get().version),
        )),
    }
}

fn in_range(path: &str, n: i64) -> Result<i32> {
    if !(1..=MAX_INDEX).contains(&n) {
        return Err(ApiError::invalid(path, format!("must be 1–{MAX_INDEX}")));
    }
    Ok(n as i32)
}

/// The instance index: `index`, or `port` (the index of the http and https programs is the
/// port); both given must agree. `None` when neither is.
pub fn index(index: Option<i64>, port: Option<i64>) -> Result<Option<i32>> {
    let index = index.map(|n| in_range("index", n)).transpose()?;
    let port = port.map(|n| in_range("port", n)).transpose()?;
    match (index, port) {
        (Some(i), Some(p)) if i != p => Err(ApiError::invalid("port", "must equal index when both are given")),
        (i, p) => Ok(i.or(p)),
    }
}

/// A base path: `/` added in front when missing; path characters only (RFC 3986), no query or
/// fragment, at most 1024 characters. Judged after percent-decoding: no segment that is `.` or
/// `..`, no `;`, no encoded `/`, `\`, NUL or other control character, and no empty segment (`//`)
/// except the one a trailing `/` leaves.
pub fn target_path(s: &str) -> Result<String> {
    let p = if s.starts_with('/') { s.to_owned() } else { format!("/{s}") };
    let bad = |m: &str| Err(ApiError::invalid("target_path", m));
    if p.len() > MAX_PATH {
        return bad("must be at most 1024 characters");
    }
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b);
    if !p.bytes().all(allowed) {
        return bad("may hold only URL path characters (no spaces, `?` or `#`)");
    }
    let segments: Vec<&str> = p[1..].split('/').collect();
    let last = segments.len() - 1;
    for (i, seg) in segments.iter().enumerate() {
        let Some(decoded) = percent_decode(seg) else {
            return bad("has a `%` not followed by two hex digits");
        };
        if decoded.is_empty() && i != last {
            return bad("must not hold empty segments (`//`)");
        }
        if decoded == b"." || decoded == b".." {
            return bad("must not hold `.` or `..` segments, encoded or not");
        }
        if decoded.contains(&b';') {
            return bad("must not hold `;`");
        }
        if decoded.iter().any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f) {
            return bad("must not hold an encoded `/`, `\\`, NUL or control character");
        }
    }
    Ok(p)
}

/// `seg` percent-decoded, or `None` when a `%` is not followed by two hex digits.
fn percent_decode(seg: &str) -> Option<Vec<u8>> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
            out.push((hex(b.get(i + 1))? * 16 + hex(b.get(i + 2))?) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// An expiry: ISO 8601 (with an offset, or UTC when it has none; a date alone is its midnight
/// UTC), unix seconds or milliseconds (a number or a string of digits), or null. It must be in
/// the future and before the year 10000.
pub fn expires_at(v: &Value, now: DateTime<Utc>) -> Result<Option<DateTime<Utc>>> {
    let bad = |m: &str| ApiError::invalid("expires_at", m);
    let when = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(n) => unix(n),
            None => return Err(bad("must be a whole number of seconds or milliseconds since 1970")),
        },
        Value::String(s) => {
            let s = s.trim();
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                s.parse::<i64>().ok().and_then(unix)
            } else {
                iso(s)
            }
        }
        _ => return Err(bad("must be an ISO 8601 time, unix seconds or milliseconds, or null")),
    };
    let when = when.ok_or_else(|| bad("must be an ISO 8601 time, unix seconds or milliseconds, or null"))?;
    if when <= now {
        return Err(bad("must be in the future"));
    }
    if when.format("%Y").to_string().len() > 4 {
        return Err(bad("must be before the year 10000"));
    }
    Ok(Some(when))
}

fn unix(n: i64) -> Option<DateTime<Utc>> {
    match n {
        n if n < 0 => None,
        n if n < MS_FROM => DateTime::from_timestamp(n, 0),
        n => DateTime::from_timestamp_millis(n),
    }
}

fn iso(s: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn code_path(e: ApiError) -> String {
        match e {
            ApiError::Validation { fields, .. } => fields[0].path.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn names_follow_the_shape() {
        for ok in ["abc", "my-app-1", "a1b", &"a".repeat(61)] {
            assert_eq!(name("alias", ok).unwrap(), ok);
        }
        for bad in ["ab", "-abc", "abc-", "ABC", "a_b", "a.b", "héé", &"a".repeat(62), "api"] {
            assert_eq!(code_path(name("alias", bad).unwrap_err()), "alias", "{bad}");
        }
        let g = name_or_generated(Some(&json!(false))).unwrap();
        assert!(g.len() == 48 && g.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(name_or_generated(None).unwrap(), g);
        assert!(name_or_generated(Some(&json!(true))).is_err());
        assert!(name_or_generated(Some(&json!(5))).is_err());
    }

    #[test]
    fn paths_get_a_leading_slash_and_stay_paths() {
        assert_eq!(target_path("app").unwrap(), "/app");
        assert_eq!(target_path("/a/b%20c").unwrap(), "/a/b%20c");
        assert_eq!(target_path("").unwrap(), "/");
        assert_eq!(target_path("/").unwrap(), "/");
        assert_eq!(target_path("/a/b/").unwrap(), "/a/b/");
        assert_eq!(target_path("/...x/%41.").unwrap(), "/...x/%41.");
        let long = format!("/{}", "a".repeat(1024));
        for bad in [
            "/a b",
            "/a?x=1",
            "/a#f",
            "/../etc",
            "a/./b",
            "/%zz",
            "/%2",
            "/%2E%2E/x",
            "/.%2e/x",
            "/%2e./x",
            "/%2e/x",
            "/..;/x",
            "/a;b",
            "/a%3bb",
            "/a%2f..%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a%00",
            "%00",
            "//evil.com",
            "/a//b",
            "//",
            "/a%0ab",
            &long,
        ] {
            assert!(target_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expiry_takes_iso_seconds_and_milliseconds() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let later = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
        assert_eq!(expires_at(&json!(1_900_000_000), now).unwrap(), Some(later));
        assert_eq!(expires_at(&json!(1_900_000_000_000i64), now).unwrap(), Some(later));
        assert_eq!(expires_at(&json!("1900000000"), now).unwrap(), Some(later));
        assert_eq!(expires_at(&json!(later.to_rfc3339()), now).unwrap(), Some(later));
        assert_eq!(expires_at(&json!("2030-03-17T17:46:40"), now).unwrap(), Some(later));
        assert!(expires_at(&json!("2031-01-01"), now).unwrap().is_some());
        assert_eq!(expires_at(&json!(null), now).unwrap(), None);
        for bad in
            [json!(1_700_000_000), json!(-1), json!(1.5), json!("soon"), json!(true), json!({}), json!("99999-01-01")]
        {
            assert!(expires_at(&bad, now).is_err(), "{bad}");
        }
    }

    #[test]
    fn index_and_port_agree() {
        assert_eq!(index(None, None).unwrap(), None);
        assert_eq!(index(Some(3), None).unwrap(), Some(3));
        assert_eq!(index(None, Some(8080)).unwrap(), Some(8080));
        assert_eq!(index(Some(8080), Some(8080)).unwrap(), Some(8080));
        assert!(index(Some(1), Some(2)).is_err());
        assert!(index(Some(0), None).is_err());
        assert!(index(None, Some(65_536)).is_err());
    }
}
