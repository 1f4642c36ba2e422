//! `POST /users/me/onboarding`: milestone → the time it was first reached, per account.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    auth::access::Session,
    db::{ts, users},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    state::AppState,
};

/// Milestones an account may hold.
const MAX_MILESTONES: i64 = 100;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"milestone": "created_first_container"}))]
pub struct OnboardingIn {
    /// 1–64 letters, digits, `_`, `-` or `.` (e.g. `created_first_container`).
    pub milestone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingOut {
    /// Every milestone reached, with the time it was first marked.
    #[schema(value_type = Object)]
    pub onboarding: serde_json::Value,
}

/// Mark an onboarding milestone as completed
///
/// Sessions only. Idempotent: a milestone already marked keeps its first time.
#[utoipa::path(post, path = "/users/me/onboarding", tag = "users", security(("bearer" = [])), request_body = OnboardingIn,
    responses((status = 200, body = Envelope<OnboardingOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-session-only" = json!(true))))]
pub async fn mark_onboarding_milestone(
    State(st): State<AppState>,
    me: Session,
    Json(input): Json<OnboardingIn>,
) -> Result<ApiOk<OnboardingOut>> {
    let m = input.milestone.as_str();
    if m.is_empty() || m.len() > 64 || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b)) {
        return Err(ApiError::invalid("milestone", "must be 1–64 letters, digits, _, - or ."));
    }
    // One statement: concurrent marks of one milestone keep the first time.
    let at = ts(chrono::Utc::now());
    let onboarding = users::mark_onboarding(&st.db, &me.user.user_id, m, &at, MAX_MILESTONES).await?;
    st.principals.invalidate(&me.user.user_id);
    let onboarding = onboarding.ok_or_else(|| {
        ApiError::invalid("milestone", format!("an account holds at most {MAX_MILESTONES} milestones"))
    })?;
    Ok(ApiOk::new("Milestone marked", OnboardingOut { onboarding }))
}
