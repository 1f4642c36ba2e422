//! Adding and removing one realm of a token.

use axum::extract::State;

use super::{
    dto::{RealmIn, TokenOut},
    find, gate,
    grant::{realm_id, Grant},
    manage::realm_change_forbidden,
};
use crate::{
    auth::{access::Require, permissions::perm},
    db::auth_tokens,
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    events::{publish, EventKind},
    extract::{Json, Path},
    state::AppState,
};

/// Add realm to auth token
///
/// The token then works only inside its realms. Adding a realm it has is a no-op.
#[utoipa::path(post, path = "/auth/tokens/{id}/add-realm", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Auth token ID")), request_body = RealmIn,
    responses((status = 200, body = Envelope<TokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn add_realm(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
    Json(input): Json<RealmIn>,
) -> Result<ApiOk<TokenOut>> {
    let realm = realm_id(&input.realm_id)?;
    change(&st, &me, &id, input.otp_code.as_deref().map(String::as_str), |realms| {
        if !realms.contains(&realm) {
            realms.push(realm.clone());
        }
    })
    .await
    .map(|t| ApiOk::new("Realm added to auth token", t))
}

/// Remove realm from auth token
///
/// Removing the last realm lifts the restriction. Removing a realm it lacks is a no-op.
#[utoipa::path(post, path = "/auth/tokens/{id}/remove-realm", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Auth token ID")), request_body = RealmIn,
    responses((status = 200, body = Envelope<TokenOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn remove_realm(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
    Json(input): Json<RealmIn>,
) -> Result<ApiOk<TokenOut>> {
    let realm = realm_id(&input.realm_id)?;
    change(&st, &me, &id, input.otp_code.as_deref().map(String::as_str), |realms| realms.retain(|r| r != &realm))
        .await
        .map(|t| ApiOk::new("Realm removed from auth token", t))
}

async fn change(
    st: &AppState,
    me: &crate::auth::principal::Principal,
    id: &str,
    otp: Option<&str>,
    edit: impl FnOnce(&mut Vec<String>),
) -> Result<TokenOut> {
    if !me.unrestricted() {
        return Err(realm_change_forbidden());
    }
    let current = find(st, me, id).await?;
    let mut grant = Grant::of(&current);
    edit(&mut grant.realm_ids);
    if let Some(caller) = me.token() {
        grant.within(caller)?;
    }
    gate(st, me, otp).await?;
    let mut tx = st.db.begin().await?;
    let row = auth_tokens::set_realms(&mut tx, &current.token_id, &grant.realm_ids).await?;
    publish(&mut tx, super::event(&row, EventKind::AuthTokenUpdated)).await?;
    let _forget = st.principals.forget_on_drop(&me.user.user_id);
    tx.commit().await?;
    Ok(TokenOut::from(&row))
}
