//! Realms are not created: a realm id exists once something of the account names it in its
//! `realm_ids`: auth tokens, projects, containers (servers join with the rentals issue).

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::{
    auth::{access::Require, permissions::perm},
    db::realms,
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    extract::Query,
    state::AppState,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RealmsQuery {
    /// Include resource counts per realm_id (projects, containers, servers, auth_tokens).
    pub include_usage: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RealmUsage {
    pub projects: i64,
    pub containers: i64,
    pub servers: i64,
    pub auth_tokens: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RealmsOut {
    pub realm_ids: Vec<String>,
    pub total: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub usage: Option<BTreeMap<String, RealmUsage>>,
}

/// List your realm IDs
///
/// Every realm id the account's resources name. A realm-restricted auth token sees only its realms.
#[utoipa::path(get, path = "/realms/", tag = "realms", security(("bearer" = [])), params(RealmsQuery),
    responses((status = 200, body = Envelope<RealmsOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.realms"))))]
pub async fn list_realms(
    State(st): State<AppState>,
    me: Require<perm::Realms>,
    Query(q): Query<RealmsQuery>,
) -> Result<ApiOk<RealmsOut>> {
    let only: Option<Vec<String>> = me.token().filter(|t| t.restricted()).map(|t| t.realm_ids.clone());
    let counts = realms::counts(&st.db, &me.user.user_id, only.as_deref()).await?;
    let usage = q.include_usage.unwrap_or(false).then(|| {
        counts
            .iter()
            .map(|c| {
                let usage =
                    RealmUsage { projects: c.projects, containers: c.containers, servers: 0, auth_tokens: c.tokens };
                (c.realm_id.clone(), usage)
            })
            .collect()
    });
    let realm_ids: Vec<String> = counts.into_iter().map(|c| c.realm_id).collect();
    Ok(ApiOk::new("Realms", RealmsOut { total: realm_ids.len(), realm_ids, usage }))
}
