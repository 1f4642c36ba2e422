//! Reading aliases: the list (with its filters) and one alias.

use axum::extract::State;
use chrono::Utc;

use super::{
    dto::{AliasListOut, AliasOut, ListQuery},
    AliasAccess, ReadAlias,
};
use crate::{
    api::containers::dto::Flag,
    auth::{access::Require, permissions::perm},
    db::proxy_aliases::{self, ListFilter},
    envelope::{ApiOk, Envelope},
    error::{ErrorBody, Result},
    extract::Query,
    state::AppState,
};

fn flag(f: Option<Flag>) -> Option<bool> {
    f.map(|f| f == Flag::True)
}

/// List proxy aliases
///
/// The aliases of every container you can see, newest first (at most 1000; `count` is how many
/// match). Filters: `project_id`, `container_id`, `realm_id` (or the realm host label), `enabled`
/// (an expired alias counts as disabled) and `expired`.
#[utoipa::path(get, path = "/proxy/aliases", tag = "proxyAliases", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = Envelope<AliasListOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn list_aliases(
    State(st): State<AppState>,
    me: Require<perm::ProxyAliases>,
    Query(q): Query<ListQuery>,
) -> Result<ApiOk<AliasListOut>> {
    let filter = ListFilter {
        caller: &me.user.user_id,
        realm: me.realm.as_deref(),
        project_id: q.project_id.as_deref(),
        container_id: q.container_id.as_deref(),
        enabled: flag(q.enabled),
        expired: flag(q.expired),
    };
    let (rows, count) = proxy_aliases::list(&st.db, &filter).await?;
    let now = Utc::now();
    let aliases = rows.iter().map(|r| AliasOut::new(r, &st.cfg.containers_domain, now)).collect();
    Ok(ApiOk::new("Proxy aliases", AliasListOut { aliases, count }))
}

/// Get proxy alias by ID
///
/// With the project and container it belongs to. An expired alias reads as disabled.
#[utoipa::path(get, path = "/proxy/aliases/{id}", tag = "proxyAliases", security(("bearer" = [])),
    params(("id" = String, Path, description = "Proxy alias ID")),
    responses((status = 200, body = Envelope<AliasOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.proxy_aliases"))))]
pub async fn get_alias(State(st): State<AppState>, access: AliasAccess<ReadAlias>) -> Result<ApiOk<AliasOut>> {
    let out = AliasOut::new(&access.row, &st.cfg.containers_domain, Utc::now()).detailed(&access.row);
    Ok(ApiOk::new("Proxy alias", out))
}
