//! Who is calling. `Principal` in a handler's signature means "authenticated": a session JWT
//! (which holds every permission) or a long-lived auth token (which holds its own tree, realms,
//! IP whitelist and flags). Either way one indexed read loads the user, which also enforces
//! logout-all and bans. The request's realm comes from a `{realm_id}.` host label or
//! `?realm_id=`; realm-restricted tokens work only inside their realms.

use std::{
    net::IpAddr,
    sync::{Arc, OnceLock},
};

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts, HeaderMap},
};
use chrono::Utc;

use super::{
    jwt::{Claims, TokenType},
    tokens::{self, TokenRow},
};
use crate::{db::users::UserRow, error::ApiError, extract::ClientIp, state::AppState};

/// An auth token's `last_used_at` is kept to this many seconds: a use within them of the one
/// recorded, from the same address, is not written again.
pub const LAST_USE_STEP_SECS: i64 = 60;

pub struct Principal {
    pub user: UserRow,
    pub auth: Auth,
    /// The realm this request is scoped to, if any.
    pub realm: Option<String>,
    pub ip: IpAddr,
}

pub enum Auth {
    Session(Claims),
    Token(Box<TokenRow>),
}

impl Principal {
    pub fn token(&self) -> Option<&TokenRow> {
        match &self.auth {
            Auth::Token(t) => Some(t),
            Auth::Session(_) => None,
        }
    }

    /// The session (`sid`) of a JWT caller; `None` for an auth token.
    pub fn session_id(&self) -> Option<&str> {
        match &self.auth {
            Auth::Session(c) => Some(c.sid.as_str()),
            Auth::Token(_) => None,
        }
    }

    pub fn allows(&self, leaf: super::permissions::Leaf) -> bool {
        self.token().is_none_or(|t| t.perms().holds(leaf))
    }

    /// A session, or a token without realm restrictions: may change `realm_ids` of resources.
    pub fn unrestricted(&self) -> bool {
        self.token().is_none_or(|t| !t.restricted())
    }
}

/// What the activity log needs to know about the caller, left in the request by the extractor.
#[derive(Debug, Clone)]
pub struct AuthNote {
    pub user_id: String,
    pub token_id: Option<String>,
    pub realm_id: Option<String>,
    pub ip: IpAddr,
}

/// The middleware puts an empty slot in every request; the extractor fills it.
pub type AuthSlot = Arc<OnceLock<AuthNote>>;

/// The credential, if an `Authorization` header is present: `Bearer <token>` (the scheme is
/// case-insensitive, RFC 9110), or an auth token (`hdy_…`) bare as the SDK also sends it.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token =
        value.to_str().ok().map(str::trim).and_then(credential).filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::unauthenticated("invalid_authorization", "Authorization must be `Bearer <token>`")
        })?;
    Ok(Some(token))
}

fn credential(value: &str) -> Option<&str> {
    if value.starts_with(tokens::PREFIX) {
        return Some(value);
    }
    let (scheme, rest) = value.split_once([' ', '\t'])?;
    scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
}

fn invalid_token() -> ApiError {
    ApiError::unauthenticated("invalid_token", "Invalid or expired token")
}

/// The realm a request is scoped to: the first label of the host when it is a realm id, else
/// `?realm_id=`. Either is case-insensitive (24 hex characters, uppercase lowercased). A
/// malformed `realm_id` is a 400 naming it.
pub fn request_realm(parts: &Parts) -> Result<Option<String>, ApiError> {
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).or(parts.uri.host());
    if let Some(label) = host.and_then(|h| h.split('.').next()).and_then(realm_id) {
        if host.is_some_and(|h| h.contains('.')) {
            return Ok(Some(label));
        }
    }
    let query = parts.uri.query().unwrap_or("");
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        if k == "realm_id" && !v.is_empty() {
            return realm_id(v).map(Some).ok_or_else(|| ApiError::BadRequest {
                code: "invalid_realm_id",
                message: "realm_id must be 24 hexadecimal characters".into(),
                fields: vec![crate::error::FieldError::new("realm_id", "must be 24 hexadecimal characters")],
            });
        }
    }
    Ok(None)
}

/// A realm id in either case, lowercased.
fn realm_id(s: &str) -> Option<String> {
    (s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())).then(|| s.to_ascii_lowercase())
}

