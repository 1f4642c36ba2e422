//! A container's URLs on the edge proxy, for `GET /containers/{id}?include_proxy_domains=true`
//! (and the lists): its kit URLs (`https://{projectId}-{containerId}-{kit}-{index}.{server}.
//! <containers domain>`, every kit program of the catalogue at index 1, when the container has
//! the Hoody Kit) and its aliases. `has_proxy_domains`/`proxy_domains_count` count the aliases.

use std::collections::HashMap;

use chrono::Utc;

use super::{catalogue, dto::AliasOut, ProxyDomainOut};
use crate::{api::containers::dto::ContainerOut, db::proxy_aliases, error::Result, state::AppState};

/// A kit URL of container `c` for `program`.
fn kit(c: &ContainerOut, program: &str, domain: &str) -> ProxyDomainOut {
    let label = format!("{}-{}-{program}-1", c.project_id, c.id);
    ProxyDomainOut {
        url: c.server_name.as_ref().map(|s| format!("https://{label}.{s}.{domain}")),
        id: label,
        alias: None,
        program: program.to_owned(),
        index: 1,
        target_path: None,
        allow_path_override: true,
        expires_at: None,
        enabled: true,
        created_at: None,
        updated_at: None,
    }
}

/// Set the alias counts of `out`, and with `list` its URLs (kit URLs first, then the aliases,
/// oldest first).
pub async fn fill(st: &AppState, out: &mut [ContainerOut], list: bool) -> Result<()> {
    let ids: Vec<String> = out.iter().map(|c| c.id.clone()).collect();
    if ids.is_empty() {
        return Ok(());
    }
    let counts: HashMap<String, i64> = proxy_aliases::counts(&st.db, &ids).await?.into_iter().collect();
    for c in out.iter_mut() {
        c.proxy_domains_count = counts.get(&c.id).copied().unwrap_or(0);
        c.has_proxy_domains = c.proxy_domains_count > 0;
    }
    if !list {
        return Ok(());
    }
    let domain = &st.cfg.containers_domain;
    let now = Utc::now();
    let mut aliases: HashMap<String, Vec<ProxyDomainOut>> = HashMap::new();
    for row in proxy_aliases::of_containers(&st.db, &ids).await? {
        aliases.entry(row.container_id.clone()).or_default().push(AliasOut::new(&row, domain, now).into());
    }
    for c in out.iter_mut() {
        let mut urls: Vec<ProxyDomainOut> =
            if c.hoody_kit { catalogue::get().kits().map(|p| kit(c, &p.name, domain)).collect() } else { Vec::new() };
        urls.extend(aliases.remove(&c.id).unwrap_or_default());
        c.proxy_domains = Some(urls);
    }
    Ok(())
}
