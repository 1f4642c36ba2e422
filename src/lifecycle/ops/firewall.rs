//! A change to a container's firewall (`lifecycle::firewall`): the new rule lists stored under
//! the container's lock, the host made to hold them, the applied version and the event recorded.

use serde_json::json;

use super::settled_now;
use crate::{
    db::{containers::ContainerRow, firewall, firewall::FirewallRow},
    error::ApiError,
    events::{publish, EventKind, Tx},
    lifecycle::{
        firewall::{
            firewall_event, host, rule_not_found,
            rules::{Direction, Rule, RuleFields},
            too_big,
        },
        host_of, HostOp, Trigger,
    },
    quota::{self, Kind},
    state::AppState,
};

pub enum FirewallChange {
    Add(Direction, Rule),
    /// The first rule matching `filter` (every one with `all`; `all` with an empty filter
    /// empties the direction).
    Remove {
        dir: Direction,
        filter: RuleFields,
        all: bool,
    },
    /// Set the state of the first rule matching `filter`.
    Toggle {
        dir: Direction,
        filter: RuleFields,
        state: String,
    },
    /// Every rule gone and the bridge and ACL removed: the container back on open networking.
    Reset,
    /// Take these lists (a copy's rules).
    Replace {
        ingress: Vec<Rule>,
        egress: Vec<Rule>,
    },
    /// Make the host hold the stored rules again (the reconciler; no event).
    Reapply,
    /// Remove a bridge and ACL the host still has for a container without a firewall (the
    /// reconciler, after a change failed half-way; no event).
    Leftover,
}

#[derive(Debug, Clone)]
pub enum FirewallOutcome {
    /// The rule added, or the equal one already there (`duplicate_of` its index).
    Added {
        rule: Rule,
        duplicate_of: Option<usize>,
    },
    Removed(Vec<Rule>),
    Toggled(Rule),
    /// The lists now.
    Reset,
    Replaced,
}

pub struct ChangeFirewall {
    c: ContainerRow,
    change: FirewallChange,
    by: Trigger,
    before: Option<FirewallRow>,
    /// The lists and version stored by the intent (`None`: nothing changes, or a reset).
    after: Option<(Vec<Rule>, Vec<Rule>, i64)>,
    outcome: Option<FirewallOutcome>,
    placed: Option<host::Placed>,
}

impl ChangeFirewall {
    pub fn new(c: ContainerRow, change: FirewallChange, by: Trigger) -> Self {
        Self { c, change, by, before: None, after: None, outcome: None, placed: None }
    }
}

fn list(fw: &mut (Vec<Rule>, Vec<Rule>), dir: Direction) -> &mut Vec<Rule> {
    match dir {
        Direction::Ingress => &mut fw.0,
        Direction::Egress => &mut fw.1,
    }
}

impl HostOp for ChangeFirewall {
    type Out = FirewallOutcome;

    names!("container.firewall", locks: [c.container_id]);

