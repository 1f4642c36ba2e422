//! The verification page's half of the device flow: a person types the user code, gets a
//! single-use ticket bound to this browser by the `__Host-device_verify` cookie, then signs in
//! (password and 2FA, or GitHub/Google) to approve the device, or refuses it. Nothing here
//! hands out tokens: only the CLI's poll does (see `device_poll`).

use crate::secret::Secret;
use axum::{
    extract::State,
    http::{header, HeaderMap},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{
    login::{check_password, credentials},
    oauth::{self, begin, launch_cookie_name, redirect},
};
use crate::{
    auth::{cookie, oauth::Provider, second_factor, secrets},
    db::{device as db_device, two_factor, users::UserRow},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::{ClientIp, Json, Query},
    state::AppState,
};

/// How long a device authorization (and its user code) lives.
pub const CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);
/// RFC 8628's user-code alphabet: 20 consonants, no vowels (no words), no look-alikes (0/O, 1/I).
pub const USER_CODE_ALPHABET: &[u8] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Binds the page's ticket to the browser that typed the code.
pub const COOKIE: &str = "__Host-device_verify";

/// The device routes answer 404 while `HOODY_DEVICE_FLOW` is off.
pub fn enabled(st: &AppState) -> Result<()> {
    if st.cfg.device_flow {
        Ok(())
    } else {
        Err(ApiError::not_found("device_flow_disabled", "The device flow is switched off on this server"))
    }
}

/// `bcdf-ghjk`, `BCDF GHJK`, `BCDFGHJK` → `BCDFGHJK`; `None` unless 8 letters of the alphabet.
pub fn normalize_user_code(input: &str) -> Option<String> {
    let code: String =
        input.chars().filter(|c| *c != '-' && !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == 8 && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b))).then_some(code)
}

fn invalid_ticket() -> ApiError {
    ApiError::bad_request(
        "invalid_ticket",
        "Unknown, expired or already used device ticket, or another browser: enter the code again",
    )
}

/// A ticket as the page sends it: 64 hex characters (422 naming `ticket` otherwise).
fn ticket_hash(ticket: &str) -> Result<Vec<u8>> {
    if ticket.len() != 64 || !ticket.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid("ticket", "must be the 64 hex characters verify_code returned"));
    }
    Ok(secrets::sha256(ticket))
}

/// The pending device a page step's ticket and this browser's cookie open together.
async fn live_device(st: &AppState, headers: &HeaderMap, ticket: &str) -> Result<(String, Vec<u8>, Vec<u8>)> {
    let ticket = ticket_hash(ticket)?;
    let browser = secrets::sha256(cookie::get(headers, COOKIE).ok_or_else(invalid_ticket)?);
    let device_id = db_device::by_ticket(&st.db, &ticket, &browser).await?;
    Ok((device_id.ok_or_else(invalid_ticket)?, ticket, browser))
}

/// Spend the page's ticket of a pending device (a sign-in moved on to 2FA or to a provider).
async fn spend_ticket(st: &AppState, ticket: &[u8], browser: &[u8]) -> Result<String> {
    db_device::spend_ticket(&st.db, ticket, browser).await?.ok_or_else(invalid_ticket)
}

/// Approve a pending device for `user` (and, when given, only while `ticket` is still its
/// ticket); false when it is no longer pending. The user's session generation is recorded: a
/// logout-all before the poll voids the approval.
pub async fn approve(db: &sqlx::PgPool, device_id: &str, user: &UserRow, ticket: Option<&[u8]>) -> Result<bool> {
    Ok(db_device::approve(db, device_id, &user.user_id, user.session_generation, ticket).await?)
}

/// What an OAuth sign-in begun on the verification page leads to.
pub enum Approval {
    Approved,
    /// The account has 2FA on: the page continues with this `temp_token`.
    TwoFactor(String),
    /// The device expired or was decided meanwhile.
    Gone,
}

/// The provider signed `user` in from the verification page of `device_id`.
pub async fn approve_after_oauth(st: &AppState, device_id: &str, user: &UserRow) -> Result<Approval> {
    if two_factor::enabled(&st.db, &user.user_id).await? {
        if !db_device::is_pending(&st.db, device_id).await? {
            return Ok(Approval::Gone);
        }
        return Ok(Approval::TwoFactor(second_factor::new_device_challenge(&st.db, &user.user_id, device_id).await?));
    }
    Ok(if approve(&st.db, device_id, user, None).await? { Approval::Approved } else { Approval::Gone })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"user_code": "WDJB-MJHT"}))]
