//! The `env` tag: a container's environment variables, stored with the container and applied
//! live to the instance (`environment.*`). `synced` says whether the host took them now; when
//! it could not be reached they are applied at the container's next start.

use std::collections::BTreeMap;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::containers::{rules, ContainerAccess},
    auth::access::can,
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    extract::{Json, Path},
    lifecycle::{
        self,
        ops::{self, Change},
        Trigger,
    },
    state::AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_env, bulk_set_env)).routes(routes!(set_env, delete_env))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvOut {
    pub environment_vars: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnvSyncedOut {
    pub environment_vars: BTreeMap<String, String>,
    /// Applied to the instance now (false: at its next start).
    pub synced: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"value": "production"}))]
pub struct EnvValueIn {
    pub value: String,
}

/// Record the change under the container's lock, then push the environment to the instance.
async fn store(st: &AppState, access: &ContainerAccess<can::UpdateContainer>, change: Change) -> Result<EnvSyncedOut> {
    rules::settled(&access.row)?;
    let by = Trigger::user(&access.me.user.user_id);
    let applied = lifecycle::run(st, ops::Reconfigure::new(&access.row.container_id, change, by)).await?;
    Ok(EnvSyncedOut { environment_vars: applied.row.env(), synced: applied.synced })
}

/// List container environment variables
#[utoipa::path(get, path = "/containers/{id}/env", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<EnvOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_env(access: ContainerAccess<can::ReadContainer>) -> Result<ApiOk<EnvOut>> {
    Ok(ApiOk::new("Environment variables", EnvOut { environment_vars: access.row.env() }))
}

/// Bulk set container environment variables
///
/// Merges: every key given is set, the others are kept. Values are strings without line
/// breaks; keys starting with `HOODY_` are reserved (422). The variables reach the instance's
/// runtime environment and `/etc/environment` (new logins).
#[utoipa::path(method(put, patch), path = "/containers/{id}/env", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    request_body(content = Object, description = "Variable names to string values",
        example = json!({"APP_ENV": "production", "LOG_LEVEL": "info"})),
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn bulk_set_env(
    State(st): State<AppState>,
    access: ContainerAccess<can::UpdateContainer>,
    Json(input): Json<Value>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let vars = rules::env("body", &input)?;
    let out = store(&st, &access, Change::EnvSet(vars)).await?;
    Ok(ApiOk::new("Environment variables set", out))
}

/// Set a single environment variable
#[utoipa::path(method(put, patch), path = "/containers/{id}/env/{key}", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("key" = String, Path, description = "Variable name")),
    request_body = EnvValueIn,
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn set_env(
    State(st): State<AppState>,
    access: ContainerAccess<can::UpdateContainer>,
    Path(path): Path<(String, String)>,
    Json(input): Json<EnvValueIn>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let key = path.1;
    rules::env_key("key", &key)?;
    let value = rules::env_value("value", &input.value)?;
    let out = store(&st, &access, Change::EnvSet(BTreeMap::from([(key, value)]))).await?;
    Ok(ApiOk::new("Environment variable set", out))
}

/// Delete a single environment variable
///
/// Idempotent: 200 whether the key existed or not. `HOODY_*` keys are reserved (422).
#[utoipa::path(delete, path = "/containers/{id}/env/{key}", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("key" = String, Path, description = "Variable name")),
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn delete_env(
    State(st): State<AppState>,
    access: ContainerAccess<can::UpdateContainer>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let key = path.1;
    rules::env_key("key", &key)?;
    let out = store(&st, &access, Change::EnvRemove(key)).await?;
    Ok(ApiOk::new("Environment variable deleted", out))
}
