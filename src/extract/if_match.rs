//! `if-match: file:v<N>` on writes to versioned documents (CONVENTIONS 9). `IfMatch` in a
//! handler's signature makes it required (missing → 428); `Option<IfMatch>` makes it optional
//! (missing → an unconditional write, for clients that send none). Malformed → 400 either way.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts},
};

use crate::error::{ApiError, FieldError};

/// The version a write expects the document to be at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfMatch(pub i64);

fn malformed() -> ApiError {
    ApiError::BadRequest {
        code: "invalid_if_match",
        message: "if-match must be file:v<N> (the file_version a read returned)".into(),
        fields: vec![FieldError::new("if-match", "must be file:v<N>")],
    }
}

/// `file:v<N>`, also quoted (`"file:v3"`, as an ETag) and weak (`W/"file:v3"`).
pub fn parse(value: &str) -> Option<i64> {
    let v = value.trim();
    let v = v.strip_prefix("W/").unwrap_or(v);
    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
    let n = v.strip_prefix("file:v")?;
    if n.is_empty() || n.len() > 18 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

fn read(parts: &Parts) -> Result<Option<IfMatch>, ApiError> {
    let Some(value) = parts.headers.get(header::IF_MATCH) else { return Ok(None) };
    let version = value.to_str().ok().and_then(parse).ok_or_else(malformed)?;
    Ok(Some(IfMatch(version)))
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        read(parts)?.ok_or_else(|| ApiError::PreconditionRequired {
            code: "if_match_required",
            message: "This write needs if-match: file:v<N> (read the document for its file_version)".into(),
        })
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, ApiError> {
        read(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn versions_parse_and_nothing_else_does() {
        assert_eq!(parse("file:v3"), Some(3));
        assert_eq!(parse(" \"file:v0\" "), Some(0));
        assert_eq!(parse("W/\"file:v12\""), Some(12));
        for bad in ["", "file:v", "file:v-1", "file:v1.0", "v3", "file:3", "*", "file:v99999999999999999999"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
