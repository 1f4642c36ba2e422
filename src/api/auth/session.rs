//! Sessions over HTTP: refresh with rotation, logout-all, and the caller's profile. Minting and
//! revoking sessions is `crate::auth::sessions` / `crate::db::sessions`.

use axum::{extract::State, http::HeaderMap};

use super::dto::{MeOut, RefreshIn, TokenPair};
use crate::{
    api::tokens::dto::{CurrentTokenOut, Restrictions, TokenOut},
    auth::{
        access::{Require, Session},
        jwt::{Claims, TokenType},
        limits,
        permissions::perm,
        principal::{bearer, signed_out},
        secrets, sessions,
    },
    db::{
        sessions::{self as db_sessions, RefreshUse},
        users,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    state::AppState,
};

/// Get current user profile
///
/// With an auth token, `auth_token` describes it and its realm restrictions.
#[utoipa::path(get, path = "/users/auth/me", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = Envelope<MeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_current_user(me: Require<perm::ReadAccount>) -> ApiOk<MeOut> {
    let auth_token = me
        .token()
        .map(|t| CurrentTokenOut { token: TokenOut::from(t), restrictions: Restrictions::of(t, me.realm.as_deref()) });
    ApiOk::new("User profile retrieved", MeOut { user: crate::api::users::dto::UserOut::from(&me.user), auth_token })
}

/// Logout
///
/// Logout-all: every access and refresh JWT issued before this call stops working on its next use,
/// on every replica. Long-lived auth tokens are not affected.
#[utoipa::path(post, path = "/users/auth/logout", tag = "authentication", security(("bearer" = [])),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn logout(State(st): State<AppState>, me: Session) -> Result<ApiOk<()>> {
    let mut tx = st.db.begin().await?;
    db_sessions::sign_out_everywhere(&mut tx, &me.user.user_id).await?;
    let _forget = st.principals.forget_on_drop(&me.user.user_id);
    tx.commit().await?;
    Ok(ApiOk::new("Logged out of all sessions", ()))
}

/// Refresh access token
///
/// The refresh token in the body is the credential. `Authorization` may be absent, the same
/// refresh token, or an access token of the same session (even an expired one: what the SDK's
/// auto-refresh sends); any other credential there is refused. Each refresh token works once;
/// replaying a used one ends its session: the whole refresh family and the access tokens minted
/// from it.
#[utoipa::path(post, path = "/users/auth/refresh", tag = "authentication", security(("bearer" = []), ()),
    request_body = RefreshIn,
    responses((status = 200, body = Envelope<TokenPair>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn refresh_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Json(input): Json<RefreshIn>,
) -> Result<ApiOk<TokenPair>> {
    let invalid = || ApiError::unauthenticated("invalid_refresh_token", "Invalid or expired refresh token");
    let claims = st.jwt.verify(&input.refresh_token, TokenType::Refresh).ok_or_else(invalid)?;
    if claims.sid.is_empty() {
        return Err(invalid());
    }
    if let Some(header) = bearer(&headers)? {
        if !header_names_the_session(&st, header, &input.refresh_token, &claims) {
            return Err(ApiError::unauthenticated(
                "refresh_token_mismatch",
                "Authorization must be absent, the same refresh token, or an access token of the same session",
            ));
        }
    }
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("refresh:user:{}", claims.sub), lim.refresh_per_window, limits::HALF_HOUR).await?;

    let mut tx = st.db.begin().await?;
    match db_sessions::use_refresh(&mut tx, &claims.jti, &claims.sub).await? {
        RefreshUse::Fresh { family } if family == claims.sid => {}
        RefreshUse::Fresh { .. } | RefreshUse::Unknown => return Err(invalid()),
        RefreshUse::Replayed { family } => {
            db_sessions::revoke(&mut tx, &claims.sub, &family, db_sessions::reason::REPLAY).await?;
            let _forget = st.principals.forget_on_drop(&claims.sub);
            tx.commit().await?;
            tracing::warn!(user_id = %claims.sub, "refresh token replayed; its session is revoked");
            return Err(ApiError::unauthenticated("refresh_token_reused", "Refresh token already used"));
        }
    }
    let found = users::by_session(&mut *tx, &claims.sub, &claims.sid).await?.ok_or_else(invalid)?;
    if found.user.session_generation != claims.gen || !found.session_live {
        return Err(signed_out());
    }
    if found.user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    let pair = sessions::renew(&st, &mut tx, &claims.sub, claims.gen, &claims.sid).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Token refreshed", pair))
}

/// The `Authorization` a refresh may carry: the same refresh token, or a validly signed access
/// token (expired or not) of the same user, session and generation.
fn header_names_the_session(st: &AppState, header: &str, refresh: &str, claims: &Claims) -> bool {
    if secrets::same_secret(header, refresh) {
        return true;
    }
    st.jwt
        .verify_any_age(header, TokenType::Access)
        .is_some_and(|a| a.sub == claims.sub && a.sid == claims.sid && a.gen == claims.gen)
}
