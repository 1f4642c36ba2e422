//! A container's firewall: rules kept in Postgres (the source of truth), applied on its host as
//! a network ACL on a bridge of its own ([`host`]). Every change is one host op
//! ([`crate::lifecycle::ops::ChangeFirewall`]): under the container's lock the new rule lists
//! are stored (one version up), the host is made to hold them, and the version it holds is
//! recorded with the event. A host that fails puts the rules back as they were; the reconciler
//! re-applies any firewall whose host is behind or lost it ([`repair`]).

pub mod host;
pub mod repair;
pub mod rules;

use self::rules::{Direction, Rule};
use super::container_event;
use crate::{
    db::{containers::ContainerRow, firewall},
    error::ApiError,
    events::EventKind,
    quota::{self, Kind},
    state::AppState,
};

/// The most bytes a container's rules may take (both lists as stored).
pub const MAX_BYTES: usize = 65_536;

/// The stored size of two rule lists.
pub fn byte_count(ingress: &[Rule], egress: &[Rule]) -> usize {
    serde_json::to_vec(ingress).map(|v| v.len()).unwrap_or(0) + serde_json::to_vec(egress).map(|v| v.len()).unwrap_or(0)
}

pub(crate) fn too_big(st: &AppState, lists: &(Vec<Rule>, Vec<Rule>)) -> Result<(), ApiError> {
    let n = (lists.0.len() + lists.1.len()) as i64;
    if n > st.cfg.firewall_max_rules {
        return Err(ApiError::invalid(
            "rules",
            format!("a container holds at most {} firewall rules", st.cfg.firewall_max_rules),
        ));
    }
    if byte_count(&lists.0, &lists.1) > MAX_BYTES {
        return Err(ApiError::invalid("rules", format!("a container's rules take at most {MAX_BYTES} bytes")));
    }
    Ok(())
}

pub fn rule_not_found(dir: Direction) -> ApiError {
    ApiError::not_found("firewall_rule_not_found", format!("No {} rule matches", dir.as_str()))
}

/// The rules of `source_id` to copy into a container of `owner_id`'s (`None`: it has none):
/// 422 now when the account has no room for them.
pub async fn copyable(
    st: &AppState,
    owner_id: &str,
    source_id: &str,
) -> Result<Option<(Vec<Rule>, Vec<Rule>)>, ApiError> {
    let Some(fw) = firewall::get(&st.db, source_id).await? else { return Ok(None) };
    if fw.ingress.is_empty() && fw.egress.is_empty() {
        return Ok(None);
    }
    let mut tx = st.db.begin().await?;
    let n = (fw.ingress.len() + fw.egress.len()) as i64;
    quota::check_account_for(&mut tx, &st.cfg, owner_id, Kind::FirewallRules, n).await?;
    tx.rollback().await?;
    Ok(Some((fw.ingress, fw.egress)))
}

/// An event about a container's firewall.
pub fn firewall_event(c: &ContainerRow, kind: EventKind, data: serde_json::Value) -> crate::events::Event {
    let mut e = container_event(c, kind, data);
    e.resource = crate::events::ResourceType::Firewall;
    e
}
