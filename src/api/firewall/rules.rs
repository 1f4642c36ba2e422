//! Adding, removing, switching, listing and resetting a container's rules.

use axum::extract::State;

use super::dto::*;
use crate::{
    api::containers::{rules as container_rules, ContainerAccess},
    auth::access::can,
    db::firewall,
    envelope::{ApiOk, Envelope},
    error::{ApiError, ErrorBody, Result},
    extract::Json,
    lifecycle::{
        self,
        firewall::{
            byte_count,
            rules::{self, Direction, RuleFields},
            MAX_BYTES,
        },
        ops::{ChangeFirewall, FirewallChange, FirewallOutcome},
        Trigger,
    },
    state::AppState,
};

pub(super) type Edit = ContainerAccess<can::Firewall>;

async fn change(st: &AppState, access: &Edit, change: FirewallChange) -> Result<FirewallOutcome> {
    container_rules::settled(&access.row)?;
    let by = Trigger::user(&access.me.user.user_id);
    lifecycle::run(st, ChangeFirewall::new(access.row.clone(), change, by)).await
}

async fn add(st: &AppState, access: &Edit, dir: Direction, fields: RuleFields) -> Result<ApiOk<FirewallAddedOut>> {
    let rule = rules::new_rule(dir, &fields).map_err(ApiError::validation)?;
    let FirewallOutcome::Added { rule, duplicate_of } = change(st, access, FirewallChange::Add(dir, rule)).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("firewall add gave another outcome")));
    };
    let message = if duplicate_of.is_some() { "Rule already present" } else { "Rule added" };
    let duplicate_of = duplicate_of.map(|index| FirewallDuplicateOf { direction: dir, index });
    Ok(ApiOk::new(message, FirewallAddedOut { rule, duplicate: duplicate_of.is_some(), duplicate_of }))
}

async fn remove(
    st: &AppState,
    access: &Edit,
    dir: Direction,
    fields: RuleFields,
    all: bool,
) -> Result<ApiOk<FirewallRemovedOut>> {
    let filter = rules::normalise(dir, &fields).map_err(ApiError::validation)?;
    if !all && filter.is_empty(true) {
        return Err(ApiError::invalid("all", "give the fields of the rule to remove, or `all: true`"));
    }
    let FirewallOutcome::Removed(removed) = change(st, access, FirewallChange::Remove { dir, filter, all }).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("firewall remove gave another outcome")));
    };
    Ok(ApiOk::new("Rules removed", FirewallRemovedOut { direction: dir, removed_count: removed.len(), removed }))
}

async fn toggle(st: &AppState, access: &Edit, dir: Direction, fields: RuleFields) -> Result<ApiOk<FirewallToggledOut>> {
    let filter = rules::normalise(dir, &fields).map_err(ApiError::validation)?;
    let state = filter.state.clone().ok_or_else(|| ApiError::invalid("state", "is required"))?;
    if filter.is_empty(false) {
        return Err(ApiError::invalid("body", "give the fields of the rule to switch"));
    }
    let FirewallOutcome::Toggled(updated) =
        change(st, access, FirewallChange::Toggle { dir, filter, state: state.clone() }).await?
    else {
        return Err(ApiError::Internal(anyhow::anyhow!("firewall toggle gave another outcome")));
    };
    Ok(ApiOk::new("Rule state changed", FirewallToggledOut { direction: dir, new_state: state, updated }))
}

