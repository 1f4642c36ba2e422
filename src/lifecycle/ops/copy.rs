//! Copies: a new container from another (or one of its snapshots) on the same host, and a
//! sync that refreshes a copy from its source (LXD's refresh copy). Both lock the source and the
//! copy (in id order, like every op on two containers).

use serde_json::json;

use super::{busy, settled_now};
use crate::{
    db::{
        containers::{self, ContainerRow, NewContainer},
        firewall,
    },
    error::ApiError,
    events::Tx,
    host::StateAction,
    lifecycle::{
        born, firewall::rules::Rule, host_of, network, provision, reason_of, status, transition, HostOp, Trigger,
    },
    quota,
    state::AppState,
};

/// Copy `source` onto `c` on the host (`refresh`: sync an existing copy, stopped meanwhile),
/// make the instance this container's, and run it if `running`.
async fn copy_onto(
    st: &AppState,
    c: &ContainerRow,
    source: &str,
    refresh: bool,
    running: bool,
) -> Result<&'static str, ApiError> {
    let host = host_of(st, c.server_id.as_deref()).await?;
    if refresh && running {
        host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::ForceStop)).await?;
    }
    host.call("copy", |d| d.copy(source, &c.lxd_name, refresh)).await?;
    // The copy carries the source's config, network keys and devices: make them this one's.
    provision::settle_instance(st, &host, c).await?;
    // Nor does it get the source's share devices (tracked by no row of this container): the
    // sweeper mounts what this container should have.
    crate::lifecycle::shares::strip_devices(&host, &c.lxd_name).await?;
    if running {
        host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Start)).await?;
        return Ok(status::RUNNING);
    }
    Ok(status::STOPPED)
}

/// A new container copied from `source` (or its snapshot): `copying` → `running` (when the
/// source runs) or `stopped`, or `failed`.
pub struct CopyContainer {
    n: Box<NewContainer>,
    owner_id: String,
    source: ContainerRow,
    snapshot: Option<String>,
    row: Option<ContainerRow>,
    running: bool,
    /// The source's rules, for `copy_firewall_rules`: stored with the row, applied before it starts.
    firewall: Option<(Vec<Rule>, Vec<Rule>)>,
    by: Trigger,
}

impl CopyContainer {
    /// `n` goes into a project of `owner_id`'s (whose quota it counts against).
    pub fn new(n: NewContainer, owner_id: &str, source: ContainerRow, snapshot: Option<String>, by: Trigger) -> Self {
        Self {
            n: Box::new(n),
            owner_id: owner_id.to_owned(),
            source,
            snapshot,
            row: None,
            running: false,
            firewall: None,
            by,
        }
    }

    /// Give the copy these firewall rules (counted against the owner's limit).
    pub fn with_firewall(mut self, rules: Option<(Vec<Rule>, Vec<Rule>)>) -> Self {
        self.firewall = rules;
        self
    }

    pub fn container_id(&self) -> &str {
        &self.n.container_id
    }
}

impl HostOp for CopyContainer {
    type Out = &'static str;

    names!("container.copy", locks: [source.container_id, n.container_id]);

    async fn intent(&mut self, st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let source_status = settled_now(tx, &self.source.container_id).await?;
        self.running = source_status == status::RUNNING;
        quota::check(tx, &st.cfg, &self.owner_id, &self.n, 0).await?;
        quota::server_room(tx, &self.n.server_id, &self.owner_id).await?;
        containers::insert(&mut **tx, &self.n).await?;
        if self.n.copy_network_rules {
            network::copy_settings(st, tx, &self.source.container_id, &self.n.container_id).await?;
        }
        if let Some((ingress, egress)) = &self.firewall {
            let n = (ingress.len() + egress.len()) as i64;
            quota::check_account_for(tx, &st.cfg, &self.owner_id, quota::Kind::FirewallRules, n).await?;
            firewall::save(&mut **tx, &self.n.container_id, ingress, egress).await?;
        }
        let row = containers::by_id(&mut **tx, &self.n.container_id).await?.ok_or(sqlx::Error::RowNotFound)?;
        born(tx, &row, &self.by).await?;
        self.row = Some(row);
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<&'static str, ApiError> {
        let c = self.row.as_ref().ok_or(sqlx::Error::RowNotFound)?;
        let source = match &self.snapshot {
            Some(s) => format!("{}/{s}", self.source.lxd_name),
            None => self.source.lxd_name.clone(),
        };
        copy_onto(st, c, &source, false, self.running).await
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, to: &&'static str) -> Result<(), ApiError> {
        if let Some(c) = &self.row {
            transition(tx, c, &[status::COPYING], to, &self.by, None).await?;
        }
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, e: &ApiError) -> Result<(), ApiError> {
        if let Some(c) = &self.row {
            transition(tx, c, &[status::COPYING], status::FAILED, &self.by, Some(reason_of(e))).await?;
        }
        Ok(())
    }
}

/// Refresh a copy from its source: `copying` meanwhile, back to running (if it ran) or stopped.
pub struct SyncContainer {
    c: ContainerRow,
    source: ContainerRow,
    running: bool,
    by: Trigger,
}

impl SyncContainer {
    pub fn new(c: ContainerRow, source: ContainerRow, by: Trigger) -> Self {
        Self { c, source, running: false, by }
    }
}

impl HostOp for SyncContainer {
    type Out = &'static str;

    names!("container.sync", locks: [c.container_id, source.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.source.container_id).await?;
        let before = settled_now(tx, &self.c.container_id).await?;
        self.running = before == status::RUNNING || before == status::PAUSED;
        let meta = Some(json!({"sync_from": self.source.container_id}));
        if !transition(tx, &self.c, &[before.as_str()], status::COPYING, &self.by, meta).await? {
            return Err(busy("changing"));
        }
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<&'static str, ApiError> {
        copy_onto(st, &self.c, &self.source.lxd_name, true, self.running).await
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, to: &&'static str) -> Result<(), ApiError> {
        transition(tx, &self.c, &[status::COPYING], to, &self.by, None).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, e: &ApiError) -> Result<(), ApiError> {
        transition(tx, &self.c, &[status::COPYING], status::FAILED, &self.by, Some(reason_of(e))).await?;
        Ok(())
    }
}
