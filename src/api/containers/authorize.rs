//! A container claim: a short-lived statement, signed with the API's Ed25519 key, that the
//! caller may reach this container's services. Services verify it offline with the key from
//! `GET /meta/public-key`: the signature is over `hoody.container_claim.v1\n<payload_b64>`.

use axum::extract::State;
use base64::{engine::general_purpose::STANDARD, Engine};
use chrono::Utc;
use serde::Serialize;
use utoipa::ToSchema;

use super::ContainerAccess;
use crate::{
    auth::{access::can, signing::CONTAINER_CLAIM_LABEL},
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    state::AppState,
};

/// Seconds a claim is good for.
pub const CLAIM_TTL: i64 = 300;

#[derive(Debug, Serialize, ToSchema)]
pub struct ContainerClaim {
    pub kid: String,
    pub payload_b64: String,
    pub signature_hex: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeOut {
    pub container_claim: ContainerClaim,
    pub expires_in: i64,
    pub container_id: String,
    pub project_id: String,
}

#[derive(Serialize)]
struct Payload<'a> {
    iss: &'static str,
    sub: &'a str,
    container_id: &'a str,
    project_id: &'a str,
    server_id: Option<&'a str>,
    subserver_name: &'a str,
    access: &'a str,
    token_id: Option<&'a str>,
    iat: i64,
    exp: i64,
}

/// Authorize Container Access
///
/// A claim (5 minutes) for the container's services, verifiable offline.
#[utoipa::path(post, path = "/containers/{id}/authorize", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<AuthorizeOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.actions.exec"))))]
pub async fn authorize_container(
    State(st): State<AppState>,
    access: ContainerAccess<can::Authorize>,
) -> Result<ApiOk<AuthorizeOut>> {
    let c = &access.row;
    let now = Utc::now().timestamp();
    let payload = Payload {
        iss: "hoody-api",
        sub: &access.me.user.user_id,
        container_id: &c.container_id,
        project_id: &c.project_id,
        server_id: c.server_id.as_deref(),
        subserver_name: &c.lxd_name,
        access: &c.access,
        token_id: access.me.token().map(|t| t.token_id.as_str()),
        iat: now,
        exp: now + CLAIM_TTL,
    };
    let payload_b64 = STANDARD.encode(serde_json::to_vec(&payload).unwrap_or_default());
    let signature_hex = st.signer.sign_hex(format!("{CONTAINER_CLAIM_LABEL}\n{payload_b64}").as_bytes());
    let claim = ContainerClaim { kid: st.signer.kid().to_owned(), payload_b64, signature_hex };
    Ok(ApiOk::new(
        "Container access authorized",
        AuthorizeOut {
            container_claim: claim,
            expires_in: CLAIM_TTL,
            container_id: c.container_id.clone(),
            project_id: c.project_id.clone(),
        },
    ))
}
