//! The `authTokens` tag: long-lived, scoped auth tokens.

mod create;
mod current;
pub(crate) mod dto;
pub(crate) mod grant;
pub(crate) mod manage;
mod realms;
mod templates;

use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    auth::{principal::Principal, second_factor, tokens::TokenRow},
    db::auth_tokens,
    error::{ApiError, Result},
    events::{Event, EventKind, ResourceType},
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create::create_auth_token, manage::list_auth_tokens))
        .routes(routes!(current::get_current_auth_token))
        .routes(routes!(templates::list_permission_templates))
        .routes(routes!(current::update_public_profile))
        .routes(routes!(current::get_public_profile))
        .routes(routes!(manage::get_auth_token, manage::update_auth_token, manage::delete_auth_token))
        .routes(routes!(create::copy_auth_token))
        .routes(routes!(realms::add_realm))
        .routes(routes!(realms::remove_realm))
}

/// Most tokens a user may hold, and the most one list returns.
pub const MAX_TOKENS: i64 = 500;

/// An event about an auth token (never its secret).
pub(crate) fn event(t: &TokenRow, kind: EventKind) -> Event {
    let data = serde_json::json!({"token_id": t.token_id, "alias": t.alias, "is_enabled": t.is_enabled});
    Event::new(kind, ResourceType::AuthToken, &t.token_id, &t.user_id, data).in_realms(&t.realm_ids)
}

/// A token of the caller's by id, as the caller may see it; 404 otherwise.
async fn find(st: &AppState, me: &Principal, id: &str) -> Result<TokenRow> {
    let missing = || ApiError::not_found("token_not_found", "Auth token not found");
    if !crate::db::is_id(id) {
        return Err(missing());
    }
    let caller = me.token().map(|t| t.token_id.as_str());
    let mut conn = st.db.acquire().await?;
    auth_tokens::visible(&mut conn, &me.user.user_id, caller, id).await?.ok_or_else(missing)
}

/// The 2FA token gate: a session changing tokens sends a code when the account asks for it.
async fn gate(st: &AppState, me: &Principal, otp: Option<&str>) -> Result<()> {
    if me.token().is_some() {
        return Ok(());
    }
    second_factor::token_gate(st, &me.user.user_id, otp).await
}
