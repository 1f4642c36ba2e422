//! The `env` tag: a container's environment variables, stored with the container and applied
//! live to the instance (`environment.*`). `synced` says whether the host took them now; when
//! it could not be reached they are applied at the container's next start.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    api::containers::{apply_config, rules},
    auth::resource::{policy, ContainerAccess},
    db::containers::{self, ContainerRow},
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
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
pub struct EnvValueIn {
    pub value: String,
}

fn key_ok(key: &str) -> Result<()> {
    if !rules::env_key_ok(key) {
        return Err(ApiError::invalid("key", "must match ^[A-Za-z_][A-Za-z0-9_]*$ (≤ 128)"));
    }
    Ok(())
}

/// Store the new environment (compare-and-set against concurrent changes), then apply it.
async fn store(
    st: &AppState,
    c: &ContainerRow,
    change: impl Fn(&mut BTreeMap<String, String>),
) -> Result<EnvSyncedOut> {
    rules::settled(c)?;
    for _ in 0..5 {
        let current: Option<Value> =
            sqlx::query_scalar("select environment_vars from container where container_id = $1")
                .bind(&c.container_id)
                .fetch_optional(&st.db)
                .await?;
        let current = current.ok_or_else(crate::auth::resource::container_not_found)?;
        let mut env: BTreeMap<String, String> = serde_json::from_value(current.clone()).unwrap_or_default();
        change(&mut env);
        rules::check_env_size("environment_vars", &env)?;
        let next = serde_json::to_value(&env).unwrap_or_default();
        let done =
            sqlx::query("update container set environment_vars = $2 where container_id = $1 and environment_vars = $3")
                .bind(&c.container_id)
                .bind(&next)
                .bind(&current)
                .execute(&st.db)
                .await?;
        if done.rows_affected() == 1 {
            let row = containers::by_id(&st.db, &c.container_id)
                .await?
                .ok_or_else(crate::auth::resource::container_not_found)?;
            let synced = apply_config(st, &row).await;
            return Ok(EnvSyncedOut { environment_vars: env, synced });
        }
    }
    Err(ApiError::conflict("concurrent_change", "The environment changed meanwhile; try again"))
}

/// List container environment variables
#[utoipa::path(get, path = "/containers/{id}/env", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<EnvOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.read"))))]
pub async fn list_env(access: ContainerAccess<policy::ReadContainer>) -> Result<ApiOk<EnvOut>> {
    Ok(ApiOk::new("Environment variables", EnvOut { environment_vars: access.container.env() }))
}

/// Bulk set container environment variables
///
/// Sets every key given (others are kept); values are strings.
#[utoipa::path(put, path = "/containers/{id}/env", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = Object,
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn bulk_set_env(
    State(st): State<AppState>,
    access: ContainerAccess<policy::UpdateContainer>,
    Json(input): Json<Value>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let vars = rules::env("body", &input)?;
    let out = store(&st, &access.container, |env| env.extend(vars.clone())).await?;
    Ok(ApiOk::new("Environment variables set", out))
}

/// Set a single environment variable
#[utoipa::path(put, path = "/containers/{id}/env/{key}", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("key" = String, Path, description = "Variable name")),
    request_body = EnvValueIn,
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn set_env(
    State(st): State<AppState>,
    access: ContainerAccess<policy::UpdateContainer>,
    Path(path): Path<(String, String)>,
    Json(input): Json<EnvValueIn>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let key = path.1;
    key_ok(&key)?;
    let value = rules::env_value("value", &input.value)?;
    let out = store(&st, &access.container, |env| {
        env.insert(key.clone(), value.clone());
    })
    .await?;
    Ok(ApiOk::new("Environment variable set", out))
}

/// Delete a single environment variable
#[utoipa::path(delete, path = "/containers/{id}/env/{key}", tag = "env", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID"), ("key" = String, Path, description = "Variable name")),
    responses((status = 200, body = Envelope<EnvSyncedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.update"))))]
pub async fn delete_env(
    State(st): State<AppState>,
    access: ContainerAccess<policy::UpdateContainer>,
    Path(path): Path<(String, String)>,
) -> Result<ApiOk<EnvSyncedOut>> {
    let key = path.1;
    key_ok(&key)?;
    if !access.container.env().contains_key(&key) {
        return Err(ApiError::not_found("env_var_not_found", "No such environment variable"));
    }
    let out = store(&st, &access.container, |env| {
        env.remove(&key);
    })
    .await?;
    Ok(ApiOk::new("Environment variable deleted", out))
}
