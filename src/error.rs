//! One error type for the whole server, rendered as the platform's error envelope:
//! `{statusCode, message, code, error, data: null, request_id, details?}`.

use std::{borrow::Cow, time::Duration};

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::telemetry;

pub type Result<T, E = ApiError> = std::result::Result<T, E>;

type Text = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the body or query does not match the schema.
    #[error("{message}")]
    BadRequest { code: &'static str, message: Text, fields: Vec<FieldError> },
    /// 400 whose reason the client also reads from `data.error`: the device flow's polling
    /// answers (`authorization_pending`, `slow_down`, `access_denied`, `expired_token`).
    #[error("{message}")]
    FlowState { code: &'static str, message: Text },
    /// 401: missing, malformed, expired or revoked credentials.
    #[error("{message}")]
    Unauthenticated { code: &'static str, message: Text },
    /// 403: authenticated, but not allowed.
    #[error("{message}")]
    Forbidden { code: &'static str, message: Text },
    /// 404: missing, or not visible to the caller.
    #[error("{message}")]
    NotFound { code: &'static str, message: Text },
    #[error("method not allowed")]
    MethodNotAllowed,
    /// 409: a uniqueness rule.
    #[error("{message}")]
    Conflict { code: &'static str, message: Text },
    /// 409 with Retry-After: the resource is in another request's hands; nothing was done.
    #[error("{message}")]
    Busy { code: &'static str, message: Text, retry_after_secs: u64 },
    /// 402: the balance does not cover what the request costs; nothing was moved.
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: Text },
    /// 412: a prior step is missing (email verification, payment method, 2FA).
    #[error("{message}")]
    PreconditionFailed { code: &'static str, message: Text },
    /// 412 on a versioned document: the `If-Match` version is not the current one.
    #[error("stale version")]
    StaleVersion { current: i64 },
    /// 428: a write that needs `If-Match` came without it.
    #[error("{message}")]
    PreconditionRequired { code: &'static str, message: Text },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("unsupported media type")]
    UnsupportedMediaType,
    /// 422: well-formed but semantically invalid.
    #[error("{message}")]
    Validation { message: Text, fields: Vec<FieldError> },
    /// 422 with a code of its own: well-formed, but refused for a reason a client may act on
    /// (`pools_unavailable`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: Text, fields: Vec<FieldError> },
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// 503: a dependency (the database, a host) is unavailable.
    #[error("service unavailable")]
    Unavailable { retry_after_secs: u64 },
    /// 503 with a code and a reason the client may read (no host can take the work now).
    #[error("{message}")]
    UnavailableBecause { code: &'static str, message: Text, retry_after_secs: u64 },
    /// 502: a container host answered with an error or nonsense (details are logged).
    #[error("bad gateway")]
    BadGateway,
    /// 504: a container host did not answer in time.
    #[error("host timeout")]
    HostTimeout,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// One failing field of a request: a JSON path (`password`, `items[2].name`) and why.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

/// The body of every non-2xx response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Equals the HTTP status.
    #[serde(rename = "statusCode")]
    pub status_code: u16,
    /// Human-readable reason; the clients show it.
    pub message: String,
    /// Stable snake_case code; the clients branch on it.
    pub code: String,
    /// The HTTP reason phrase.
    pub error: String,
    /// Null on errors, except the device flow's polling answers: `{"error": "<code>"}`.
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
    /// The `x-request-id` of this request.
    pub request_id: String,
    /// Seconds to wait before retrying (429 and 503).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<ErrorDetails>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetails {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
    /// On a 412 for a versioned document: its current `file_version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_file_version: Option<i64>,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<Text>) -> Self {
        Self::BadRequest { code, message: message.into(), fields: Vec::new() }
    }
    pub fn unauthenticated(code: &'static str, message: impl Into<Text>) -> Self {
        Self::Unauthenticated { code, message: message.into() }
    }
    pub fn forbidden(code: &'static str, message: impl Into<Text>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<Text>) -> Self {
        Self::NotFound { code, message: message.into() }
    }
    pub fn conflict(code: &'static str, message: impl Into<Text>) -> Self {
        Self::Conflict { code, message: message.into() }
    }
    pub fn payment_required(code: &'static str, message: impl Into<Text>) -> Self {
        Self::PaymentRequired { code, message: message.into() }
    }
    pub fn precondition(code: &'static str, message: impl Into<Text>) -> Self {
        Self::PreconditionFailed { code, message: message.into() }
    }
    /// 503 `code` with a reason the client may read; retry after `retry_after_secs`.
    pub fn unavailable(code: &'static str, message: impl Into<Text>, retry_after_secs: u64) -> Self {
        Self::UnavailableBecause { code, message: message.into(), retry_after_secs }
    }
    pub fn invalid(path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Validation { message: message.clone().into(), fields: vec![FieldError::new(path, message)] }
    }
    /// 422 `code`, naming `path`.
    pub fn unprocessable(code: &'static str, path: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Self::Unprocessable { code, message: message.clone().into(), fields: vec![FieldError::new(path, message)] }
    }
    pub fn validation(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("{}: {}", one.path, one.message),
            _ => "Validation failed".to_owned(),
        };
        Self::Validation { message: message.into(), fields }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::FlowState { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } | Self::Busy { .. } => StatusCode::CONFLICT,
            Self::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            Self::PreconditionFailed { .. } | Self::StaleVersion { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PreconditionRequired { .. } => StatusCode::PRECONDITION_REQUIRED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Validation { .. } | Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::UnavailableBecause { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway => StatusCode::BAD_GATEWAY,
            Self::HostTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Db(e) if is_unavailable(e) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(e) if is_bad_input(e) => StatusCode::BAD_REQUEST,
            Self::Db(e) if is_gone_meanwhile(e) => StatusCode::CONFLICT,
            Self::Db(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::FlowState { code, .. }
            | Self::Unauthenticated { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::Busy { code, .. }
            | Self::PreconditionRequired { code, .. }
            | Self::PaymentRequired { code, .. }
            | Self::PreconditionFailed { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::UnavailableBecause { code, .. } => code,
            Self::StaleVersion { .. } => "version_mismatch",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::Validation { .. } => "validation_failed",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable { .. } => "service_unavailable",
            Self::BadGateway => "host_error",
            Self::HostTimeout => "host_timeout",
            Self::Db(e) if is_unavailable(e) => "service_unavailable",
            Self::Db(e) if is_bad_input(e) => "invalid_input",
            Self::Db(e) if is_gone_meanwhile(e) => "changed_meanwhile",
            Self::Db(_) | Self::Internal(_) => "internal_error",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after_secs }
            | Self::Unavailable { retry_after_secs }
            | Self::UnavailableBecause { retry_after_secs, .. }
            | Self::Busy { retry_after_secs, .. } => Some((*retry_after_secs).max(1)),
            Self::Db(e) if is_unavailable(e) => Some(2),
            _ => None,
        }
    }

    /// `<status> <code>: <message>`, as a client may read it (where no envelope goes: the event
    /// stream's connect error).
    pub fn client_text(&self) -> String {
        format!("{} {}: {}", self.status().as_u16(), self.code(), self.public_message())
    }

    /// What the client may read. 5xx details stay in the log.
    fn public_message(&self) -> String {
        match self {
            Self::Db(e) if is_unavailable(e) => "The service is temporarily unavailable; retry shortly".into(),
            Self::Db(e) if is_bad_input(e) => "The request contains a value that cannot be stored".into(),
            Self::Db(e) if is_gone_meanwhile(e) => "Something this request refers to changed meanwhile; retry".into(),
            Self::Db(_) | Self::Internal(_) => "Internal server error".into(),
            Self::RateLimited { .. } => "Too many requests; retry later".into(),
            Self::Unavailable { .. } => "The service is temporarily unavailable; retry shortly".into(),
            Self::BadGateway => "The container host failed to carry out the operation".into(),
            Self::HostTimeout => "The container host did not answer in time".into(),
            Self::MethodNotAllowed => "Method not allowed".into(),
            Self::StaleVersion { current } => {
                format!("The document changed meanwhile: it is at version {current}; read it and retry with if-match: file:v{current}")
            }
            Self::PayloadTooLarge => "Request body is larger than 1 MiB".into(),
            Self::UnsupportedMediaType => "Expected a JSON body with Content-Type: application/json".into(),
            other => other.to_string(),
        }
    }
}

static DB_UNAVAILABLE: telemetry::Throttle = telemetry::Throttle::new(Duration::from_secs(10));
static DEPENDENCY_UNAVAILABLE: telemetry::Throttle = telemetry::Throttle::new(Duration::from_secs(10));

/// Pool timeouts and lost connections: the database is away, not the request wrong.
pub(crate) fn is_unavailable(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_))
        || e.as_database_error().and_then(|d| d.code()).is_some_and(|c| {
            // admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections; and a
            // deadlock or serialization failure, which a retry resolves
            matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300" | "40P01" | "40001")
        })
}

/// A row this request refers to was deleted by another request meanwhile (a foreign key), or a
/// row it read is gone (`RowNotFound`): a race, answered 409 so the client retries.
fn is_gone_meanwhile(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::RowNotFound)
        || e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c.as_ref() == "23503")
}

/// Input PostgreSQL refuses as data (a NUL byte, an unrepresentable character, a number out of
/// range) is the client's mistake: 400, never 500.
fn is_bad_input(e: &sqlx::Error) -> bool {
    e.as_database_error().and_then(|d| d.code()).is_some_and(|c| {
        // character_not_in_repertoire, untranslatable_character, numeric_value_out_of_range,
        // invalid_text_representation, string_data_right_truncation, invalid_escape_sequence,
        // invalid_escape_character (a LIKE pattern ending in a backslash)
        matches!(c.as_ref(), "22021" | "22P05" | "22003" | "22P02" | "22001" | "22025" | "2201B")
    })
}

/// Build the envelope for a status, used by the error type and by the middleware that wraps
/// bodies produced outside our handlers (timeouts, panics, the body limit).
pub fn error_response(
    status: StatusCode,
    code: &str,
    message: String,
    retry_after: Option<u64>,
    fields: Vec<FieldError>,
) -> Response {
    error_response_with(status, code, message, retry_after, fields, None, None)
}

/// [`error_response`] with a versioned document's current version in `details`.
pub fn error_response_with(
    status: StatusCode,
    code: &str,
    message: String,
    retry_after: Option<u64>,
    fields: Vec<FieldError>,
    current_file_version: Option<i64>,
    data: Option<serde_json::Value>,
) -> Response {
    let body = ErrorBody {
        status_code: status.as_u16(),
        message,
        code: code.to_owned(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        data,
        request_id: telemetry::current_request_id(),
        retry_after,
        details: (!fields.is_empty() || current_file_version.is_some())
            .then_some(ErrorDetails { fields, current_file_version }),
    };
    let mut res = crate::envelope::json_response(status, &body);
    if let Some(secs) = retry_after {
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    if status == StatusCode::UNAUTHORIZED {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    res
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            match &self {
                // While the database is away every request fails the same way: one line per 10 s,
                // with the number held back since the last one.
                Self::Db(e) if is_unavailable(e) => {
                    if let Some(suppressed) = DB_UNAVAILABLE.admit() {
                        tracing::warn!(error = %e, suppressed, "database unavailable")
                    }
                }
                Self::Unavailable { .. } => {
                    if let Some(suppressed) = DEPENDENCY_UNAVAILABLE.admit() {
                        tracing::warn!(suppressed, "dependency unavailable")
                    }
                }
                other => tracing::error!(error = ?other, "request failed"),
            }
        }
        let fields = match &self {
            Self::BadRequest { fields, .. } | Self::Validation { fields, .. } | Self::Unprocessable { fields, .. } => {
                fields.clone()
            }
            _ => Vec::new(),
        };
        let current = match &self {
            Self::StaleVersion { current } => Some(*current),
            _ => None,
        };
        let data = match &self {
            Self::FlowState { code, .. } => Some(serde_json::json!({ "error": code })),
            _ => None,
        };
        error_response_with(status, self.code(), self.public_message(), self.retry_after(), fields, current, data)
    }
}

/// Map a named unique constraint to a 409 (Launchbadge's `on_constraint`).
pub trait ResultExt<T> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> ApiError) -> Result<T>;
}

impl<T, E: Into<ApiError>> ResultExt<T> for std::result::Result<T, E> {
    fn on_constraint(self, name: &str, f: impl FnOnce() -> ApiError) -> Result<T> {
        self.map_err(|e| match e.into() {
            ApiError::Db(sqlx::Error::Database(d)) if d.constraint() == Some(name) => f(),
            other => other,
        })
    }
}