pub struct VerifyCodeIn {
    /// The code the CLI shows, `XXXX-XXXX` (case, dash and spaces do not matter).
    pub user_code: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VerifyCodeOut {
    /// Single use; send it with the next step (login, deny or authorize) from this browser.
    pub device_verify_ticket: String,
    /// The name the CLI gave itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// `pending`.
    pub status: &'static str,
    /// Seconds the device authorization has left.
    pub expires_in: i64,
}

/// Confirm a device user_code (verification page)
///
/// A live, pending code answers a single-use `device_verify_ticket` and sets the
/// `__Host-device_verify` cookie that must come with it. Wrong codes are limited per client IP.
#[utoipa::path(post, path = "/auth/device/verify_code", tag = "authentication", request_body = VerifyCodeIn,
    responses((status = 200, body = Envelope<VerifyCodeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn verify_device_code(
    State(st): State<AppState>,
    client: ClientIp,
    Json(input): Json<VerifyCodeIn>,
) -> Result<Response> {
    enabled(&st)?;
    let code = normalize_user_code(&input.user_code)
        .ok_or_else(|| ApiError::invalid("user_code", "must be the 8-letter code the CLI shows (XXXX-XXXX)"))?;
    // Every guess counts until it turns out right, so no more than the limit of wrong codes per
    // address reach the table, on any replica.
    let bucket = format!("device_code:ip:{}", client.ip);
    crate::auth::limits::hit(&st.db, &bucket, st.cfg.limits.device_code_failures_per_ip, crate::auth::limits::HOUR)
        .await?;
    let (ticket, browser) = (secrets::random_token(), secrets::random_token());
    let (code_hash, ticket_hash, browser_hash) =
        (secrets::sha256(&code), secrets::sha256(&ticket), secrets::sha256(&browser));
    let found = db_device::open_by_user_code(&st.db, &code_hash, &ticket_hash, &browser_hash).await?;
    let (client_name, expires_in) =
        found.ok_or_else(|| ApiError::bad_request("invalid_user_code", "Unknown or expired code"))?;
    crate::auth::limits::undo(&st.db, &bucket).await?;
    let set = cookie::set(COOKIE, &browser, expires_in)?;
    let out = VerifyCodeOut { device_verify_ticket: ticket, client_name, status: "pending", expires_in };
    Ok(([(header::SET_COOKIE, set)], ApiOk::new("Code accepted; sign in to approve the device", out)).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "ticket": "dvt_2f7c9a41e0b84d6f9c3a5e17b2d8f604",
    "email": "ada@example.com",
    "password": "Correct-Horse-42!"
}))]
pub struct DeviceLoginIn {
    pub ticket: Secret,
    /// Username (case-sensitive), or use `email`.
    pub username: Option<String>,
    pub email: Option<String>,
    pub password: Secret,
}

/// `{status: "approved"}`, or the 2FA step `{requires_2fa, temp_token}` (for
/// `POST /users/auth/2fa/verify`, which then approves the device).
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct DeviceStepOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub requires_2fa: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub temp_token: Option<String>,
}

impl DeviceStepOut {
    pub fn status(s: &'static str) -> Self {
        Self { status: Some(s), ..Self::default() }
    }
}

/// Schema failures of a page step are 422 (the page's contract), not the usual 400.
fn schema_422<T>(body: Result<Json<T>>) -> Result<T> {
    match body {
        Ok(Json(v)) => Ok(v),
        Err(ApiError::BadRequest { code: "invalid_body", fields, .. }) => Err(ApiError::validation(fields)),
        Err(e) => Err(e),
    }
}

