//! A container's outbound network setting: written to the instance first, stored after (so a
//! host that refuses leaves the stored setting as it was).

use chrono::Utc;
use serde_json::json;

use super::settled_now;
use crate::{
    db::{containers::ContainerRow, ts},
    error::ApiError,
    events::{publish, EventKind, Tx},
    lifecycle::{
        container_event, host_of,
        network::{self, Desired, NetworkOut},
        HostOp, Trigger,
    },
    state::AppState,
};

pub enum NetworkChange {
    /// A new setting; `full_url` is the proxy URL as given (with its credentials).
    Configure {
        out: Box<NetworkOut>,
        full_url: Option<String>,
    },
    Remove,
    /// Turn the stored setting on or off.
    Switch(bool),
}

pub fn not_configured() -> ApiError {
    ApiError::not_found("network_not_configured", "This container has no network configuration")
}

pub struct SetNetwork {
    c: ContainerRow,
    change: NetworkChange,
    /// What is stored once done (`None`: removed).
    result: Option<NetworkOut>,
    by: Trigger,
}

impl SetNetwork {
    pub fn new(c: ContainerRow, change: NetworkChange, by: Trigger) -> Self {
        Self { c, change, result: None, by }
    }
}

impl HostOp for SetNetwork {
    /// The setting as stored now (`None` once removed).
    type Out = Option<NetworkOut>;

    names!("container.network", locks: [c.container_id]);

    async fn intent(&mut self, st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        settled_now(tx, &self.c.container_id).await?;
        let current = network::stored(st, &self.c.container_id).await?;
        self.result = match &self.change {
            NetworkChange::Configure { out, .. } => Some((**out).clone()),
            NetworkChange::Remove => {
                current.ok_or_else(not_configured)?;
                None
            }
            NetworkChange::Switch(on) => {
                let (mut out, _) = current.ok_or_else(not_configured)?;
                out.status = Some(if *on { "running" } else { "stopped" }.into());
                out.last_status_check = Some(ts(Utc::now()));
                Some(out)
            }
        };
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<Option<NetworkOut>, ApiError> {
        let host = host_of(st, self.c.server_id.as_deref()).await?;
        let (desired, keep_file) = match &self.change {
            NetworkChange::Configure { out, full_url } => (Desired::of(out, full_url.as_deref()), false),
            NetworkChange::Remove => (Desired::none(), false),
            NetworkChange::Switch(on) => (Desired::switch(*on), true),
        };
        desired.apply(st, &host, &self.c.lxd_name, keep_file).await?;
        Ok(self.result.clone())
    }

    async fn done(&mut self, st: &AppState, tx: &mut Tx, _: &Option<NetworkOut>) -> Result<(), ApiError> {
        let id = self.c.container_id.as_str();
        let kind = match &self.change {
            NetworkChange::Configure { full_url, .. } => {
                let sealed = full_url.as_ref().map(|u| st.sealer.seal(id.as_bytes(), u.as_bytes())).transpose()?;
                network::save(tx, id, self.result.as_ref(), Some(sealed)).await?;
                EventKind::ContainerNetworkUpdated
            }
            NetworkChange::Remove => {
                network::save(tx, id, None, Some(None)).await?;
                EventKind::ContainerNetworkRemoved
            }
            NetworkChange::Switch(on) => {
                network::save(tx, id, self.result.as_ref(), None).await?;
                if *on {
                    EventKind::ContainerNetworkStarted
                } else {
                    EventKind::ContainerNetworkStopped
                }
            }
        };
        let data = json!({"name": self.c.name, "type": self.result.as_ref().and_then(|o| o.kind)});
        publish(tx, container_event(&self.c, kind, data)).await?;
        Ok(())
    }
}
