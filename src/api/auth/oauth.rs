//! OAuth sign-in with GitHub and Google: redirect to the provider with a single-use state bound
//! to the client's `redirect_uri` (exact allowlist) and PKCE challenge; the callback signs the
//! user in and ends in intent mode (or the 2FA step) toward `redirect_uri`.

use axum::{
    extract::State,
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{device, intent::new_intent, signup::insert_with_fresh_username};
use crate::{
    auth::{
        cookie,
        jwt::TokenType,
        oauth::{self, Profile, Provider},
        pkce, second_factor, secrets,
    },
    config::OAuthProvider,
    db::{email_tokens, new_id, oauth as db_oauth, two_factor, users},
    error::{ApiError, ErrorBody, Result},
    extract::Query,
    state::AppState,
};

const STATE_TTL: chrono::Duration = chrono::Duration::minutes(10);

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuthorizeQuery {
    /// `login` (default), or `star_check` on GitHub: also record whether the user stars the
    /// project's repository (`starred` comes back in the fragment).
    pub intent: Option<String>,
    /// Where the browser returns after sign-in; must be on the allowlist exactly.
    pub redirect_uri: Option<String>,
    /// PKCE S256 challenge (43 base64url characters).
    pub code_challenge: Option<String>,
    /// Accepted for the clients; unused.
    #[allow(dead_code)]
    pub client: Option<String>,
    /// Accepted for the clients; unused.
    #[allow(dead_code)]
    pub invite_code: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The provider's authorization code, exchanged once for the user's identity.
    pub code: Option<String>,
    /// The `state` this server issued when the sign-in started (valid 10 minutes).
    pub state: Option<String>,
    /// Set by the provider when the user declined.
    pub error: Option<String>,
    /// Set by the provider with `error`: its explanation; accepted and ignored.
    #[allow(dead_code)]
    pub error_description: Option<String>,
    /// Set by the provider with `error`: a page about it; accepted and ignored.
    #[allow(dead_code)]
    pub error_uri: Option<String>,
}

fn settings(st: &AppState, which: Provider) -> &OAuthProvider {
    match which {
        Provider::Github => &st.cfg.github,
        Provider::Google => &st.cfg.google,
    }
}

/// Whether `which` has its client credentials set.
pub fn configured(st: &AppState, which: Provider) -> bool {
    let p = settings(st, which);
    p.client_id.is_some() && p.client_secret.is_some()
}

fn callback_url(st: &AppState, which: Provider) -> String {
    format!("{}/api/v1/auth/{}/callback", st.cfg.public_url, which.name())
}

pub fn redirect(to: &str) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to.to_owned())]).into_response()
}