/// Add Egress Rule
///
/// Appends a rule for traffic leaving the container (`destination`: where it goes). A rule
/// equal to one already there (same traffic and action) is not added twice: the answer is that
/// rule with `duplicate: true`. The first rule puts the container on a bridge of its own whose
/// defaults allow everything, so only the rules change what passes.
#[utoipa::path(post, path = "/containers/{id}/firewall/egress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallEgressRuleIn,
    responses((status = 200, body = Envelope<FirewallAddedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn add_egress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallEgressRuleIn>,
) -> Result<ApiOk<FirewallAddedOut>> {
    add(&st, &access, Direction::Egress, input.fields()).await
}

/// Add Ingress Rule
///
/// Appends a rule for traffic reaching the container (`source`: where it comes from); as the
/// egress route otherwise.
#[utoipa::path(post, path = "/containers/{id}/firewall/ingress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallIngressRuleIn,
    responses((status = 200, body = Envelope<FirewallAddedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn add_ingress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallIngressRuleIn>,
) -> Result<ApiOk<FirewallAddedOut>> {
    add(&st, &access, Direction::Ingress, input.fields()).await
}

/// Remove Egress Rule(s)
///
/// Removes the first egress rule that has every field given (`state` included when given), or
/// every such rule with `all: true`; `all: true` alone removes every egress rule. The bridge
/// and its ACL stay (an empty list lets everything through); 404 when nothing matches.
#[utoipa::path(delete, path = "/containers/{id}/firewall/egress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallEgressRemoveIn,
    responses((status = 200, body = Envelope<FirewallRemovedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn remove_egress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallEgressRemoveIn>,
) -> Result<ApiOk<FirewallRemovedOut>> {
    remove(&st, &access, Direction::Egress, input.fields(), input.all.unwrap_or(false)).await
}

/// Remove Ingress Rule(s)
///
/// As the egress route, for ingress rules.
#[utoipa::path(delete, path = "/containers/{id}/firewall/ingress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallIngressRemoveIn,
    responses((status = 200, body = Envelope<FirewallRemovedOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn remove_ingress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallIngressRemoveIn>,
) -> Result<ApiOk<FirewallRemovedOut>> {
    remove(&st, &access, Direction::Ingress, input.fields(), input.all.unwrap_or(false)).await
}

/// Toggle Egress Rule State
///
/// Sets `state` (enabled | disabled) on the first egress rule that has every other field given;
/// a disabled rule stays in the list and on the host's ACL but no longer applies.
#[utoipa::path(patch, path = "/containers/{id}/firewall/egress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallEgressToggleIn,
    responses((status = 200, body = Envelope<FirewallToggledOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn toggle_egress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallEgressToggleIn>,
) -> Result<ApiOk<FirewallToggledOut>> {
    toggle(&st, &access, Direction::Egress, input.fields()).await
}

/// Toggle Ingress Rule State
///
/// As the egress route, for ingress rules.
#[utoipa::path(patch, path = "/containers/{id}/firewall/ingress", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")), request_body = FirewallIngressToggleIn,
    responses((status = 200, body = Envelope<FirewallToggledOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn toggle_ingress_rule(
    State(st): State<AppState>,
    access: Edit,
    Json(input): Json<FirewallIngressToggleIn>,
) -> Result<ApiOk<FirewallToggledOut>> {
    toggle(&st, &access, Direction::Ingress, input.fields()).await
}

/// List container firewall rules
///
/// Both directions in order, each rule with its `direction`, and the container's limits.
#[utoipa::path(get, path = "/containers/{id}/firewall/rules", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<FirewallRulesOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn list_firewall_rules(
    State(st): State<AppState>,
    access: ContainerAccess<can::ReadFirewall>,
) -> Result<ApiOk<FirewallRulesOut>> {
    let fw = firewall::get(&st.db, &access.row.container_id).await?.unwrap_or_default();
    let byte_count = byte_count(&fw.ingress, &fw.egress);
    let listed = |rules: Vec<rules::Rule>, direction| {
        rules.into_iter().map(|rule| FirewallListedRule { rule, direction }).collect()
    };
    let out = FirewallRulesOut {
        rule_count: fw.ingress.len() + fw.egress.len(),
        ingress: listed(fw.ingress, Direction::Ingress),
        egress: listed(fw.egress, Direction::Egress),
        byte_count,
        max_rules: st.cfg.firewall_max_rules,
        max_bytes: MAX_BYTES,
    };
    Ok(ApiOk::new("Firewall rules", out))
}

/// Reset container firewall
///
/// Removes every rule, the container's bridge and its ACL: the container is back on the host's
/// shared network with open networking.
#[utoipa::path(post, path = "/containers/{id}/firewall/reset", tag = "firewall", security(("bearer" = [])),
    params(("id" = String, Path, description = "Container ID")),
    responses((status = 200, body = Envelope<FirewallResetOut>), (status = "4XX", body = ErrorBody), (status = "5XX", body = ErrorBody)),
    extensions(("x-hoody-permission" = json!("resources.firewalls"))))]
pub async fn reset_firewall(State(st): State<AppState>, access: Edit) -> Result<ApiOk<FirewallResetOut>> {
    change(&st, &access, FirewallChange::Reset).await?;
    Ok(ApiOk::new(
        "Firewall reset",
        FirewallResetOut { rules: FirewallEmptyRules { ingress: Vec::new(), egress: Vec::new() } },
    ))
}