/// Password sign-in for the device authorize step (cookie + ticket gated)
///
/// The same checks and limits as `POST /users/auth/login` (the per-account throttle is shared).
/// Never returns tokens: without 2FA the device is approved (`{status: "approved"}`); with 2FA the
/// answer is `{requires_2fa, temp_token}` for `POST /users/auth/2fa/verify`. Wrong credentials do
/// not use up the ticket.
#[utoipa::path(post, path = "/auth/device/login", tag = "authentication", request_body = DeviceLoginIn,
    responses((status = 200, body = Envelope<DeviceStepOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn login_device(
    State(st): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    body: Result<Json<DeviceLoginIn>, ApiError>,
) -> Result<Response> {
    enabled(&st)?;
    let input = schema_422(body)?;
    let (device_id, ticket, browser) = live_device(&st, &headers, &input.ticket).await?;
    let (identifier, password) =
        credentials(input.username.as_deref(), input.email.as_deref(), Some(input.password.into_inner()))?;
    let user = check_password(&st, client, &headers, &identifier, password).await?;
    let clear = cookie::clear(COOKIE).map(|v| [(header::SET_COOKIE, v)]);
    if two_factor::enabled(&st.db, &user.user_id).await? {
        spend_ticket(&st, &ticket, &browser).await?;
        let temp_token = second_factor::new_device_challenge(&st.db, &user.user_id, &device_id).await?;
        let out = DeviceStepOut { requires_2fa: Some(true), temp_token: Some(temp_token), ..Default::default() };
        return Ok((clear, ApiOk::new("Two-factor verification required", out)).into_response());
    }
    if !approve(&st.db, &device_id, &user, Some(&ticket)).await? {
        return Err(invalid_ticket());
    }
    Ok((clear, ApiOk::new("Device approved", DeviceStepOut::status("approved"))).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"ticket": "dvt_2f7c9a41e0b84d6f9c3a5e17b2d8f604"}))]
pub struct DenyIn {
    pub ticket: Secret,
}

/// Refuse the device ('Don't authorize')
///
/// Ticket and cookie, no credentials. A pending device becomes denied and its polls answer
/// `access_denied`; an approved one stays approved.
#[utoipa::path(post, path = "/auth/device/deny", tag = "authentication", request_body = DenyIn,
    responses((status = 200, body = Envelope<DeviceStepOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn deny_device(
    State(st): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<DenyIn>, ApiError>,
) -> Result<Response> {
    enabled(&st)?;
    let input = schema_422(body)?;
    let (device_id, ticket, _) = live_device(&st, &headers, &input.ticket).await?;
    if !db_device::deny(&st.db, &device_id, &ticket).await? {
        return Err(invalid_ticket());
    }
    let clear = cookie::clear(COOKIE).map(|v| [(header::SET_COOKIE, v)]);
    Ok((clear, ApiOk::new("Device refused", DeviceStepOut::status("denied"))).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeviceAuthorizeQuery {
    /// The `device_verify_ticket` from verify_code (64 hex characters).
    pub ticket: Option<Secret>,
    /// `github` or `google`.
    pub provider: Option<String>,
}

/// Start the device-leg OAuth (cookie + ticket gated)
///
/// Spends the ticket and sends the browser to the provider; the provider's callback approves the
/// device (or continues with the 2FA step) and ends on the verification page with the outcome in
/// the fragment. A provider that is not configured sends the page `?error=provider_unavailable`
/// and leaves the ticket unspent.
#[utoipa::path(get, path = "/auth/device/authorize", tag = "authentication", params(DeviceAuthorizeQuery),
    responses((status = 302, description = "To the provider, or back to the verification page"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn authorize_device(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DeviceAuthorizeQuery>,
) -> Result<Response> {
    enabled(&st)?;
    let provider = match q.provider.as_deref() {
        Some("github") => Provider::Github,
        Some("google") => Provider::Google,
        _ => return Err(ApiError::invalid("provider", "must be github or google")),
    };
    let (_, ticket, browser) = live_device(&st, &headers, q.ticket.as_deref().map_or("", String::as_str)).await?;
    let page = st.cfg.device_page();
    if !oauth::configured(&st, provider) {
        return Ok(redirect(&format!("{page}?error=provider_unavailable")));
    }
    let device_id = spend_ticket(&st, &ticket, &browser).await?;
    // Like the popup hand-off: the attempt's `__Host-` cookie proves at the callback that the
    // browser coming back is the one that started.
    let state_id = uuid::Uuid::new_v4().to_string();
    let mut res = begin(&st, provider, &page, "", "device", Some(&state_id), Some(&device_id)).await?;
    let attempt = cookie::set(&launch_cookie_name(&state_id), "1", CODE_TTL.num_seconds())?;
    res.headers_mut().append(header::SET_COOKIE, attempt);
    if let Some(v) = cookie::clear(COOKIE) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}
