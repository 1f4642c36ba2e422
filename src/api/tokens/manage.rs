//! Reading and changing tokens: list, get, update, delete.

use axum::{extract::State, http::StatusCode, response::Response};
use chrono::Utc;

use super::{
    create::public_key_taken,
    dto::{TokenListOut, TokenOut, UpdateIn},
    find, gate,
    grant::Grant,
    MAX_TOKENS,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::auth_tokens,
    envelope::{json_response, ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish, EventKind},
    extract::{Json, Path},
    state::AppState,
};

/// List auth tokens
///
/// A session sees every token of the account; an auth token sees itself and the tokens it minted.
#[utoipa::path(get, path = "/auth/tokens", tag = "authTokens", security(("bearer" = [])),
    responses((status = 200, body = TokenListOut), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn list_auth_tokens(State(st): State<AppState>, me: Require<perm::CreateTokens>) -> Result<Response> {
    let caller = me.token().map(|t| t.token_id.as_str());
    let mut conn = st.db.acquire().await?;
    let rows = auth_tokens::list(&mut conn, &me.user.user_id, caller, MAX_TOKENS + 1).await?;
    let truncated = rows.len() as i64 > MAX_TOKENS;
    let data = rows.iter().take(MAX_TOKENS as usize).map(TokenOut::from).collect();
    let body = TokenListOut { status_code: 200, message: "Auth tokens".into(), data, truncated };
    Ok(json_response(StatusCode::OK, &body))
}

/// Get auth token by ID
#[utoipa::path(get, path = "/auth/tokens/{id}", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unique identifier of the token")),
    responses((status = 200, body = Envelope<TokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn get_auth_token(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
) -> Result<ApiOk<TokenOut>> {
    let row = find(&st, &me, &id).await?;
    Ok(ApiOk::new("Auth token", TokenOut::from(&row)))
}

/// Update auth token
///
/// `permissions` replaces the whole tree. `is_enabled: false` also disables every token this one
/// minted. Only a caller without realm restrictions may change `realm_ids`. With the 2FA token
/// gate on, a session sends `otp_code` for an update that widens the token or re-enables it;
/// narrowing it (disabling included) needs none.
#[utoipa::path(put, path = "/auth/tokens/{id}", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unique identifier of the token")), request_body = UpdateIn,
    responses((status = 200, body = Envelope<TokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn update_auth_token(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
    Json(input): Json<UpdateIn>,
) -> Result<ApiOk<TokenOut>> {
    let current = find(&st, &me, &id).await?;
    let mut grant = Grant::of(&current);
    grant.apply(&input, Utc::now())?;
    if grant.realm_ids != current.realm_ids && !me.unrestricted() {
        return Err(realm_change_forbidden());
    }
    if let Some(caller) = me.token() {
        grant.within(caller)?;
    }
    let enabled = input.is_enabled.unwrap_or(current.is_enabled);
    // Narrowing a token (disabling it included) is never gated: a leaked token must be stoppable
    // by any client. Widening it or turning it back on is.
    if grant.widens(&Grant::of(&current)) || (enabled && !current.is_enabled) {
        gate(&st, &me, input.otp_code.as_deref().map(String::as_str)).await?;
    }
    let mut tx = st.db.begin().await?;
    let row = auth_tokens::update(&mut tx, &current.token_id, &grant, enabled)
        .await
        .on_constraint("auth_token_public_key_key", public_key_taken)?;
    if !enabled {
        auth_tokens::disable_descendants(&mut tx, &row.token_id).await?;
    }
    publish(&mut tx, super::event(&row, EventKind::AuthTokenUpdated)).await?;
    if enabled != current.is_enabled {
        let kind = if enabled { EventKind::AuthTokenEnabled } else { EventKind::AuthTokenDisabled };
        publish(&mut tx, super::event(&row, kind)).await?;
    }
    let _forget = st.principals.forget_on_drop(&me.user.user_id);
    tx.commit().await?;
    Ok(ApiOk::new("Auth token updated", TokenOut::from(&row)))
}

/// Delete auth token
///
/// Every token it minted is disabled. Never gated by 2FA: revoking a token only narrows access.
#[utoipa::path(delete, path = "/auth/tokens/{id}", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unique identifier of the token")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn delete_auth_token(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
) -> Result<ApiOk<()>> {
    let current = find(&st, &me, &id).await?;
    // Revoking only narrows access: never gated by 2FA, so a leaked token can be revoked from
    // any client (an `?otp_code=` older clients send is ignored).
    let mut tx = st.db.begin().await?;
    auth_tokens::disable_descendants(&mut tx, &current.token_id).await?;
    auth_tokens::delete(&mut tx, &current.token_id).await?;
    publish(&mut tx, super::event(&current, EventKind::AuthTokenDeleted)).await?;
    let _forget = st.principals.forget_on_drop(&me.user.user_id);
    tx.commit().await?;
    tracing::info!(token_id = %current.token_id, "auth token deleted");
    Ok(ApiOk::new("Auth token deleted", ()))
}

pub fn realm_change_forbidden() -> ApiError {
    ApiError::forbidden("realm_change_forbidden", "Only a caller without realm restrictions may change realm_ids")
}
