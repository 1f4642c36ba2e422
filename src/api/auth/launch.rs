//! The popup hand-off: the app asks for a launch URL, opens it in a popup, and the popup runs
//! the OAuth sign-in, ending on the hosted page with the auth intent and the attempt's `state_id`.

use crate::secret::Secret;
use axum::{extract::State, http::header, response::Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::oauth::{begin, launch_cookie_name};
use crate::{
    auth::{cookie, oauth::Provider, pkce, secrets},
    db::oauth as db_oauth,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Json, Query},
    state::AppState,
};

const TICKET_TTL: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LaunchProvider {
    Github,
    Google,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "provider": "github",
    "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGcSZ8vjHc",
    "state_id": "3f2b8c1e-9a4d-4e7f-b6c5-1d2e3f4a5b6c"
}))]
pub struct LaunchIn {
    pub provider: LaunchProvider,
    /// PKCE S256 challenge (43 base64url characters).
    pub code_challenge: String,
    /// Per-attempt UUID v4: names the cookie and comes back in the fragment.
    pub state_id: String,
    #[allow(dead_code)]
    pub client: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LaunchOut {
    /// Open this in the popup; it works once, within 10 minutes.
    pub launch_url: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StartQuery {
    /// The one-shot ticket from `launch_url` (64 hex characters).
    pub ticket: Secret,
}

/// A UUID v4 in its canonical lowercase form.
fn is_uuid_v4(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4 && u.hyphenated().to_string() == s)
}

/// Initiate OAuth popup-handoff launch
#[utoipa::path(post, path = "/auth/launch/initiate", tag = "authentication", request_body = LaunchIn,
    responses((status = 200, body = Envelope<LaunchOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn initiate_launch(State(st): State<AppState>, Json(input): Json<LaunchIn>) -> Result<ApiOk<LaunchOut>> {
    let mut errors = Vec::new();
    if !pkce::valid_challenge(&input.code_challenge) {
        errors.push(FieldError::new("code_challenge", "must be an S256 challenge (43 base64url characters)"));
    }
    if !is_uuid_v4(&input.state_id) {
        errors.push(FieldError::new("state_id", "must be a lowercase UUID v4"));
    }
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    if st.cfg.oauth_launch_redirect.is_none() {
        return Err(ApiError::precondition("launch_not_configured", "HOODY_OAUTH_LAUNCH_REDIRECT is not set"));
    }
    let provider = match input.provider {
        LaunchProvider::Github => Provider::Github,
        LaunchProvider::Google => Provider::Google,
    };
    let ticket = secrets::random_token();
    let hash = secrets::sha256(&ticket);
    db_oauth::insert_launch_ticket(&st.db, &hash, provider.name(), &input.code_challenge, &input.state_id, TICKET_TTL)
        .await?;
    let launch_url = format!("{}/api/v1/auth/launch/start?ticket={ticket}", st.cfg.public_url);
    Ok(ApiOk::new("Open launch_url in the popup", LaunchOut { launch_url }))
}

/// Start OAuth popup-handoff via single-use ticket
///
/// Spends the ticket, sets the attempt's `__Host-` cookie (Secure, HttpOnly, SameSite=Lax) and
/// redirects to the provider.
#[utoipa::path(get, path = "/auth/launch/start", tag = "authentication", params(StartQuery),
    responses((status = 302, description = "To the provider"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn start_launch(State(st): State<AppState>, Query(q): Query<StartQuery>) -> Result<Response> {
    let invalid = || ApiError::bad_request("invalid_ticket", "Unknown, expired or already used launch ticket");
    if q.ticket.len() != 64 || !q.ticket.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let found = db_oauth::spend_launch_ticket(&st.db, &secrets::sha256(&q.ticket)).await?;
    let (provider, challenge, state_id) = found.ok_or_else(invalid)?;
    let provider = if provider == "google" { Provider::Google } else { Provider::Github };
    let back_to = st.cfg.oauth_launch_redirect.clone().ok_or_else(invalid)?;
    let mut res = begin(&st, provider, &back_to, &challenge, "login", Some(&state_id), None).await?;
    let cookie = cookie::set(&launch_cookie_name(&state_id), "1", TICKET_TTL.num_seconds())?;
    res.headers_mut().append(header::SET_COOKIE, cookie);
    Ok(res)
}
