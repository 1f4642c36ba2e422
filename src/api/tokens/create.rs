//! Minting tokens: create and copy. The secret is returned here once.

use axum::extract::State;
use chrono::Utc;

use super::{
    dto::{CopyIn, CreateIn, TokenCreatedOut, TokenOut},
    gate,
    grant::{alias, may_mint, Grant},
};
use crate::{
    auth::{
        access::Require,
        permissions::perm,
        principal::Principal,
        secrets,
        tokens::{self, TokenRow},
    },
    db::{
        auth_tokens::{self, NewToken},
        new_id,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish, EventKind},
    extract::{Json, Path},
    state::AppState,
};

/// Create a new auth token
///
/// The secret (`token`) is in this response only; keep it. Created by another auth token, the new
/// one can hold no more than its creator (permissions, realms, addresses, expiry, flags).
#[utoipa::path(post, path = "/auth/tokens", tag = "authTokens", security(("bearer" = [])), request_body = CreateIn,
    responses((status = 201, body = Envelope<TokenCreatedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn create_auth_token(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Json(input): Json<CreateIn>,
) -> Result<ApiOk<TokenCreatedOut>> {
    let grant = Grant::from_create(&input, Utc::now())?;
    let out = mint(&st, &me, &grant, input.otp_code.as_deref().map(String::as_str)).await?;
    Ok(ApiOk::created("Auth token created", out))
}

/// Copy auth token
///
/// A new secret with the source's settings (its public key and profile stay with the source).
#[utoipa::path(post, path = "/auth/tokens/{id}/copy", tag = "authTokens", security(("bearer" = [])),
    params(("id" = String, Path, description = "Unique identifier of the token")), request_body = CopyIn,
    responses((status = 201, body = Envelope<TokenCreatedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.create_tokens"))))]
pub async fn copy_auth_token(
    State(st): State<AppState>,
    me: Require<perm::CreateTokens>,
    Path(id): Path<String>,
    Json(input): Json<CopyIn>,
) -> Result<ApiOk<TokenCreatedOut>> {
    let source = super::find(&st, &me, &id).await?;
    let now = Utc::now();
    let mut grant = Grant::of(&source);
    grant.public_key = None;
    grant.public_storage = None;
    grant.alias = match &input.alias {
        Some(a) => alias(a)?,
        None => format!("{} copy", source.alias.chars().take(95).collect::<String>()),
    };
    grant.expires_at = match &input.expires_at {
        Some(Some(e)) => Some(tokens::parse_expiry(e, now)?),
        Some(None) => None,
        None => source.expires_at.filter(|e| *e > now),
    };
    let out = mint(&st, &me, &grant, input.otp_code.as_deref().map(String::as_str)).await?;
    Ok(ApiOk::created("Auth token copied", out))
}

/// Check the caller may mint `grant`, pass the 2FA token gate, store the new token.
async fn mint(st: &AppState, me: &Principal, grant: &Grant, otp: Option<&str>) -> Result<TokenCreatedOut> {
    let (created_by, depth) = match me.token() {
        Some(t) => {
            may_mint(t)?;
            grant.within(t)?;
            (Some(t.token_id.as_str()), t.delegation_depth + 1)
        }
        None => (None, 0),
    };
    gate(st, me, otp).await?;
    let (secret, prefix) = tokens::new_secret();
    let token_id = new_id();
    let hash = secrets::sha256(&secret);
    let mut tx = st.db.begin().await?;
    crate::quota::check_account(&mut tx, &st.cfg, &me.user.user_id, crate::quota::Kind::Tokens).await?;
    let row: TokenRow = auth_tokens::insert(
        &mut tx,
        &NewToken {
            token_id: &token_id,
            user_id: &me.user.user_id,
            secret_hash: &hash,
            prefix: &prefix,
            created_by,
            depth,
        },
        grant,
    )
    .await
    .on_constraint("auth_token_public_key_key", public_key_taken)?;
    publish(&mut tx, super::event(&row, EventKind::AuthTokenCreated)).await?;
    tx.commit().await?;
    tracing::info!(token_id = %row.token_id, created_by = ?created_by, "auth token created");
    Ok(TokenCreatedOut { token: secret, details: TokenOut::from(&row) })
}

pub fn public_key_taken() -> ApiError {
    ApiError::conflict("public_key_in_use", "Another auth token already uses this public_key")
}
