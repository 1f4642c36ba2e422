//! What the server sees of the caller.

use std::collections::BTreeMap;

use axum::http::{header, HeaderMap};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    auth::principal::Principal,
    db::ts,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::ClientIp,
};

/// Headers whose values are credentials: shown as `[REDACTED]`.
const REDACTED: [&str; 8] = [
    "authorization",
    "cookie",
    "set-cookie",
    "proxy-authorization",
    "x-hoody-token",
    "x-hoody-container-claim",
    "x-api-key",
    "x-auth-token",
];

#[derive(Debug, Serialize, ToSchema)]
pub struct IpOut {
    pub ip: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub headers: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub referer: Option<String>,
    pub timestamp: String,
    /// A valid session or auth token came with the request.
    pub is_logged: bool,
    /// `http` or `https` (as a trusted proxy reports it).
    pub protocol: String,
    /// Geolocation of the address; null (no geolocation database is configured).
    #[schema(value_type = Option<Object>)]
    pub ip_info: Option<serde_json::Value>,
}

/// Get IP Information
#[utoipa::path(get, path = "/ip", tag = "utilities",
    responses((status = 200, body = Envelope<IpOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_ip_info(
    me: Result<Principal, ApiError>,
    client: ClientIp,
    headers: HeaderMap,
) -> Result<ApiOk<IpOut>> {
    let is_logged = me.is_ok();
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let mut shown = BTreeMap::new();
    for (name, value) in &headers {
        let name = name.as_str();
        let value = if REDACTED.contains(&name) || name.contains("token") || name.contains("secret") {
            "[REDACTED]".to_owned()
        } else {
            String::from_utf8_lossy(value.as_bytes()).into_owned()
        };
        shown
            .entry(name.to_owned())
            .and_modify(|v: &mut String| {
                v.push_str(", ");
                v.push_str(&value)
            })
            .or_insert(value);
    }
    let protocol = if client.https { "https" } else { "http" };
    let out = IpOut {
        ip: client.ip.to_string(),
        user_agent: text(header::USER_AGENT),
        headers: shown,
        referer: text(header::REFERER),
        timestamp: ts(Utc::now()),
        is_logged,
        protocol: protocol.to_owned(),
        ip_info: None,
    };
    Ok(ApiOk::new("IP information retrieved", out))
}
