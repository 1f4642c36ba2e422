//! Who is calling. `Principal` in a handler's signature means "authenticated"; the extractor does
//! the JWT check and the one indexed read that also enforces logout-all and bans.

use axum::{
    extract::{FromRequestParts, OptionalFromRequestParts},
    http::{header, request::Parts, HeaderMap},
};

use super::jwt::{Claims, TokenType};
use crate::{db::users::UserRow, error::ApiError, state::AppState};

pub struct Principal {
    pub user: UserRow,
    pub claims: Claims,
}

/// The bearer credential, if an `Authorization` header is present: `Bearer <token>` exactly.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("invalid_authorization", "Authorization must be `Bearer <token>`"))?;
    Ok(Some(token))
}

fn invalid_token() -> ApiError {
    ApiError::unauthenticated("invalid_token", "Invalid or expired token")
}

/// Check an access token and load its user; refused when logged out since, or banned.
pub async fn authenticate(st: &AppState, token: &str) -> Result<Principal, ApiError> {
    let claims = st.jwt.verify(token, TokenType::Access).ok_or_else(invalid_token)?;
    let user = st.hot.user_by_id(&claims.sub).await?.ok_or_else(invalid_token)?;
    if user.session_generation != claims.gen {
        return Err(ApiError::unauthenticated("token_revoked", "This session has been logged out"));
    }
    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    Ok(Principal { user, claims })
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers)?
            .ok_or_else(|| ApiError::unauthenticated("missing_token", "Authorization: Bearer <token> is required"))?;
        authenticate(st, token).await
    }
}

/// `Option<Principal>`: no header → `None`; a bad header or token is still a 401.
impl OptionalFromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Option<Self>, ApiError> {
        match bearer(&parts.headers)? {
            None => Ok(None),
            Some(token) => authenticate(st, token).await.map(Some),
        }
    }
}
