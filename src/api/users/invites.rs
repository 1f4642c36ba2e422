//! The free tier's invite gate from the account's side: redeem an invite code, and read where
//! the account stands (`HOODY_FREE_TIER_INVITES`; codes from `hoody-api invites create`).

use crate::secret::Secret;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::auth::dto::{ContainerRef, ProjectRef, ServerRef},
    auth::{
        access::{Require, Session},
        limits,
        permissions::perm,
    },
    db::users,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    invites,
    lifecycle::free_tier,
    state::AppState,
};

/// Wrong codes an account may try per hour.
const ATTEMPTS_PER_HOUR: i32 = 10;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "K7QM-4XPR-9TWB"}))]
pub struct RedeemIn {
    /// The invite code, `XXXX-XXXX-XXXX` (case, dashes and spaces do not matter).
    pub code: Secret,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RedeemOut {
    /// The account may claim the free tier.
    pub unlocked: bool,
    /// Whether this server asks for an invite at all.
    pub required: bool,
    /// `none`, or `pool_empty` when no free server is available.
    pub claim_blocked_reason: &'static str,
    /// The free tier's server, project and container, as far as they are set up.
    pub server: Option<ServerRef>,
    pub project: Option<ProjectRef>,
    pub container: Option<ContainerRef>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FreeTierStatusOut {
    /// The invite gate is on.
    pub gate_enabled: bool,
    /// The account may claim the free tier (always, with the gate off).
    pub unlocked: bool,
    /// The account has its default container on a free server.
    pub has_free_server: bool,
    pub can_claim: bool,
    /// `none`, `invite_required`, `pool_empty` or `already_claimed`; advisory, as of now.
    pub claim_blocked_reason: &'static str,
    /// An invite code given at signup could not be redeemed (signup codes are not used yet: false).
    pub signup_code_failed: bool,
}

/// `pool_empty` when no free server would take the account (or the free tier is off).
async fn pool_reason(st: &AppState, user_id: &str) -> Result<&'static str> {
    let region = crate::api::auth::verify::user_region(st, user_id).await;
    let free = crate::servers::free(&st.db, region.as_deref()).await?;
    Ok(if st.cfg.free_tier && free.is_some() { "none" } else { "pool_empty" })
}

async fn answer(st: &AppState, user_id: &str, unlocked: bool) -> Result<RedeemOut> {
    let refs = free_tier::refs(st, user_id).await?;
    Ok(RedeemOut {
        unlocked,
        required: st.cfg.free_tier_invites,
        claim_blocked_reason: pool_reason(st, user_id).await?,
        server: refs.server,
        project: refs.project,
        container: refs.container,
    })
}

/// Redeem a beta invite code
///
/// Sessions only. With the invite gate on, a valid code unlocks the free tier and sets it up at
/// once; each code serves as many accounts as it was made for. Already unlocked: nothing is
/// spent. With the gate off: nothing happens and the code is not spent.
#[utoipa::path(post, path = "/users/me/redeem-invite", tag = "users", security(("bearer" = [])), request_body = RedeemIn,
    responses((status = 200, body = Envelope<RedeemOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn redeem_invite_code(
    State(st): State<AppState>,
    me: Session,
    Json(input): Json<RedeemIn>,
) -> Result<ApiOk<RedeemOut>> {
    if input.code.trim().is_empty() || input.code.len() > 64 {
        return Err(ApiError::invalid("code", "must be an invite code (XXXX-XXXX-XXXX)"));
    }
    let user_id = me.user.user_id.as_str();
    if !st.cfg.free_tier_invites {
        return Ok(ApiOk::new("No invite is needed on this server", answer(&st, user_id, true).await?));
    }
    if me.user.free_tier_unlocked {
        return Ok(ApiOk::new("The free tier is already unlocked", answer(&st, user_id, true).await?));
    }
    // Wrong codes count against the account; a redeemed one gives its attempt back.
    let bucket = format!("invite:user:{user_id}");
    limits::hit(&st.db, &bucket, ATTEMPTS_PER_HOUR, limits::HOUR).await?;
    let mut tx = st.db.begin().await?;
    // One redemption per account, even for concurrent requests.
    let unlocked = users::lock_free_tier_unlocked(&mut *tx, user_id).await?;
    if !unlocked {
        if !invites::redeem(&mut tx, &input.code, user_id).await? {
            return Err(ApiError::bad_request("invalid_invite_code", "Unknown or used-up invite code"));
        }
        users::unlock_free_tier_by_invite(&mut *tx, user_id).await?;
    }
    let _forget = st.principals.forget_on_drop(user_id);
    tx.commit().await?;
    limits::undo(&st.db, &bucket).await?;
    // Set up the free tier now (the host part in the background; never fails this answer).
    let region = crate::api::auth::verify::user_region(&st, user_id).await;
    free_tier::begin(&st, user_id, region.as_deref()).await;
    Ok(ApiOk::new("Invite redeemed; the free tier is unlocked", answer(&st, user_id, true).await?))
}

/// Get free-tier claim status
///
/// Never claims anything. Auth tokens need `resources.read_account`.
#[utoipa::path(get, path = "/users/me/free-tier-status", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Envelope<FreeTierStatusOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.read_account"))))]
pub async fn get_free_tier_status(
    State(st): State<AppState>,
    me: Require<perm::ReadAccount>,
) -> Result<ApiOk<FreeTierStatusOut>> {
    let gate = st.cfg.free_tier_invites;
    let unlocked = !gate || me.user.free_tier_unlocked;
    let has_free = users::has_free_server(&st.db, &me.user.user_id).await?;
    let reason = if has_free {
        "already_claimed"
    } else if !unlocked {
        "invite_required"
    } else {
        pool_reason(&st, &me.user.user_id).await?
    };
    Ok(ApiOk::new(
        "Free-tier status",
        FreeTierStatusOut {
            gate_enabled: gate,
            unlocked,
            has_free_server: has_free,
            can_claim: reason == "none",
            claim_blocked_reason: reason,
            signup_code_failed: false,
        },
    ))
}
