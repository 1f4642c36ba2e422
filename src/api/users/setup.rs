//! `POST /users/me/retry-setup`: set up the free tier again (default project and container)
//! when the first attempt failed, waiting for the host. Idempotent: with everything in place it
//! only reports it.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::auth::dto::{ContainerRef, ProjectRef, ServerRef},
    auth::{access::Require, permissions::perm},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::parse_json,
    lifecycle::free_tier,
    state::AppState,
};

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"region": "eu-central"}))]
pub struct RetrySetupIn {
    /// Preferred region for the free server; the signup region (or any) otherwise.
    pub region: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RetrySetupOut {
    pub server: Option<ServerRef>,
    pub project: Option<ProjectRef>,
    pub container: Option<ContainerRef>,
    /// Why setup cannot go on by itself (null when it can).
    pub blocked_reason: Option<&'static str>,
}

/// Retry free-tier setup
///
/// Creates whatever is missing of the default project and its default container (a failed
/// container that never ran is replaced) and waits for the host. A default container that
/// failed after it had run is left alone: `blocked_reason: "admin_recovery_required"`. With no
/// free server registered: 412 `no_free_server`; with the free tier off: 412 `free_tier_disabled`.
#[utoipa::path(post, path = "/users/me/retry-setup", tag = "users", security(("bearer" = [])), request_body = RetrySetupIn,
    responses((status = 200, body = Envelope<RetrySetupOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.create"))))]
pub async fn retry_setup(
    State(st): State<AppState>,
    me: Require<perm::ContainersCreate>,
    body: axum::body::Bytes,
) -> Result<ApiOk<RetrySetupOut>> {
    // The body is optional: none, or `{ "region": … }`.
    let input: RetrySetupIn =
        if body.iter().all(u8::is_ascii_whitespace) { RetrySetupIn::default() } else { parse_json(&body)? };
    if let Some(r) = &input.region {
        if r.is_empty() || r.len() > 64 {
            return Err(ApiError::invalid("region", "must be a region name"));
        }
    }
    let region = match input.region {
        Some(r) => Some(r),
        None => crate::api::auth::verify::user_region(&st, &me.user.user_id).await,
    };
    let blocked = free_tier::setup(&st, &me.user.user_id, region.as_deref()).await?;
    let refs = free_tier::refs(&st, &me.user.user_id).await?;
    let message = match (blocked, refs.server.as_ref().is_some_and(|s| s.is_ready)) {
        (Some(_), _) => "The default container failed after it had run; an operator must recover it",
        (None, true) => "Setup complete",
        (None, false) => "Setup in progress",
    };
    Ok(ApiOk::new(
        message,
        RetrySetupOut {
            server: refs.server,
            project: refs.project,
            container: refs.container,
            blocked_reason: blocked,
        },
    ))
}
