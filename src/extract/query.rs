//! `Query<T>` and `Path<T>` whose rejections are our error envelope and name the parameter:
//! `?limit=abc` → 400 `invalid_query` with `details.fields: [{path: "limit", …}]`.

use axum::{
    extract::{rejection::PathRejection, FromRequestParts},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, FieldError};

/// The query string, deserialized; unknown parameters are ignored (clients send extra ones).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

/// Deserialize a query string, naming the failing parameter.
pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let message = e.inner().to_string();
        let path = match e.path().to_string() {
            p if p != "." => p,
            // "missing field `x`" / "duplicate field `x`": the name is in the message.
            _ => backticked(&message).unwrap_or("query").to_owned(),
        };
        ApiError::BadRequest {
            code: "invalid_query",
            message: format!("{path}: {message}").into(),
            fields: vec![FieldError::new(path, message)],
        }
    })
}

fn backticked(msg: &str) -> Option<&str> {
    let start = msg.find('`')? + 1;
    let len = msg[start..].find('`')?;
    Some(&msg[start..start + len])
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or("")).map(Query)
    }
}

/// Path parameters, deserialized; a parameter that does not parse is a 400 naming it.
#[derive(Debug, Clone)]
pub struct Path<T>(pub T);

// The one place axum's own `Path` is used: wrapped, for its parsing.
#[allow(clippy::disallowed_types)]
impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, st).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                use axum::extract::path::ErrorKind;
                let (key, message) = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, expected_type, .. } => {
                        (key.clone(), format!("must be a {expected_type}"))
                    }
                    ErrorKind::InvalidUtf8InPathParam { key } => (key.clone(), "is not valid UTF-8".to_owned()),
                    ErrorKind::DeserializeError { key, message, .. } => (key.clone(), message.clone()),
                    other => ("path".to_owned(), other.to_string()),
                };
                Err(ApiError::BadRequest {
                    code: "invalid_path",
                    message: format!("{key}: {message}").into(),
                    fields: vec![FieldError::new(key, message)],
                })
            }
            Err(_) => Err(ApiError::bad_request("invalid_path", "The path is malformed")),
        }
    }
}