/// Check a session JWT and load its user in one read; refused when its session was revoked, when
/// logged out since (logout-all), or banned.
async fn authenticate(st: &AppState, token: &str) -> Result<(UserRow, Claims), ApiError> {
    let claims = st.jwt.verify(token, TokenType::Access).ok_or_else(invalid_token)?;
    if claims.sid.is_empty() {
        // Issued before sessions had ids.
        return Err(signed_out());
    }
    let found = match st.principals.session(&claims.sub, &claims.sid) {
        Ok(found) => found,
        Err(ticket) => {
            let found = st.hot.session_user(&claims.sub, &claims.sid).await?.ok_or_else(invalid_token)?;
            st.principals.put_session(&claims.sub, &claims.sid, found.clone(), ticket);
            found
        }
    };
    if found.user.session_generation != claims.gen || !found.session_live {
        return Err(signed_out());
    }
    refuse_banned(&found.user)?;
    Ok((found.user, claims))
}

pub fn signed_out() -> ApiError {
    ApiError::unauthenticated("token_revoked", "This session has been logged out")
}

fn refuse_banned(user: &UserRow) -> Result<(), ApiError> {
    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    Ok(())
}

/// Check an auth token: it exists, is enabled, has not expired, its owner is not banned, the
/// client address is on its whitelist and the request's realm is one it may use.
async fn authenticate_token(
    st: &AppState,
    secret: &str,
    ip: IpAddr,
    realm: Option<&str>,
) -> Result<(UserRow, TokenRow), ApiError> {
    if !tokens::looks_like_secret(secret) {
        return Err(invalid_token());
    }
    let hash = super::secrets::sha256(secret);
    let found = match st.principals.token(&hash) {
        Ok(found) => found,
        Err(ticket) => {
            let found = st.hot.token_by_secret(secret).await?.ok_or_else(invalid_token)?;
            st.principals.put_token(&hash, found.clone(), ticket);
            found
        }
    };
    let (user, token) = (found.user, found.token);
    if !token.is_enabled {
        return Err(ApiError::unauthenticated("token_disabled", "This auth token is disabled"));
    }
    if token.expired(Utc::now()) {
        return Err(ApiError::unauthenticated("token_expired", "This auth token has expired"));
    }
    refuse_banned(&user)?;
    if !token.ip_allowed(ip) {
        return Err(ApiError::forbidden("ip_not_allowed", "This auth token may not be used from this address"));
    }
    match realm {
        Some(r) if token.restricted() && !token.realm_ids.iter().any(|x| x == r) => {
            return Err(ApiError::forbidden(
                "realm_not_allowed",
                format!("This auth token is not valid for realm {r}"),
            ));
        }
        None if !token.allow_no_realm || token.restricted() => {
            return Err(ApiError::forbidden(
                "realm_scope_required",
                "This auth token requires a realm-scoped URL ({realm_id}.<api host> or ?realm_id=)",
            ));
        }
        _ => {}
    }
    // The last use is kept to the minute: used again within a minute of the one recorded, from
    // the same address, the token writes nothing (the row would say almost the same).
    let recorded = token.last_used_at.is_some_and(|at| Utc::now() - at < chrono::Duration::seconds(LAST_USE_STEP_SECS))
        && token.last_used_ip.as_deref() == Some(ip.to_string().as_str());
    if !recorded {
        st.token_use.note(&token.token_id, ip);
    }
    Ok((user, token))
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let credential = bearer(&parts.headers)?
            .ok_or_else(|| ApiError::unauthenticated("missing_token", "Authorization: Bearer <token> is required"))?
            .to_owned();
        Self::from_credential(parts, st, credential).await
    }
}

impl Principal {
    /// Authenticate `credential` (a session JWT or an auth token) for the request `parts`
    /// (its client address and realm), as a bearer header would be.
    pub async fn from_credential(parts: &mut Parts, st: &AppState, credential: String) -> Result<Self, ApiError> {
        let ip = ClientIp::from_request_parts(parts, st).await?.ip;
        let realm = request_realm(parts)?;
        let principal = if credential.starts_with(tokens::PREFIX) {
            let (user, token) = authenticate_token(st, &credential, ip, realm.as_deref()).await?;
            Principal { user, auth: Auth::Token(Box::new(token)), realm, ip }
        } else {
            let (user, claims) = authenticate(st, &credential).await?;
            Principal { user, auth: Auth::Session(claims), realm, ip }
        };
        if let Some(slot) = parts.extensions.get::<AuthSlot>() {
            let _ = slot.set(AuthNote {
                user_id: principal.user.user_id.clone(),
                token_id: principal.token().map(|t| t.token_id.clone()),
                realm_id: principal.realm.clone(),
                ip,
            });
        }
        Ok(principal)
    }
}

/// `Option<Principal>`: no header → `None`; a bad header or token is still a 401.
impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Option<Self>, ApiError> {
        if bearer(&parts.headers)?.is_none() {
            return Ok(None);
        }
        <Self as FromRequestParts<AppState>>::from_request_parts(parts, st).await.map(Some)
    }
}
