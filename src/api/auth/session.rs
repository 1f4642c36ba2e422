//! Sessions: issuing the JWT pair, refresh with rotation, logout-all, and the caller's profile.

use axum::{extract::State, http::HeaderMap};
use chrono::Utc;

use super::{
    dto::{MeOut, RefreshIn, TokenPair},
    queries::{self, RefreshUse},
};
use crate::{
    api::tokens::dto::{CurrentTokenOut, Restrictions, TokenOut},
    auth::{
        access::{Require, Session},
        jwt::TokenType,
        limits,
        policy::perm,
        principal::bearer,
        secrets,
    },
    db::{
        ts,
        users::{self, UserOut},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    state::AppState,
};

/// Issue an access/refresh pair; the refresh token starts (or continues) a rotation family.
pub async fn issue_pair(
    st: &AppState,
    db: &mut sqlx::PgConnection,
    user_id: &str,
    generation: i64,
    family: Option<String>,
) -> Result<TokenPair> {
    let access = st.jwt.issue(user_id, TokenType::Access, generation)?;
    let refresh = st.jwt.issue(user_id, TokenType::Refresh, generation)?;
    let family = family.unwrap_or_else(secrets::random_id);
    queries::insert_refresh(&mut *db, &refresh.jti, user_id, &family, refresh.expires_at).await?;
    let now = Utc::now();
    Ok(TokenPair {
        token: access.token,
        refresh_token: refresh.token,
        expires_at: ts(access.expires_at),
        expires_in: (access.expires_at - now).num_seconds(),
        refresh_expires_at: ts(refresh.expires_at),
        refresh_expires_in: (refresh.expires_at - now).num_seconds(),
    })
}

/// Sign out every session of the user and open a fresh one for the caller (after a security
/// change such as turning 2FA on or off).
pub async fn reissue_after_revoke(st: &AppState, db: &mut sqlx::PgConnection, user_id: &str) -> Result<TokenPair> {
    queries::revoke_sessions(&mut *db, user_id).await?;
    let generation: i64 = sqlx::query_scalar("select session_generation from app_user where user_id = $1")
        .bind(user_id)
        .fetch_one(&mut *db)
        .await?;
    issue_pair(st, db, user_id, generation, None).await
}

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
    ApiOk::new("User profile retrieved", MeOut { user: UserOut::from(&me.user), auth_token })
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
    queries::revoke_sessions(&mut tx, &me.user.user_id).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Logged out of all sessions", ()))
}

/// Refresh access token
///
/// The refresh token must be sent both in the body and as `Authorization: Bearer`. Each refresh
/// token works once; replaying a used one revokes every token of its family.
#[utoipa::path(post, path = "/users/auth/refresh", tag = "authentication", security(("bearer" = [])),
    request_body = RefreshIn,
    responses((status = 200, body = Envelope<TokenPair>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn refresh_token(
    State(st): State<AppState>,
    headers: HeaderMap,
    Json(input): Json<RefreshIn>,
) -> Result<ApiOk<TokenPair>> {
    let header = bearer(&headers)?;
    if !header.is_some_and(|h| secrets::same_secret(h, &input.refresh_token)) {
        return Err(ApiError::unauthenticated(
            "refresh_token_mismatch",
            "Send the refresh token both in the body and as Authorization: Bearer",
        ));
    }
    let invalid = || ApiError::unauthenticated("invalid_refresh_token", "Invalid or expired refresh token");
    let claims = st.jwt.verify(&input.refresh_token, TokenType::Refresh).ok_or_else(invalid)?;
    let lim = &st.cfg.limits;
    limits::hit(&st.db, &format!("refresh:user:{}", claims.sub), lim.refresh_per_window, limits::HALF_HOUR).await?;

    let mut tx = st.db.begin().await?;
    let family = match queries::use_refresh(&mut tx, &claims.jti, &claims.sub).await? {
        RefreshUse::Fresh { family } => family,
        RefreshUse::Replayed => {
            tx.commit().await?;
            tracing::warn!(user_id = %claims.sub, "refresh token replayed; family revoked");
            return Err(ApiError::unauthenticated("refresh_token_reused", "Refresh token already used"));
        }
        RefreshUse::Unknown => return Err(invalid()),
    };
    let user = users::by_id(&mut *tx, &claims.sub).await?.ok_or_else(invalid)?;
    if user.session_generation != claims.gen {
        return Err(ApiError::unauthenticated("token_revoked", "This session has been logged out"));
    }
    if user.is_banned {
        return Err(ApiError::forbidden("account_banned", "This account is banned"));
    }
    let pair = issue_pair(&st, &mut tx, &user.user_id, user.session_generation, Some(family)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Token refreshed", pair))
}
