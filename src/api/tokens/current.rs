//! The calling token itself, and public profiles.

use axum::extract::State;

use super::{
    create::public_key_taken,
    dto::{CurrentTokenOut, PublicProfileIn, PublicProfileOut, Restrictions, TokenOut},
    grant::{public_key, public_storage},
};
use crate::{
    auth::{access::Require, permissions::perm, principal::Principal, tokens::TokenRow},
    db::auth_tokens,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    extract::{Json, Path},
    state::AppState,
};

fn calling_token(me: &Principal) -> Result<&TokenRow> {
    me.token().ok_or_else(|| {
        ApiError::bad_request("not_an_auth_token", "This request was not authenticated with an auth token")
    })
}

/// Get current auth token details
///
/// The token this request carries and its realm restrictions (a session gets 400).
#[utoipa::path(get, path = "/auth/tokens/me", tag = "authTokens", security(("bearer" = [])),
    responses((status = 200, body = Envelope<CurrentTokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_current_auth_token(me: Principal) -> Result<ApiOk<CurrentTokenOut>> {
    let t = calling_token(&me)?;
    let out = CurrentTokenOut { token: TokenOut::from(t), restrictions: Restrictions::of(t, me.realm.as_deref()) };
    Ok(ApiOk::new("Current auth token", out))
}

/// Update current auth token public profile
///
/// At least one of `public_key` and `public_storage` (≤ 64 KB); null clears it.
#[utoipa::path(put, path = "/auth/tokens/me/public-profile", tag = "authTokens", security(("bearer" = [])),
    request_body = PublicProfileIn,
    responses((status = 200, body = Envelope<TokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.auth_token_public_profile"))))]
pub async fn update_public_profile(
    State(st): State<AppState>,
    me: Require<perm::TokenPublicProfile>,
    Json(input): Json<PublicProfileIn>,
) -> Result<ApiOk<TokenOut>> {
    let t = calling_token(&me)?;
    if input.public_key.is_none() && input.public_storage.is_none() {
        return Err(ApiError::invalid("public_key", "send public_key, public_storage or both"));
    }
    let key = match &input.public_key {
        Some(k) => k.as_deref().map(public_key).transpose()?,
        None => t.public_key.clone(),
    };
    let storage = match &input.public_storage {
        Some(s) => s.clone().map(public_storage).transpose()?.flatten(),
        None => t.public_storage.clone(),
    };
    let mut conn = st.db.acquire().await?;
    let row = auth_tokens::set_profile(&mut conn, &t.token_id, key.as_deref(), storage.as_ref())
        .await
        .on_constraint("auth_token_public_key_key", public_key_taken)?;
    Ok(ApiOk::new("Public profile updated", TokenOut::from(&row)))
}

/// Get auth token public profile by public key
///
/// Public: the profile a token published under its Ed25519 key.
#[utoipa::path(get, path = "/auth/tokens/public-profiles/{public_key}", tag = "authTokens",
    params(("public_key" = String, Path, description = "ED25519 public key to resolve")),
    responses((status = 200, body = Envelope<PublicProfileOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)))]
pub async fn get_public_profile(
    State(st): State<AppState>,
    Path(key): Path<String>,
) -> Result<ApiOk<PublicProfileOut>> {
    let key = public_key(&key)
        .map_err(|_| ApiError::bad_request("invalid_public_key", "public_key must be 64 hexadecimal characters"))?;
    let (public_key, public_storage) = auth_tokens::public_profile(&st.db, &key)
        .await?
        .ok_or_else(|| ApiError::not_found("profile_not_found", "No public profile for this key"))?;
    Ok(ApiOk::new("Public profile", PublicProfileOut { public_key, public_storage }))
}
