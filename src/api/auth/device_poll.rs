//! The CLI's half of the device flow (`hoody login --web`), with RFC 8628 semantics: start a
//! device authorization, then poll until a person approved it on the verification page. The
//! tokens are minted at the poll, once.

use crate::secret::Secret;
use axum::{body::Bytes, extract::State, http::HeaderMap};
use rand::Rng;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    device::{enabled, CODE_TTL, USER_CODE_ALPHABET},
    dto::SessionOut,
};
use crate::{
    auth::{limits, pkce, secrets},
    db::{device as db_device, new_id, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{parse_json, ClientIp, Json},
    state::AppState,
};

/// How often the CLI may poll. A faster poll gets `slow_down`; the interval stays 5 s.
pub const INTERVAL: chrono::Duration = chrono::Duration::seconds(5);
/// The window of the per-IP flood guard on starts and polls.
const FLOOD_WINDOW: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "client": "cli",
    "client_name": "hoody CLI on ada-laptop",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSZ8vjHc"
}))]
pub struct DeviceCodeIn {
    /// Shown on the verification page ("hoody CLI on ada-laptop"); up to 100 characters.
    pub client_name: Option<String>,
    /// The client kind (`cli`); up to 50 characters.
    pub client: Option<String>,
    /// PKCE S256 challenge; the polls must then bring its `code_verifier`.
    pub code_challenge: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceCodeOut {
    /// The CLI's secret: poll `POST /auth/device/token` with it.
    pub device_code: String,
    /// What the person types on the verification page: `XXXX-XXXX`.
    pub user_code: String,
    pub verification_uri: String,
    /// The page with the code filled in.
    pub verification_uri_complete: String,
    /// Seconds between polls.
    pub interval: i64,
    /// Seconds the codes stay valid.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "device_code": "dc_8b1e4f6a2c9d47e3a5f0b7c6d1e2f3a4",
    "code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
}))]
pub struct DeviceTokenIn {
    pub device_code: Secret,
    /// Required when the start sent a `code_challenge`.
    pub code_verifier: Option<Secret>,
}

/// The polling answers that are not tokens: 400 with the reason in `code` and `data.error`.
fn flow(code: &'static str, message: &'static str) -> ApiError {
    ApiError::FlowState { code, message: message.into() }
}

fn check_text(path: &str, v: Option<&str>, max: usize, errs: &mut Vec<FieldError>) {
    if let Some(v) = v {
        if v.trim().is_empty() || v.chars().count() > max || v.chars().any(char::is_control) {
            errs.push(FieldError::new(path, format!("must be 1–{max} printable characters")));
        }
    }
}

fn new_user_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..8).map(|_| USER_CODE_ALPHABET[rng.gen_range(0..USER_CODE_ALPHABET.len())] as char).collect()
}

