//! Creating a container: checked and recorded (`creating`), then created and started on its
//! host outside any transaction; or a prespawned one claimed.

use axum::extract::State;
use serde_json::Value;

use super::{dto::CreateIn, fetch, rules};
use crate::{
    api::{containers::dto::ContainerOut, fields, projects::ProjectAccess},
    auth::{access::can, permissions::leaf, principal::Principal},
    db::{
        containers::{self, NewContainer},
        projects::ProjectRow,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    lifecycle::{self, ops, Trigger},
    quota,
    state::AppState,
};

/// The features a token must hold to ask for them explicitly.
fn check_features(me: &Principal, input: &CreateIn) -> Result<()> {
    for (asked, leaf) in [
        (input.ai, leaf::CONTAINERS_FEATURES_AI),
        (input.hoody_kit, leaf::CONTAINERS_FEATURES_HOODY_KIT),
        (input.kvm.or(input.dev_kvm), leaf::CONTAINERS_FEATURES_KVM),
    ] {
        if asked == Some(true) {
            me.require(leaf)?;
        }
    }
    Ok(())
}

/// The row to insert, from a checked body.
fn new_container(st: &AppState, me: &Principal, p: &ProjectRow, input: &CreateIn) -> Result<NewContainer> {
    let mut errors = Vec::new();
    let name = rules::name("name", input.name.as_deref()).map_err(|e| errors.push(e)).ok();
    let image = match &input.container_image {
        Some(i) => rules::image("container_image", i).map_err(|e| errors.push(e)).ok(),
        None => Some(st.cfg.default_image.clone()),
    };
    let env =
        rules::env("environment_vars", input.environment_vars.as_ref().unwrap_or(&Value::Object(Default::default())))
            .map_err(|e| errors.push(e))
            .ok();
    let ssh = input.ssh_public_key.as_deref().map(|k| rules::ssh_key("ssh_public_key", k)).transpose();
    let ssh = ssh.map_err(|e| errors.push(e)).ok().flatten();
    let comment = input.comment.as_deref().map(|c| rules::comment("comment", c)).transpose();
    let comment = comment.map_err(|e| errors.push(e)).ok().flatten();
    let color = input.color.as_deref().map(|c| fields::color("color", c)).transpose();
    let color = color.map_err(|e| errors.push(e)).ok().flatten();
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let (Some(name), Some(image), Some(env)) = (name, image, env) else {
        return Err(ApiError::invalid("body", "invalid container"));
    };
    // Its server is set by placement.
    let mut n = NewContainer::new(&p.project_id, "", name, image);
    if let Some(c) = color {
        n.color = c;
    }
    n.environment_vars = serde_json::to_value(&env).unwrap_or_default();
    n.ssh_public_key = ssh;
    n.comment = comment;
    n.ai = input.ai.unwrap_or(true);
    n.hoody_kit = input.hoody_kit.unwrap_or(true);
    n.dev_kit = input.dev_kit.unwrap_or(n.hoody_kit);
    n.kvm = input.kvm.or(input.dev_kvm).unwrap_or(false);
    n.autostart = input.autostart.unwrap_or(true);
    n.ramdisk = input.ramdisk.unwrap_or(true);
    n.prespawn = input.prespawn.unwrap_or(false);
    n.realm_ids = fields::realms_on_create(me, input.realm_ids.as_deref())?;
    Ok(n)
}

/// Where a named server is checked (copies use it too).
pub(crate) use crate::placement::{check_server, may_run_on};

/// Take over one of the caller's prespawned containers on the same server and image.
async fn claim(st: &AppState, me: &Principal, p: &ProjectRow, n: &NewContainer) -> Result<Option<String>> {
    let mut tx = st.db.begin().await?;
    quota::check(&mut tx, &st.cfg, &p.user_id, n, 0).await?;
    let found = containers::claimable(&mut tx, &me.user.user_id, &n.server_id, &n.container_image).await?;
    let Some(id) = found else { return Ok(None) };
    crate::api::aliases::gone_with_claim(&mut tx, &id, &me.user.user_id).await?;
    containers::claim(&mut *tx, &id, n).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Create a new container
///
/// Recorded as `creating`, then created from its image on the server and started; the answer
/// comes once it runs (201, `running`). If the host fails or does not answer in time the
/// container is `failed` and the answer is 502/503/504. Unless `bypass_prespawn`, one of your
/// prespawned containers on the same server and image is claimed instead. `prespawn: true`
/// makes a hidden one (not listed, not counted against the project's `max_containers`).
#[utoipa::path(post, path = "/projects/{id}/containers", tag = "containers", security(("bearer" = [])),
    params(("id" = String, Path, description = "Project ID"), crate::idempotency::KeyHeader), request_body = CreateIn,
    responses((status = 201, body = Envelope<ContainerOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("containers.create"))))]
pub async fn create_container(
    State(st): State<AppState>,
    access: ProjectAccess<can::CreateContainer>,
    Json(input): Json<CreateIn>,
) -> Result<ApiOk<ContainerOut>> {
    let (me, p) = (&access.me, &access.row);
    check_features(me, &input)?;
    if input.cache_image == Some(true) && !me.user.is_admin {
        return Err(ApiError::forbidden("cache_image_forbidden", "Only admins build cached images"));
    }
    let mut n = new_container(&st, me, p, &input)?;
    let (asked, region) = (input.server_id.as_ref().map(|s| s.as_str()), input.region.as_deref());
    let placed = crate::placement::for_create(&st, me, &p.user_id, asked, region, &n.container_image).await?;
    n.server_id.clone_from(&placed.server.server_id);
    let n = crate::api::images::launch::resolve(&st, me, n).await?;
    let server = &placed.server;
    if n.kvm {
        super::kvm::refuse_on_free_server(Some(server.is_free))?;
    }
    let prespawn_cap = server.prespawn_count;
    let by = Trigger::user(&me.user.user_id);
    if !n.prespawn && input.bypass_prespawn != Some(true) {
        if let Some(id) = claim(&st, me, p, &n).await? {
            let c = containers::by_id(&st.db, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
            lifecycle::run(&st, ops::Claim::new(c, by)).await?;
            let out = fetch(&st, me, &id).await?;
            return Ok(ApiOk::created("Container created", out));
        }
        // Then an instance of the server's warm pool, when nothing asks for a fresh one.
        let warm = lifecycle::warm_pool::may_serve(&n, false, input.cache_image == Some(true));
        if let Some(id) = if warm { lifecycle::warm_pool::claim(&st, &p.user_id, &n, &by).await? } else { None } {
            return Ok(ApiOk::created("Container created", fetch(&st, me, &id).await?));
        }
    }
    let id = n.container_id.clone();
    lifecycle::run(&st, ops::Create::new(n, &p.user_id, prespawn_cap, by)).await?;
    Ok(ApiOk::created("Container created", fetch(&st, me, &id).await?))
}