    async fn intent(&mut self, st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.c.container_id).await?;
        let before = firewall::lock(&mut **tx, &self.c.container_id).await?;
        let mut lists = before.as_ref().map(|f| (f.ingress.clone(), f.egress.clone())).unwrap_or_default();
        let outcome = match &self.change {
            FirewallChange::Add(dir, rule) => {
                if let Some(i) = list(&mut lists, *dir).iter().position(|r| r.same_as(rule)) {
                    self.before = before;
                    self.outcome =
                        Some(FirewallOutcome::Added { rule: list(&mut lists, *dir)[i].clone(), duplicate_of: Some(i) });
                    return Ok(());
                }
                list(&mut lists, *dir).push(rule.clone());
                too_big(st, &lists)?;
                quota::check_account(tx, &st.cfg, &self.c.owner_id, Kind::FirewallRules).await?;
                FirewallOutcome::Added { rule: rule.clone(), duplicate_of: None }
            }
            FirewallChange::Remove { dir, filter, all } => {
                let rules = list(&mut lists, *dir);
                let mut removed = Vec::new();
                if *all {
                    let (gone, kept): (Vec<Rule>, Vec<Rule>) = rules.drain(..).partition(|r| filter.matches(r, true));
                    removed = gone;
                    *rules = kept;
                } else if let Some(i) = rules.iter().position(|r| filter.matches(r, true)) {
                    removed.push(rules.remove(i));
                }
                if removed.is_empty() && !(*all && filter.is_empty(true)) {
                    return Err(rule_not_found(*dir));
                }
                FirewallOutcome::Removed(removed)
            }
            FirewallChange::Toggle { dir, filter, state } => {
                let rules = list(&mut lists, *dir);
                let rule = rules.iter_mut().find(|r| filter.matches(r, false)).ok_or_else(|| rule_not_found(*dir))?;
                rule.state = state.clone();
                FirewallOutcome::Toggled(rule.clone())
            }
            FirewallChange::Reapply => {
                let Some(b) = &before else { return Err(ApiError::not_found("firewall_not_found", "No firewall")) };
                self.after = Some((b.ingress.clone(), b.egress.clone(), b.version));
                self.before = before;
                self.outcome = Some(FirewallOutcome::Replaced);
                return Ok(());
            }
            FirewallChange::Leftover => {
                if before.is_some() {
                    return Err(ApiError::conflict("firewall_exists", "The container has a firewall again"));
                }
                self.outcome = Some(FirewallOutcome::Reset);
                return Ok(());
            }
            FirewallChange::Reset => {
                firewall::remove(&mut **tx, &self.c.container_id).await?;
                self.before = before;
                self.outcome = Some(FirewallOutcome::Reset);
                return Ok(());
            }
            FirewallChange::Replace { ingress, egress } => {
                let had = (lists.0.len() + lists.1.len()) as i64;
                lists = (ingress.clone(), egress.clone());
                too_big(st, &lists)?;
                let more = (lists.0.len() + lists.1.len()) as i64 - had;
                quota::check_account_for(tx, &st.cfg, &self.c.owner_id, Kind::FirewallRules, more).await?;
                FirewallOutcome::Replaced
            }
        };
        let version = firewall::save(&mut **tx, &self.c.container_id, &lists.0, &lists.1).await?;
        self.after = Some((lists.0, lists.1, version));
        self.before = before;
        self.outcome = Some(outcome);
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<FirewallOutcome, ApiError> {
        let outcome = self.outcome.clone().ok_or_else(|| ApiError::Internal(anyhow::anyhow!("no intent")))?;
        let was_on = self.before.as_ref().and_then(|b| b.network.clone());
        match (&self.change, &self.after) {
            (FirewallChange::Reset | FirewallChange::Leftover, _) => {
                if self.before.is_some() || matches!(self.change, FirewallChange::Leftover) {
                    let host = host_of(st, self.c.server_id.as_deref()).await?;
                    host::remove(&host, &self.c.container_id, &self.c.lxd_name, true).await?;
                }
            }
            (_, Some((ingress, egress, _))) => {
                let host = host_of(st, self.c.server_id.as_deref()).await?;
                let placed = host::apply(
                    &host,
                    st.cfg.firewall_subnets,
                    &self.c.container_id,
                    &self.c.lxd_name,
                    ingress,
                    egress,
                    was_on.as_deref(),
                )
                .await?;
                self.placed = Some(placed);
            }
            // A duplicate: nothing changes.
            (_, None) => {}
        }
        Ok(outcome)
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, out: &FirewallOutcome) -> Result<(), ApiError> {
        if let (Some((_, _, version)), Some(p)) = (&self.after, &self.placed) {
            firewall::applied(&mut **tx, &self.c.container_id, *version, &p.network, &p.subnet).await?;
        }
        if matches!(self.change, FirewallChange::Reapply | FirewallChange::Leftover) {
            return Ok(());
        }
        let (kind, data) = match out {
            FirewallOutcome::Added { duplicate_of: Some(_), .. } => return Ok(()),
            FirewallOutcome::Added { rule, .. } => {
                (EventKind::FirewallRuleAdded, json!({"direction": self.direction(), "rule": rule}))
            }
            FirewallOutcome::Removed(rules) => (
                EventKind::FirewallRuleRemoved,
                json!({"direction": self.direction(), "removed_count": rules.len(), "removed": rules}),
            ),
            FirewallOutcome::Toggled(rule) if rule.state == "enabled" => {
                (EventKind::FirewallRuleEnabled, json!({"direction": self.direction(), "rule": rule}))
            }
            FirewallOutcome::Toggled(rule) => {
                (EventKind::FirewallRuleDisabled, json!({"direction": self.direction(), "rule": rule}))
            }
            FirewallOutcome::Reset => (EventKind::FirewallRuleRemoved, json!({"reset": true})),
            FirewallOutcome::Replaced => (EventKind::FirewallRuleUpdated, json!({"copied": true})),
        };
        publish(tx, firewall_event(&self.c, kind, data)).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, _e: &ApiError) -> Result<(), ApiError> {
        // The rules as they were; the host may hold either list now, so the stored version moves
        // past what it is known to hold and the reconciler re-applies it.
        if matches!(self.change, FirewallChange::Reapply | FirewallChange::Leftover)
            || (self.after.is_none() && !matches!(self.change, FirewallChange::Reset))
        {
            return Ok(());
        }
        match &self.before {
            Some(b) => {
                firewall::save(&mut **tx, &self.c.container_id, &b.ingress, &b.egress).await?;
            }
            None => firewall::remove(&mut **tx, &self.c.container_id).await?,
        }
        Ok(())
    }
}

impl ChangeFirewall {
    fn direction(&self) -> Option<&'static str> {
        match &self.change {
            FirewallChange::Add(d, _)
            | FirewallChange::Remove { dir: d, .. }
            | FirewallChange::Toggle { dir: d, .. } => Some(d.as_str()),
            _ => None,
        }
    }
}
