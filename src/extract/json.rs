//! `Json<T>` whose rejections are our error envelope: malformed JSON and wrong types → 400 with
//! the failing path, unknown fields → 422, a body over the limit → 413, no JSON content type → 415.

use axum::{
    body::Bytes,
    extract::{FromRequest, Request},
    http::{header, StatusCode},
};
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use crate::error::{ApiError, FieldError};

pub struct Json<T>(pub T);

/// `Json<T>` whose strings may hold NUL (`\u0000`): for bodies that are never stored as text
/// (the vault seals its values), where any UTF-8 string is a value.
pub struct OpaqueJson<T>(pub T);

async fn json_bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    if !is_json(req.headers()) {
        return Err(ApiError::UnsupportedMediaType);
    }
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            ApiError::bad_request("invalid_body", "Could not read the request body")
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        parse_json(&json_bytes(req, state).await?).map(Json)
    }
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for OpaqueJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        deserialize(&json_bytes(req, state).await?).map(OpaqueJson)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Deserialize `bytes`, naming the failing field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // PostgreSQL text cannot hold NUL; refuse it at the edge instead of failing in SQL.
    if bytes.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        return Err(ApiError::bad_request("invalid_body", "Strings must not contain NUL (\\u0000) characters"));
    }
    deserialize(bytes)
}

/// Deserialize `bytes` (NUL allowed), naming the failing field.
fn deserialize<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de);
    if value.is_ok() {
        de.end().map_err(|e| {
            ApiError::bad_request("invalid_json", format!("Malformed JSON body: {}", strip_position(&e.to_string())))
        })?;
    }
    value.map_err(|e| {
        let inner = e.inner();
        let msg = strip_position(&inner.to_string());
        match inner.classify() {
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", format!("Malformed JSON body: {msg}"))
            }
            Category::Data => {
                let parent = e.path().to_string();
                let parent = if parent == "." { String::new() } else { parent };
                if let Some(field) = backticked(&msg).filter(|_| msg.starts_with("unknown field")) {
                    // serde_path_to_error's path already ends at the unknown key.
                    let path = if parent.is_empty() { field.to_owned() } else { parent.clone() };
                    return ApiError::validation(vec![FieldError::new(path, format!("Unknown field `{field}`"))]);
                }
                let path = match backticked(&msg).filter(|_| msg.starts_with("missing field")) {
                    Some(field) => join(&parent, field),
                    None if parent.is_empty() => "body".to_owned(),
                    None => parent,
                };
                ApiError::BadRequest {
                    code: "invalid_body",
                    message: format!("{path}: {msg}").into(),
                    fields: vec![FieldError::new(path, msg)],
                }
            }
        }
    })
}

fn join(parent: &str, field: &str) -> String {
    if parent.is_empty() {
        field.to_owned()
    } else {
        format!("{parent}.{field}")
    }
}

/// The first `…` quoted name in a serde message.
fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

/// serde_json appends " at line 1 column 7"; keep the message short and stable.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg.to_owned(),
    }
}
