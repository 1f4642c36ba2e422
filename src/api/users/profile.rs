//! Reading and changing a user: yourself, or anyone when you are an administrator.

use axum::extract::State;

use super::dto::UserOut;
use super::dto::UserUpdateIn;
use crate::{
    api::{fields, tfa::checks},
    auth::{
        access::{Require, Session},
        limits,
        password::{self, Classes},
        permissions::perm,
        principal::{Auth, Principal},
    },
    db::{
        sessions,
        users::{self, ProfileChange, UserRow},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::{Json, Path},
    state::AppState,
};

const MAX_METADATA: usize = 64 * 1024;

/// The user `id` names, if the caller may see it: itself, or anyone for an administrator's
/// session. Anything else is 404, exactly as a missing user.
async fn target(st: &AppState, me: &Principal, id: &str) -> Result<UserRow> {
    let missing = || ApiError::not_found("user_not_found", "User not found");
    if id == me.user.user_id {
        return Ok(me.user.clone());
    }
    let admin = me.user.is_admin && matches!(me.auth, Auth::Session(_));
    if !admin || !crate::db::is_id(id) {
        return Err(missing());
    }
    users::by_id(&st.db, id).await?.ok_or_else(missing)
}

/// Get user by ID
///
/// Your own profile, or (administrators, with a session) anyone's.
#[utoipa::path(get, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User ID to retrieve")),
    responses((status = 200, body = Envelope<UserOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_user(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
    Path(id): Path<String>,
) -> Result<ApiOk<UserOut>> {
    let user = target(&st, &me, &id).await?;
    Ok(ApiOk::new("User retrieved", UserOut::from(&user)))
}

/// Update user profile
///
/// alias, public_key and metadata; a new password with `current_password` (every session is
/// signed out). `is_admin` and `is_banned` are for administrators only: anyone else gets 403 and
/// nothing changes.
#[utoipa::path(put, path = "/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = String, Path, description = "User ID to update")), request_body = UserUpdateIn,
    responses((status = 200, body = Envelope<UserOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn update_user(
    State(st): State<AppState>,
    me: Session,
    Path(id): Path<String>,
    Json(input): Json<UserUpdateIn>,
) -> Result<ApiOk<UserOut>> {
    let user = target(&st, &me, &id).await?;
    if (input.is_admin.is_some() || input.is_banned.is_some()) && !me.user.is_admin {
        return Err(ApiError::forbidden("admin_only_field", "Only administrators may change is_admin or is_banned"));
    }
    let (alias, public_key) = validate(&input)?;
    if input.is_banned == Some(true) && (user.is_admin || input.is_admin == Some(true)) {
        return Err(ApiError::invalid("is_banned", "An administrator cannot be banned"));
    }
    if input.is_admin == Some(false) && user.user_id == me.user.user_id {
        return Err(ApiError::invalid("is_admin", "Administrators cannot remove their own admin status"));
    }
    let new_hash = match &input.password {
        Some(pw) => {
            Some(new_password(&st, &me, &user, pw, input.current_password.as_deref().map(String::as_str)).await?)
        }
        None => None,
    };
    let mut tx = st.db.begin().await?;
    let change = ProfileChange {
        alias: alias.as_deref(),
        public_key: public_key.as_deref(),
        metadata: input.metadata.as_ref(),
        password_hash: new_hash.as_deref(),
        is_admin: input.is_admin,
        is_banned: input.is_banned,
    };
    users::update_profile(&mut *tx, &user.user_id, &change).await?;
    if new_hash.is_some() {
        sessions::sign_out_everywhere(&mut tx, &user.user_id).await?;
        crate::signals::record(&mut tx, &user.user_id, "password.changed", Some(&me.ip.to_string())).await?;
    }
    let updated = users::by_id(&mut *tx, &user.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "User not found"))?;
    let _forget = st.principals.forget_on_drop(&user.user_id);
    tx.commit().await?;
    if input.is_banned.is_some() || input.is_admin.is_some() {
        tracing::info!(admin = %me.user.user_id, user = %user.user_id, is_banned = ?input.is_banned, is_admin = ?input.is_admin, "account flags changed");
    }
    Ok(ApiOk::new("User updated", UserOut::from(&updated)))
}

/// Every field's rule at once (all failures reported); the normalised alias and public key.
fn validate(input: &UserUpdateIn) -> Result<(Option<String>, Option<String>)> {
    let mut errs = Vec::new();
    let mut keep = |r: Result<String, FieldError>| r.map_err(|e| errs.push(e)).ok();
    let alias = input.alias.as_deref().and_then(|a| keep(fields::alias("alias", a)));
    let public_key = input.public_key.as_deref().and_then(|k| keep(fields::public_key("public_key", k)));
    if let Some(Err(e)) = input.metadata.as_ref().map(|m| fields::json_object("metadata", m, MAX_METADATA)) {
        errs.push(e);
    }
    if let Some(pw) = &input.password {
        errs.extend(password::policy("password", pw, Classes::ThreeOfFour));
        if input.current_password.is_none() {
            errs.push(FieldError::new("current_password", "is required to set a new password"));
        }
    }
    if errs.is_empty() {
        Ok((alias, public_key))
    } else {
        Err(ApiError::validation(errs))
    }
}

/// Check the current password (only the user may change their own) and hash the new one.
async fn new_password(
    st: &AppState,
    me: &Principal,
    user: &UserRow,
    pw: &str,
    current: Option<&str>,
) -> Result<String> {
    if user.user_id != me.user.user_id {
        return Err(ApiError::forbidden("own_password_only", "Only the user may change their password"));
    }
    limits::hit(&st.db, &format!("password_change:user:{}", user.user_id), 30, limits::HOUR).await?;
    checks::password(st, user, current.unwrap_or_default()).await?;
    Ok(st.hasher.hash(pw.to_owned()).await?)
}
