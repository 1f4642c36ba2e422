//! The success envelope `{statusCode, message, data}`.

use std::borrow::Cow;

use axum::{
    body::Body,
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

/// What every successful response looks like on the wire.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Equals the HTTP status.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    pub message: Cow<'static, str>,
    pub data: T,
}

/// A handler's success: the status, the message and the data.
pub struct ApiOk<T> {
    status: StatusCode,
    message: Cow<'static, str>,
    data: T,
}

impl<T> ApiOk<T> {
    pub fn new(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self { status: StatusCode::OK, message: message.into(), data }
    }
    pub fn created(message: impl Into<Cow<'static, str>>, data: T) -> Self {
        Self { status: StatusCode::CREATED, message: message.into(), data }
    }
}

impl<T: Serialize> IntoResponse for ApiOk<T> {
    fn into_response(self) -> Response {
        let body = Envelope { status_code: self.status.as_u16(), message: self.message, data: self.data };
        json_response(self.status, &body)
    }
}

pub const JSON_UTF8: &str = "application/json; charset=utf-8";

/// Serialise `body` with the JSON content type the clients expect.
pub fn json_response<B: Serialize>(status: StatusCode, body: &B) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => {
            let mut res = Response::new(Body::from(bytes));
            *res.status_mut() = status;
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            res
        }
        Err(e) => {
            tracing::error!(error = %e, "response serialisation failed");
            let mut res = Response::new(Body::from(
                r#"{"statusCode":500,"message":"Internal server error","code":"internal_error","error":"Internal Server Error","data":null}"#,
            ));
            *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
            res
        }
    }
}
