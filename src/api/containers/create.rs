//! Creating a container: checked and recorded (`creating`), then created and started on its
//! host outside any transaction; or a prespawned one claimed.

use axum::extract::State;
use serde_json::Value;

use super::{dto::CreateIn, fetch, rules};
use crate::{
    api::{containers::dto::ContainerOut, fields},
    auth::{
        access::missing_permission,
        principal::Principal,
        resource::{policy, ProjectAccess},
    },
    db::{
        containers::{self, NewContainer},
        projects::ProjectRow,
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    extract::Json,
    lifecycle::{self, born, provision, status, Trigger},
    state::AppState,
};

/// The features a token must hold to ask for them explicitly.
fn check_features(me: &Principal, input: &CreateIn) -> Result<()> {
    for (asked, leaf) in [
        (input.ai, "containers.features.ai"),
        (input.hoody_kit, "containers.features.hoody_kit"),
        (input.kvm.or(input.dev_kvm), "containers.features.kvm"),
    ] {
        if asked == Some(true) && !me.allows(leaf) {
            return Err(missing_permission(leaf));
        }
    }
    Ok(())
}

/// The row to insert, from a checked body.
fn new_container(st: &AppState, me: &Principal, p: &ProjectRow, input: &CreateIn) -> Result<NewContainer> {
    let mut errors = Vec::new();
    if !crate::db::is_id(&input.server_id) {
        errors.push(crate::error::FieldError::new("server_id", "must be a server id (24 hex)"));
    }
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
    let mut n = NewContainer::new(&p.project_id, &input.server_id, name, image);
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

/// The server must be registered and enabled; a server that is not free needs an admin until
/// rentals exist.
pub(crate) async fn check_server(st: &AppState, me: &Principal, server_id: &str) -> Result<crate::servers::ServerRow> {
    let missing = || ApiError::not_found("server_not_found", "Server not found");
    let s = crate::servers::by_id(&st.db, server_id).await?.ok_or_else(missing)?;
    if !s.is_enabled {
        return Err(ApiError::conflict("server_disabled", "This server does not take new containers"));
    }
    if !s.is_free && !me.user.is_admin {
        return Err(ApiError::forbidden("server_not_rented", "Containers go on free servers or servers you rent"));
    }
    Ok(s)
}

/// The project's `max_containers` and the server's prespawn cap, checked inside the insert
/// transaction after taking the owner's lock, so simultaneous creates cannot overshoot.
pub(crate) async fn check_quota(
    tx: &mut sqlx::PgConnection,
    p: &ProjectRow,
    n: &NewContainer,
    prespawn_cap: i32,
) -> Result<()> {
    sqlx::query("select pg_advisory_xact_lock(hashtext('containers:' || $1))")
        .bind(&p.user_id)
        .execute(&mut *tx)
        .await?;
    if n.prespawn {
        let held: i64 = sqlx::query_scalar(
            "select count(*) from container c join project p on p.project_id = c.project_id \
             where p.user_id = $1 and c.server_id = $2 and c.prespawn",
        )
        .bind(&p.user_id)
        .bind(&n.server_id)
        .fetch_one(&mut *tx)
        .await?;
        if held >= i64::from(prespawn_cap) {
            return Err(ApiError::invalid(
                "prespawn",
                format!("this server keeps at most {prespawn_cap} prespawned containers"),
            ));
        }
        return Ok(());
    }
    let max: Option<Option<i32>> = sqlx::query_scalar("select max_containers from project where project_id = $1")
        .bind(&p.project_id)
        .fetch_optional(&mut *tx)
        .await?;
    let max = max.ok_or_else(crate::auth::resource::project_not_found)?;
    if let Some(max) = max {
        let held: i64 = sqlx::query_scalar(
            "select count(*) from container where project_id = $1 and not prespawn and status <> 'deleting'",
        )
        .bind(&p.project_id)
        .fetch_one(&mut *tx)
        .await?;
        if held >= i64::from(max) {
            return Err(ApiError::invalid(
                "max_containers",
                format!("the project holds its maximum of {max} containers"),
            ));
        }
    }
    Ok(())
}

/// Take over one of the caller's prespawned containers on the same server and image.
async fn claim(st: &AppState, me: &Principal, p: &ProjectRow, n: &NewContainer) -> Result<Option<String>> {
    let mut tx = st.db.begin().await?;
    check_quota(&mut tx, p, n, 0).await?;
    let found: Option<String> = sqlx::query_scalar(
        "select c.container_id from container c join project p on p.project_id = c.project_id \
         where p.user_id = $1 and c.prespawn and c.server_id = $2 and c.container_image = $3 \
         and c.status in ('running', 'stopped') order by c.created_at limit 1 for update of c skip locked",
    )
    .bind(&me.user.user_id)
    .bind(&n.server_id)
    .bind(&n.container_image)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = found else { return Ok(None) };
    sqlx::query(
        "update container set project_id = $2, name = $3, color = $4, ai = $5, hoody_kit = $6, dev_kit = $7, \
         kvm = $8, autostart = $9, ramdisk = $10, prespawn = false, environment_vars = $11, ssh_public_key = $12, \
         comment = $13, realm_ids = $14 where container_id = $1",
    )
    .bind(&id)
    .bind(&n.project_id)
    .bind(&n.name)
    .bind(&n.color)
    .bind(n.ai)
    .bind(n.hoody_kit)
    .bind(n.dev_kit)
    .bind(n.kvm)
    .bind(n.autostart)
    .bind(n.ramdisk)
    .bind(&n.environment_vars)
    .bind(&n.ssh_public_key)
    .bind(&n.comment)
    .bind(&n.realm_ids)
    .execute(&mut *tx)
    .await
    .on_constraint("container_name_key", rules::name_taken)
    .on_constraint("container_ssh_public_key_key", rules::ssh_key_taken)?;
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
    access: ProjectAccess<policy::CreateContainer>,
    Json(input): Json<CreateIn>,
) -> Result<ApiOk<ContainerOut>> {
    let (me, p) = (&access.me, &access.project);
    check_features(me, &input)?;
    if input.cache_image == Some(true) && !me.user.is_admin {
        return Err(ApiError::forbidden("cache_image_forbidden", "Only admins build cached images"));
    }
    let n = new_container(&st, me, p, &input)?;
    let server = check_server(&st, me, &n.server_id).await?;
    let prespawn_cap = server.prespawn_count;
    let by = Trigger::user(&me.user.user_id);
    if !n.prespawn && input.bypass_prespawn != Some(true) {
        if let Some(id) = claim(&st, me, p, &n).await? {
            let c = containers::by_id(&st.db, &id).await?.ok_or_else(|| anyhow::anyhow!("claimed row vanished"))?;
            lifecycle::transition(&st, &c, &[status::RUNNING, status::STOPPED], status::CLAIMING, &by, None).await?;
            lifecycle::detached(provision::claim(st.clone(), c, by)).await?;
            let out = fetch(&st, me, &id).await?;
            return Ok(ApiOk::created("Container created", out));
        }
    }
    let mut tx = st.db.begin().await?;
    check_quota(&mut tx, p, &n, prespawn_cap).await?;
    containers::insert(&mut *tx, &n)
        .await
        .on_constraint("container_name_key", rules::name_taken)
        .on_constraint("container_ssh_public_key_key", rules::ssh_key_taken)?;
    let row = containers::by_id(&mut *tx, &n.container_id).await?.ok_or_else(|| anyhow::anyhow!("row vanished"))?;
    born(&mut tx, &row, &by).await?;
    tx.commit().await?;
    lifecycle::detached(provision::create_and_start(st.clone(), row, by)).await?;
    let out = fetch(&st, me, &n.container_id).await?;
    Ok(ApiOk::created("Container created", out))
}
