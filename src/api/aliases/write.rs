//! Creating, changing, enabling/disabling and deleting aliases. Each write locks the container's
//! row first (so it is ordered with the container's own transitions and with the other writes
//! to its aliases), reads the alias again under that lock, and writes its event in the same
//! transaction.

use axum::extract::State;
use chrono::Utc;

use super::{
    alias_not_found, catalogue,
    dto::{AliasOut, CreateIn, StateIn, UpdateIn},
    event, rules, AliasAccess, EditAlias,
};
use crate::{
    api::containers::container_not_found,
    auth::{
        access::{self, Require},
        permissions::perm,
        principal::Principal,
    },
    db::{
        containers::{self, ContainerRow},
        new_id,
        projects::Level,
        proxy_aliases::{self, AliasFields, AliasRow},
    },
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result, ResultExt},
    events::{publish, EventKind, Tx},
    extract::Json,
    lifecycle::status,
    quota,
    state::AppState,
};

fn taken() -> ApiError {
    ApiError::conflict("proxy_alias_taken", "This alias name is already taken")
}

/// Lock the container's row for `tx` and refuse writes while it is finalizing a claim or going.
async fn lock_container(tx: &mut Tx, container_id: &str) -> Result<()> {
    match containers::status_for_update(tx, container_id).await?.as_deref() {
        None | Some("deleted") => Err(container_not_found()),
        Some(status::CLAIMING) => Err(ApiError::conflict(
            "container_claiming",
            "The alias's container is finalizing a claim; try again in a moment",
        )),
        Some(status::DELETING) => {
            Err(ApiError::conflict("container_deleting", "The alias's container is being deleted"))
        }
        Some(_) => Ok(()),
    }
}

/// Aliases point at containers someone uses: a prespawned one waits to be claimed (and moved).
fn refuse_prespawned(c: &ContainerRow) -> Result<()> {
    if c.prespawn {
        return Err(ApiError::conflict(
            "container_prespawned",
            "The container is prespawned: aliases go on a container once it is claimed",
        ));
    }
    Ok(())
}

/// The container again under its lock, as `me` sees it now: still in the project it was
/// checked in, still in the request's realm, still editable by `me` and not prespawned (a claim
/// or a revoked grant between the check and the lock refuses the write).
async fn recheck(tx: &mut Tx, me: &Principal, before: &ContainerRow) -> Result<()> {
    let now = containers::visible(&mut **tx, &before.container_id, &me.user.user_id)
        .await?
        .filter(|c| c.project_id == before.project_id)
        .filter(|c| me.realm.as_ref().is_none_or(|r| c.realm_ids.contains(r)))
        .ok_or_else(container_not_found)?;
    if now.level() < Level::Edit {
        return Err(access::level_too_low("container's project", Level::Edit));
    }
    refuse_prespawned(&now)
}

/// Enabling an expired alias would change nothing it answers with: its expiry must move first.
fn refuse_expired(expires_at: Option<chrono::DateTime<Utc>>) -> Result<()> {
    if expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(ApiError::Validation {
            message: "expires_at: this alias has expired; extend expires_at first".into(),
            fields: vec![crate::error::FieldError::new("expires_at", "expired; extend expires_at first")],
        });
    }
    Ok(())
}

/// The alias again, under the container's lock (gone meanwhile: 404).
async fn reread(tx: &mut Tx, alias_id: &str) -> Result<AliasRow> {
    proxy_aliases::by_id(&mut **tx, alias_id).await?.ok_or_else(alias_not_found)
}

/// The alias's name is reserved now and the write would turn it on.
fn refuse_reserved(name: &str) -> Result<()> {
    if catalogue::get().reserved(name) {
        return Err(ApiError::Validation {
            message: "enabled: this alias's name has become reserved; rename or delete it".into(),
            fields: vec![crate::error::FieldError::new(
                "enabled",
                "the name is reserved now: the alias can be disabled, renamed or deleted, not enabled",
            )],
        });
    }
    Ok(())
}

fn out(st: &AppState, row: &AliasRow) -> AliasOut {
    AliasOut::new(row, &st.cfg.containers_domain, Utc::now())
}