/// Start a device authorization flow (RFC-8628-inspired)
///
/// Public. Returns the `device_code` the CLI polls with and a short `user_code` for a person to
/// type at `verification_uri`; both live 10 minutes. Poll every `interval` seconds.
#[utoipa::path(post, path = "/auth/device/code", tag = "authentication", request_body = DeviceCodeIn,
    responses((status = 200, body = Envelope<DeviceCodeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn start_device_authorization(
    State(st): State<AppState>,
    client: ClientIp,
    body: Bytes,
) -> Result<ApiOk<DeviceCodeOut>> {
    enabled(&st)?;
    // Every field is optional, and so is the body.
    let input: DeviceCodeIn =
        if body.iter().all(u8::is_ascii_whitespace) { DeviceCodeIn::default() } else { parse_json(&body)? };
    let mut errs = Vec::new();
    check_text("client_name", input.client_name.as_deref(), 100, &mut errs);
    check_text("client", input.client.as_deref(), 50, &mut errs);
    if input.code_challenge.as_deref().is_some_and(|c| !pkce::valid_challenge(c)) {
        errs.push(FieldError::new("code_challenge", "must be an S256 challenge (43 base64url characters)"));
    }
    if !errs.is_empty() {
        return Err(ApiError::validation(errs));
    }
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("device:ip:{}", client.ip), lim.device_requests_per_ip, FLOOD_WINDOW).await?;

    let device_code = secrets::random_token();
    // A user code may collide with a live one (20^8 codes): draw again.
    for _ in 0..5 {
        let user_code = new_user_code();
        let new = db_device::NewDevice {
            device_id: &new_id(),
            device_code_hash: &secrets::sha256(&device_code),
            user_code_hash: &secrets::sha256(&user_code),
            client_name: input.client_name.as_deref().map(str::trim),
            client: input.client.as_deref().map(str::trim),
            code_challenge: input.code_challenge.as_deref(),
            ttl: CODE_TTL,
        };
        if db_device::insert(&st.db, &new).await? {
            let shown = format!("{}-{}", &user_code[..4], &user_code[4..]);
            let page = st.cfg.device_page();
            let out = DeviceCodeOut {
                device_code,
                verification_uri_complete: format!("{page}?user_code={shown}"),
                verification_uri: page,
                user_code: shown,
                interval: INTERVAL.num_seconds(),
                expires_in: CODE_TTL.num_seconds(),
            };
            return Ok(ApiOk::new("Open verification_uri and enter user_code", out));
        }
    }
    Err(anyhow::anyhow!("no free user code after 5 draws").into())
}

/// Poll for device-flow tokens (RFC-8628-inspired)
///
/// Public. Until a person decides: 400 with `data.error` `authorization_pending`; polled faster
/// than every 5 s: `slow_down`; refused: `access_denied`; past 10 minutes, already delivered, or
/// the approver signed out everywhere since: `expired_token`. Approved: the session, delivered
/// once.
#[utoipa::path(post, path = "/auth/device/token", tag = "authentication", request_body = DeviceTokenIn,
    responses((status = 200, body = Envelope<SessionOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn poll_device_token(
    State(st): State<AppState>,
    client: ClientIp,
    headers: HeaderMap,
    Json(input): Json<DeviceTokenIn>,
) -> Result<ApiOk<SessionOut>> {
    enabled(&st)?;
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("device:ip:{}", client.ip), lim.device_requests_per_ip, FLOOD_WINDOW).await?;
    let unknown = || flow("invalid_grant", "Unknown device_code");
    if input.device_code.len() != 64 || !input.device_code.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(unknown());
    }
    // The row lock orders concurrent polls of one device: one of them delivers, the rest see
    // `slow_down` or a spent row.
    let mut tx = st.db.begin().await?;
    let row = db_device::lock_for_poll(&mut *tx, &secrets::sha256(&input.device_code), INTERVAL).await?;
    let row = row.ok_or_else(unknown)?;
    db_device::mark_polled(&mut *tx, &row.device_id).await?;
    let refusal = if let Some(challenge) = &row.code_challenge {
        let ok = input.code_verifier.as_deref().is_some_and(|v| pkce::verifies(v, challenge));
        (!ok).then(|| flow("invalid_grant", "code_verifier does not match the code_challenge"))
    } else {
        None
    }
    .or_else(|| row.too_fast.then(|| flow("slow_down", "Polling too fast; wait 5 seconds between polls")))
    .or_else(|| row.expired.then(|| flow("expired_token", "The device code expired; start again")))
    .or_else(|| match row.status.as_str() {
        "pending" => Some(flow("authorization_pending", "Waiting for the user to approve this device")),
        "denied" => Some(flow("access_denied", "The user refused this device")),
        "approved" => None,
        _ => Some(flow("expired_token", "The device code was already used; start again")),
    });
    if let Some(e) = refusal {
        tx.commit().await?;
        return Err(e);
    }
    let user_id = row.user_id.as_deref().ok_or_else(|| anyhow::anyhow!("approved device without a user"))?;
    let user = users::by_id(&mut *tx, user_id).await?.ok_or_else(unknown)?;
    // Signed out everywhere (logout-all, password reset) after approving: the approval is void.
    if Some(user.session_generation) != row.approved_generation || user.is_banned {
        db_device::void(&mut *tx, &row.device_id).await?;
        tx.commit().await?;
        if user.is_banned {
            return Err(ApiError::forbidden("account_banned", "This account is banned"));
        }
        return Err(flow("expired_token", "The approving session was signed out; start again"));
    }
    db_device::consume(&mut *tx, &row.device_id).await?;
    let tokens = crate::auth::sessions::start(&st, &mut tx, &user.user_id, user.session_generation).await?;
    let user_agent = headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok());
    let via = row.client.as_deref().unwrap_or("device");
    crate::signals::record_login(&mut tx, &user.user_id, &client.ip.to_string(), user_agent, Some(via)).await?;
    tx.commit().await?;
    let out = SessionOut::new(&st, tokens, &user).await?;
    Ok(ApiOk::new("Device authorized", out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::auth::device::normalize_user_code;

    #[test]
    fn user_codes_use_the_unambiguous_alphabet_and_normalise() {
        for _ in 0..100 {
            let c = new_user_code();
            assert_eq!(c.len(), 8);
            assert!(c.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)), "{c}");
            let shown = format!("{}-{}", &c[..4], &c[4..]);
            assert_eq!(normalize_user_code(&shown.to_lowercase()).as_deref(), Some(c.as_str()));
        }
        assert!(normalize_user_code("BCDF-GHJ0").is_none(), "0 is not in the alphabet");
        assert!(normalize_user_code("BCDF-GHJ").is_none());
        assert!(normalize_user_code("AEIO-UBCD").is_none(), "no vowels");
    }
}
