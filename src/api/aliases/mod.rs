//! The `proxyAliases` tag: names the edge proxy serves in place of a container's kit host label
//! (`https://{alias}.{server}.<containers domain>/` → one program of one container). No host work:
//! the edge proxy reads the rows. An alias belongs to its container (seen by whoever sees the
//! container, in the container's realms, deleted with it); its owner is the project's owner,
//! whose account cap (`limits.aliases`) it counts against.

mod catalogue;
pub(crate) mod domains;
pub(crate) mod dto;
mod read;
mod rules;
mod write;

use serde_json::json;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use self::dto::ProxyDomainOut;
use crate::{
    auth::{
        access::{Access, Policy, Resource},
        permissions::{leaf, Leaf},
        principal::Principal,
    },
    db::{
        projects::Level,
        proxy_aliases::{self, AliasRow},
    },
    error::{ApiError, Result},
    events::{publish, Event, EventKind, ResourceType, Tx},
    state::AppState,
};

/// Reading an alias: `resources.proxy_aliases`, `read` on the container's project.
pub struct ReadAlias;
impl Policy for ReadAlias {
    const LEAF: Option<Leaf> = Some(leaf::RESOURCES_PROXY_ALIASES);
    const LEVEL: Level = Level::Read;
}

/// Changing or deleting an alias: `resources.proxy_aliases`, `edit` on the container's project.
pub struct EditAlias;
impl Policy for EditAlias {
    const LEAF: Option<Leaf> = Some(leaf::RESOURCES_PROXY_ALIASES);
    const LEVEL: Level = Level::Edit;
}

/// An alias as the caller may reach it under policy `P`.
pub type AliasAccess<P> = Access<AliasRow, P>;

pub fn alias_not_found() -> ApiError {
    ApiError::not_found("proxy_alias_not_found", "Proxy alias not found")
}

impl Resource for AliasRow {
    type Id = crate::ids::AliasId;
    const WHAT: &'static str = "alias's project";

    async fn load(st: &AppState, me: &Principal, id: &Self::Id) -> Result<Option<Self>> {
        Ok(proxy_aliases::visible(&st.db, id, &me.user.user_id).await?)
    }

    fn not_found() -> ApiError {
        alias_not_found()
    }

    fn level(&self) -> Level {
        Level::parse(&self.access).unwrap_or(Level::Read)
    }

    fn realm_ids(&self) -> &[String] {
        &self.realm_ids
    }
}

/// An event about alias `a`, seen by its owner (and those the project is shared with).
fn event(a: &AliasRow, kind: EventKind, by: &str) -> Event {
    let data = json!({
        "alias": a.alias, "program": a.program, "index": a.program_index, "enabled": a.enabled,
        "container_id": a.container_id, "triggered_by": by,
    });
    Event::new(kind, ResourceType::ProxyAlias, &a.alias_id, &a.owner_id, data)
        .in_project(&a.project_id)
        .in_container(&a.container_id)
        .in_realms(&a.realm_ids)
}

/// Inside the transaction that deletes container `container_id` (its aliases go with it by the
/// foreign key): a `proxy.alias.deleted` event for each of them.
pub async fn gone_with_container(tx: &mut Tx, container_id: &str, by: &str) -> Result<()> {
    let ids = proxy_aliases::ids_of_container(&mut **tx, container_id).await?;
    for row in proxy_aliases::rows(&mut **tx, &ids, None).await? {
        let mut e = event(&row, EventKind::ProxyAliasDeleted, by);
        e.data["reason"] = json!("container_deleted");
        publish(tx, e).await?;
    }
    Ok(())
}

/// Aliases cannot be made on a prespawned container (and the create re-checks that under the
/// container's lock, which a claim also takes), so a claimed one has none; should one ever
/// have some, a claim removes them (writing `proxy.alias.deleted`, reason `container_claimed`)
/// before the container moves to its new project, so they never follow it there.
pub async fn gone_with_claim(tx: &mut Tx, container_id: &str, by: &str) -> Result<()> {
    let ids = proxy_aliases::ids_of_container(&mut **tx, container_id).await?;
    for row in proxy_aliases::rows(&mut **tx, &ids, None).await? {
        if proxy_aliases::delete(&mut **tx, &row.alias_id).await? {
            let mut e = event(&row, EventKind::ProxyAliasDeleted, by);
            e.data["reason"] = json!("container_claimed");
            publish(tx, e).await?;
        }
    }
    Ok(())
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(write::create_alias, read::list_aliases))
        .routes(routes!(read::get_alias, write::update_alias, write::delete_alias))
        .routes(routes!(write::set_alias_state))
}