/// Create a new proxy alias
///
/// For a container you own or hold `edit` on. `alias` is unique across the platform (409) and
/// generated (48 hex) when `null`, `false` or omitted; `program` must be in the catalogue;
/// `port` is the same as `index`. Counts against the project owner's `limits.aliases`.
#[utoipa::path(post, path = "/proxy/aliases", tag = "proxyAliases", security(("bearer" = [])),
    params(crate::idempotency::KeyHeader), request_body = CreateIn,
    responses((status = 201, body = Envelope<AliasOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn create_alias(
    State(st): State<AppState>,
    me: Require<perm::ProxyAliases>,
    Json(input): Json<CreateIn>,
) -> Result<ApiOk<AliasOut>> {
    let c = access::find::<ContainerRow>(&st, &me, &input.container_id, Level::Edit).await?;
    refuse_prespawned(&c)?;
    let name = rules::name_or_generated(input.alias.as_ref())?;
    let program = rules::program(&input.program)?;
    let index = rules::index(input.index, input.port)?.unwrap_or(1);
    let target_path = input.target_path.as_deref().map(rules::target_path).transpose()?;
    let expires_at = match &input.expires_at {
        Some(v) => rules::expires_at(v, Utc::now())?,
        None => None,
    };
    let fields = AliasFields {
        alias: &name,
        program: &program,
        program_index: index,
        target_path: target_path.as_deref(),
        allow_path_override: input.allow_path_override.unwrap_or(true),
        expires_at,
        enabled: input.enabled.unwrap_or(true),
    };
    let id = new_id();
    let mut tx = st.db.begin().await?;
    lock_container(&mut tx, &c.container_id).await?;
    recheck(&mut tx, &me, &c).await?;
    quota::check_account(&mut tx, &st.cfg, &c.owner_id, quota::Kind::Aliases).await?;
    proxy_aliases::insert(&mut *tx, &id, &c.container_id, &fields)
        .await
        .on_constraint("proxy_alias_alias_key", taken)?;
    let row = reread(&mut tx, &id).await?;
    publish(&mut tx, event(&row, EventKind::ProxyAliasCreated, &me.user.user_id)).await?;
    tx.commit().await?;
    Ok(ApiOk::created("Proxy alias created", out(&st, &row)))
}

/// Update proxy alias
///
/// Only the fields sent change. A new name follows the create rules (409 when taken); an alias
/// whose name has since become reserved cannot be enabled (422), only renamed, disabled or
/// deleted. 409 while the container is finalizing a claim.
#[utoipa::path(patch, path = "/proxy/aliases/{id}", tag = "proxyAliases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Proxy alias ID")), request_body = UpdateIn,
    responses((status = 200, body = Envelope<AliasOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn update_alias(
    State(st): State<AppState>,
    access: AliasAccess<EditAlias>,
    Json(input): Json<UpdateIn>,
) -> Result<ApiOk<AliasOut>> {
    let name = input.alias.as_deref().map(|a| rules::name("alias", a)).transpose()?;
    let program = input.program.as_deref().map(rules::program).transpose()?;
    let index = rules::index(input.index, input.port)?;
    let target_path = match &input.target_path {
        Some(Some(p)) => Some(Some(rules::target_path(p)?)),
        Some(None) => Some(None),
        None => None,
    };
    let expires_at = match &input.expires_at {
        Some(Some(v)) => Some(rules::expires_at(v, Utc::now())?),
        Some(None) => Some(None),
        None => None,
    };
    let mut tx = st.db.begin().await?;
    lock_container(&mut tx, &access.row.container_id).await?;
    let cur = reread(&mut tx, &access.row.alias_id).await?;
    let fields = AliasFields {
        alias: name.as_deref().unwrap_or(&cur.alias),
        program: program.as_deref().unwrap_or(&cur.program),
        program_index: index.unwrap_or(cur.program_index),
        target_path: match &target_path {
            Some(p) => p.as_deref(),
            None => cur.target_path.as_deref(),
        },
        allow_path_override: input.allow_path_override.unwrap_or(cur.allow_path_override),
        expires_at: expires_at.unwrap_or(cur.expires_at),
        enabled: input.enabled.unwrap_or(cur.enabled),
    };
    if fields.enabled && (input.enabled == Some(true) || !cur.enabled) {
        refuse_reserved(fields.alias)?;
    }
    if input.enabled == Some(true) {
        refuse_expired(fields.expires_at)?;
    }
    let changed = fields.alias != cur.alias
        || fields.program != cur.program
        || fields.program_index != cur.program_index
        || fields.target_path != cur.target_path.as_deref()
        || fields.allow_path_override != cur.allow_path_override
        || fields.expires_at != cur.expires_at
        || fields.enabled != cur.enabled;
    if !changed {
        return Ok(ApiOk::new("Proxy alias unchanged", out(&st, &cur)));
    }
    proxy_aliases::update(&mut *tx, &cur.alias_id, &fields).await.on_constraint("proxy_alias_alias_key", taken)?;
    let row = reread(&mut tx, &cur.alias_id).await?;
    let by = &access.me.user.user_id;
    publish(&mut tx, event(&row, EventKind::ProxyAliasUpdated, by)).await?;
    if row.enabled != cur.enabled {
        let kind = if row.enabled { EventKind::ProxyAliasEnabled } else { EventKind::ProxyAliasDisabled };
        publish(&mut tx, event(&row, kind, by)).await?;
    }
    tx.commit().await?;
    Ok(ApiOk::new("Proxy alias updated", out(&st, &row)))
}

/// Enable or disable proxy alias
///
/// A disabled alias is kept (the edge answers 404 for it) and can be enabled again, unless its
/// name has since become reserved (422) or it has expired (422 on `expires_at`: extend it
/// first); disabling is never refused for that. Setting the state
/// it already has changes nothing. 409 while the container is finalizing a claim.
#[utoipa::path(patch, path = "/proxy/aliases/{id}/state", tag = "proxyAliases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Proxy alias ID")), request_body = StateIn,
    responses((status = 200, body = Envelope<AliasOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn set_alias_state(
    State(st): State<AppState>,
    access: AliasAccess<EditAlias>,
    Json(input): Json<StateIn>,
) -> Result<ApiOk<AliasOut>> {
    let mut tx = st.db.begin().await?;
    lock_container(&mut tx, &access.row.container_id).await?;
    let cur = reread(&mut tx, &access.row.alias_id).await?;
    if input.enabled {
        refuse_reserved(&cur.alias)?;
        refuse_expired(cur.expires_at)?;
    }
    if cur.enabled == input.enabled {
        let msg = if cur.enabled { "Proxy alias already enabled" } else { "Proxy alias already disabled" };
        return Ok(ApiOk::new(msg, out(&st, &cur)));
    }
    let fields = AliasFields {
        alias: &cur.alias,
        program: &cur.program,
        program_index: cur.program_index,
        target_path: cur.target_path.as_deref(),
        allow_path_override: cur.allow_path_override,
        expires_at: cur.expires_at,
        enabled: input.enabled,
    };
    proxy_aliases::update(&mut *tx, &cur.alias_id, &fields).await?;
    let row = reread(&mut tx, &cur.alias_id).await?;
    let (kind, msg) = if input.enabled {
        (EventKind::ProxyAliasEnabled, "Proxy alias enabled")
    } else {
        (EventKind::ProxyAliasDisabled, "Proxy alias disabled")
    };
    publish(&mut tx, event(&row, kind, &access.me.user.user_id)).await?;
    tx.commit().await?;
    Ok(ApiOk::new(msg, out(&st, &row)))
}

/// Delete proxy alias
///
/// Permanent: the edge answers 404 for its URL at once, and the name is free again.
#[utoipa::path(delete, path = "/proxy/aliases/{id}", tag = "proxyAliases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Proxy alias ID")),
    responses((status = 200, body = Envelope<Option<String>>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn delete_alias(State(st): State<AppState>, access: AliasAccess<EditAlias>) -> Result<ApiOk<()>> {
    let mut tx = st.db.begin().await?;
    lock_container(&mut tx, &access.row.container_id).await?;
    let cur = reread(&mut tx, &access.row.alias_id).await?;
    if !proxy_aliases::delete(&mut *tx, &cur.alias_id).await? {
        return Err(alias_not_found());
    }
    publish(&mut tx, event(&cur, EventKind::ProxyAliasDeleted, &access.me.user.user_id)).await?;
    tx.commit().await?;
    Ok(ApiOk::new("Proxy alias deleted", ()))
}
