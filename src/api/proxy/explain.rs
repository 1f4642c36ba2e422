//! `POST /containers/{id}/proxy/explain`: what the container's documents (its own over its
//! project's) decide for a request, and why; the reference evaluator's answer
//! (`proxy::evaluate`).

use std::{collections::BTreeMap, net::Ipv4Addr};

use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    api::containers::ContainerAccess,
    auth::access::can,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, FieldError, Result},
    extract::Json,
    proxy::{
        check_name,
        evaluate::{evaluate, merge, Decision, Request},
        file::{both, Both},
    },
    state::AppState,
};

/// A request to decide. No `Debug`: its headers and cookies carry credentials.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ProxyExplainIn)]
#[schema(example = json!({
    "program": "http",
    "instance": 8080,
    "client_ip": "203.0.113.7",
    "headers": {"authorization": "Basic YWRhOnMzY3JldA=="}
}))]
pub struct ExplainIn {
    /// The program asked for (`http`, `ssh`, `files`…).
    pub program: String,
    /// Its instance or port, 1–65535 (none for programs without one).
    pub instance: Option<i64>,
    /// The client's IPv4 address.
    pub client_ip: Option<String>,
    /// Request headers (`authorization` carries a password group's Basic credentials).
    pub headers: Option<BTreeMap<String, String>>,
    pub cookies: Option<BTreeMap<String, String>>,
    /// Query parameters.
    pub query: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(as = ProxyExplainOut)]
pub struct ExplainOut {
    #[serde(flatten)]
    pub decision: Decision,
    /// The versions the decision was made on (0: no document).
    pub container_file_version: i64,
    pub project_file_version: i64,
}

impl ExplainIn {
    fn into_request(self) -> Result<Request> {
        let mut errors = vec![];
        if let Err(e) = check_name(&self.program, "program") {
            errors.push(e);
        }
        let instance = match self.instance {
            None => None,
            Some(n @ 1..=65_535) => Some(n as u32),
            Some(_) => {
                errors.push(FieldError::new("instance", "must be 1-65535"));
                None
            }
        };
        let client_ip = match self.client_ip.as_deref().map(str::parse::<Ipv4Addr>) {
            None => None,
            Some(Ok(ip)) => Some(ip),
            Some(Err(_)) => {
                errors.push(FieldError::new("client_ip", "must be an IPv4 address"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        Ok(Request {
            program: self.program,
            instance,
            client_ip,
            headers: self.headers.unwrap_or_default(),
            cookies: self.cookies.unwrap_or_default(),
            query: self.query.unwrap_or_default(),
        })
    }
}

/// Explain a proxy decision
///
/// What the edge decides for this request under the container's document merged over its
/// project's, and why: the switch (off denies first), the group whose rule allowed it, or the
/// default. The request's credentials are checked as the edge checks them (password against
/// the stored hash, tokens in constant time, JWTs with the group's algorithm and expiry).
#[utoipa::path(post, path = "/containers/{id}/proxy/explain", tag = "proxyDiscovery", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = ExplainIn,
    responses((status = 200, body = Envelope<ExplainOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn explain_proxy_decision(
    State(st): State<AppState>,
    access: ContainerAccess<can::UpdateContainer>,
    Json(body): Json<ExplainIn>,
) -> Result<ApiOk<ExplainOut>> {
    let req = body.into_request()?;
    let c = &access.row;
    let Both { own, theirs, versions: (own_v, their_v) } = both(&st.db, &c.project_id, &c.container_id).await?;
    let decision = evaluate(&merge(own.as_ref(), theirs.as_ref()), &req);
    Ok(ApiOk::new(
        "Proxy decision",
        ExplainOut { decision, container_file_version: own_v, project_file_version: their_v },
    ))
}