/// `redirect_uri#k=v&…`, values percent-encoded.
fn with_fragment(base: &str, params: &[(&str, &str)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let frag: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", enc(v))).collect();
    format!("{base}#{}", frag.join("&"))
}

async fn authorize(st: &AppState, which: Provider, q: AuthorizeQuery) -> Result<Response> {
    let p = settings(st, which);
    if p.client_id.is_none() || p.client_secret.is_none() {
        return Err(ApiError::precondition("provider_not_configured", "This sign-in provider is not configured"));
    }
    let intent = q.intent.as_deref().unwrap_or("login");
    match (intent, which) {
        ("login", _) => {}
        ("star_check", Provider::Github) if p.star_repo.is_some() => {}
        ("star_check", Provider::Github) => {
            return Err(ApiError::precondition("star_check_not_configured", "HOODY_GITHUB_STAR_REPO is not set"));
        }
        _ => return Err(ApiError::invalid("intent", "intent must be login (or star_check on GitHub)")),
    }
    let redirect_uri = q.redirect_uri.as_deref().unwrap_or("");
    // Exact match only: no prefixes, no look-alike hosts, no decoding.
    if !st.cfg.oauth_redirects.iter().any(|allowed| allowed == redirect_uri) {
        return Err(ApiError::invalid("redirect_uri", "redirect_uri is not on the allowlist"));
    }
    let challenge = q.code_challenge.as_deref().unwrap_or("");
    if !pkce::valid_challenge(challenge) {
        return Err(ApiError::invalid(
            "code_challenge",
            "code_challenge must be an S256 challenge (43 base64url characters)",
        ));
    }
    begin(st, which, redirect_uri, challenge, intent, None, None).await
}

/// Store a single-use state bound to where the sign-in returns and to its PKCE challenge (and, for
/// a popup hand-off, to its `state_id`; for the device verification page, to its device), then
/// send the browser to the provider.
pub async fn begin(
    st: &AppState,
    which: Provider,
    redirect_uri: &str,
    challenge: &str,
    intent: &str,
    state_id: Option<&str>,
    device_id: Option<&str>,
) -> Result<Response> {
    let p = settings(st, which);
    let Some(client_id) = p.client_id.as_deref().filter(|_| p.client_secret.is_some()) else {
        return Err(ApiError::precondition("provider_not_configured", "This sign-in provider is not configured"));
    };
    // A signed, expiring JWT (typ oauth_state, sub = provider), also recorded so it works once.
    let state = st.jwt.issue(which.name(), TokenType::OauthState, 0)?.token;
    let new = db_oauth::NewState {
        state_hash: &secrets::sha256(&state),
        provider: which.name(),
        redirect_uri,
        code_challenge: challenge,
        intent,
        ttl: STATE_TTL,
        state_id,
        device_id,
    };
    db_oauth::insert_state(&st.db, &new).await?;
    let url = reqwest::Url::parse_with_params(
        &p.authorize_url,
        &[
            ("client_id", client_id),
            ("redirect_uri", &callback_url(st, which)),
            ("response_type", "code"),
            ("scope", &p.scope),
            ("state", &state),
        ],
    )
    .map_err(|e| anyhow::anyhow!("bad authorize URL setting: {e}"))?;
    Ok(redirect(url.as_str()))
}

/// The cookie that ties a popup hand-off to the browser that started it.
pub fn launch_cookie_name(state_id: &str) -> String {
    format!("__Host-hoody-oauth-{state_id}")
}

async fn callback(st: &AppState, which: Provider, q: CallbackQuery, headers: &HeaderMap) -> Result<Response> {
    let invalid = || ApiError::bad_request("invalid_state", "Unknown, expired or already used OAuth state");
    let state = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 2048).ok_or_else(invalid)?;
    if st.jwt.verify(state, TokenType::OauthState).is_none_or(|c| c.sub != which.name()) {
        return Err(invalid());
    }
    let found = db_oauth::spend_state(&st.db, &secrets::sha256(state), which.name()).await?;
    let db_oauth::SpentState { redirect_uri, code_challenge: challenge, state_id, intent, device_id } =
        found.ok_or_else(invalid)?;
    let state_id = state_id.as_deref();
    // Every answer names the popup attempt (for the opener's message filter) and clears its cookie.
    let back = |params: &[(&str, &str)]| {
        let mut all: Vec<(&str, &str)> = params.to_vec();
        if let Some(id) = state_id {
            all.push(("state_id", id));
        }
        let mut res = redirect(&with_fragment(&redirect_uri, &all));
        if let Some(v) = state_id.and_then(|id| cookie::clear(&launch_cookie_name(id))) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
        res
    };
    let fail = |error: &str| Ok(back(&[("error", error)]));
    if state_id.is_some_and(|id| cookie::get(headers, &launch_cookie_name(id)).is_none()) {
        return fail("browser_mismatch");
    }
    let Some(code) = q.code.as_deref().filter(|c| q.error.is_none() && !c.is_empty()) else {
        return fail("access_denied");
    };
    let p = settings(st, which);
    let http = oauth::client();
    let signed_in = match oauth::exchange_code(&http, p, code, &callback_url(st, which)).await {
        Ok(token) => oauth::profile(&http, which, p, &token).await.map(|profile| (token, profile)),
        Err(e) => Err(e),
    };
    let (token, profile) = match signed_in {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(provider = which.name(), error = %e, "OAuth sign-in failed at the provider");
            return fail("provider_error");
        }
    };
    let Some(user_id) = account_for(st, which, &profile).await? else { return fail("email_required") };
    let user = users::by_id(&st.db, &user_id).await?.ok_or_else(|| anyhow::anyhow!("linked user vanished"))?;
    if user.is_banned {
        return fail("account_banned");
    }
    // Begun on the device verification page: the sign-in approves that device (or hands the
    // page its 2FA step); the tokens go to the polling CLI, never to this browser.
    if let Some(device_id) = device_id.as_deref() {
        return Ok(match device::approve_after_oauth(st, device_id, &user).await? {
            device::Approval::Approved => back(&[("status", "approved")]),
            device::Approval::TwoFactor(temp) => {
                back(&[("requires_2fa", "true"), ("temp_token", temp.as_str()), ("method", "totp")])
            }
            device::Approval::Gone => back(&[("error", "expired_token")]),
        });
    }
    let mut star: Vec<(&str, &str)> = Vec::new();
    if intent == "star_check" {
        match oauth::starred(&http, p, &token).await {
            Ok(starred) => {
                let repository = p.star_repo.as_deref().unwrap_or("");
                db_oauth::record_star_check(&st.db, &user.user_id, &profile.id, repository, starred).await?;
                star = vec![("star_checked", "true"), ("starred", if starred { "true" } else { "false" })];
            }
            Err(e) => {
                tracing::warn!(error = %e, "GitHub star check failed");
                star = vec![("star_checked", "false")];
            }
        }
    }
    if two_factor::enabled(&st.db, &user.user_id).await? {
        let temp = second_factor::new_challenge(&st.db, &user.user_id, Some(&challenge)).await?;
        let mut params = vec![("requires_2fa", "true"), ("temp_token", temp.as_str()), ("method", "totp")];
        params.extend(star);
        return Ok(back(&params));
    }
    let intent = new_intent(&st.db, &user.user_id, &challenge).await?;
    let mut params = vec![("auth_intent_token", intent.auth_intent_token.as_str())];
    params.extend(star);
    Ok(back(&params))
}

