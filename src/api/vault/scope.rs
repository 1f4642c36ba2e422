//! Who may use the vault, and which one: sessions always; auth tokens only with `vault_access`
//! and the `resources.vault` leaf. The vault is the caller's own, in the request's realm
//! (`{realm_id}.` host label or `?realm_id=`, either case) or else the global scope ("").

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::{
    auth::{permissions::leaf, principal::Principal},
    error::ApiError,
    state::AppState,
};

pub struct VaultCaller {
    pub me: Principal,
    /// '' for the global scope.
    pub realm_id: String,
}

impl VaultCaller {
    pub fn user_id(&self) -> &str {
        &self.me.user.user_id
    }
}

impl FromRequestParts<AppState> for VaultCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, ApiError> {
        let me = Principal::from_request_parts(parts, st).await?;
        me.require(leaf::RESOURCES_VAULT)?;
        if me.token().is_some_and(|t| !t.vault_access) {
            return Err(ApiError::forbidden(
                "vault_access_denied",
                "This auth token has no vault access (its vault_access is false)",
            ));
        }
        let realm_id = me.realm.clone().unwrap_or_default();
        Ok(Self { me, realm_id })
    }
}