/// The account of a provider identity: the linked one; else the verified account with the same
/// verified address (linked now); else a new account. `None` when a new account would need an
/// address the provider does not vouch for.
async fn account_for(st: &AppState, which: Provider, profile: &Profile) -> Result<Option<String>> {
    let linked = db_oauth::linked_user(&st.db, which.name(), &profile.id).await?;
    if linked.is_some() {
        return Ok(linked);
    }
    // The provider's address in the one spelling accounts use; one we could not mail is no address.
    let email = profile.verified_email.as_deref().map(crate::auth::email::normalize);
    let Some(email) = email.as_deref().filter(|e| crate::auth::email::check(e).is_ok()) else { return Ok(None) };
    let mut tx = st.db.begin().await?;
    let user_id = match users::lock_by_email(&mut *tx, email).await? {
        Some((id, true)) => id,
        // An unverified account with this address may be an attacker's pre-registration: the
        // provider proved the mailbox, so the account is taken over by its owner, password cleared.
        Some((id, false)) => {
            users::take_over_unverified(&mut *tx, &id).await?;
            email_tokens::cancel(&mut *tx, &id, email_tokens::VERIFY).await?;
            id
        }
        None => {
            let id = new_id();
            let hint = profile.login.as_deref().unwrap_or(email);
            if !insert_with_fresh_username(&mut tx, &id, hint, email, None, None).await? {
                return Ok(None);
            }
            users::verified_by_provider(&mut *tx, &id, which.name(), profile.avatar_url.as_deref()).await?;
            id
        }
    };
    db_oauth::link(&mut *tx, which.name(), &profile.id, &user_id, profile.login.as_deref()).await?;
    tx.commit().await?;
    // First verified through the provider: the free tier (idempotent for known accounts).
    crate::lifecycle::free_tier::begin(st, &user_id, None).await;
    Ok(Some(user_id))
}

/// Redirect to GitHub OAuth
#[utoipa::path(get, path = "/auth/github", tag = "authentication", params(AuthorizeQuery),
    responses((status = 302, description = "To the provider"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn github_authorize(State(st): State<AppState>, Query(q): Query<AuthorizeQuery>) -> Result<Response> {
    authorize(&st, Provider::Github, q).await
}

/// GitHub OAuth callback
#[utoipa::path(get, path = "/auth/github/callback", tag = "authentication", params(CallbackQuery),
    responses((status = 302, description = "To redirect_uri with the auth intent (or the 2FA step, or an error) in the fragment"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn github_callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    callback(&st, Provider::Github, q, &headers).await
}

/// Redirect to Google OAuth
#[utoipa::path(get, path = "/auth/google", tag = "authentication", params(AuthorizeQuery),
    responses((status = 302, description = "To the provider"), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn google_authorize(State(st): State<AppState>, Query(q): Query<AuthorizeQuery>) -> Result<Response> {
    authorize(&st, Provider::Google, q).await
}

/// Google OAuth callback
#[utoipa::path(get, path = "/auth/google/callback", tag = "authentication", params(CallbackQuery),
    responses((status = 302, description = "To redirect_uri with the auth intent (or the 2FA step, or an error) in the fragment"),
        (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn google_callback(
    State(st): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Result<Response> {
    callback(&st, Provider::Google, q, &headers).await
}
