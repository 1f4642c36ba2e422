//! Start, stop, force-stop, restart, pause, resume; and the `/dev/kvm` device.

use serde_json::json;

use super::status_now;
use crate::{
    db::containers::ContainerRow,
    error::ApiError,
    events::{publish, EventKind, Tx},
    host::StateAction,
    lifecycle::{container_event, host_of, provision, status, transition, HostOp, Trigger},
    state::AppState,
};

/// A lifecycle operation: the statuses it starts from, the host action and where it ends.
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub name: &'static str,
    pub from: &'static [&'static str],
    pub action: StateAction,
    pub to: &'static str,
}

impl Operation {
    pub fn parse(op: &str) -> Option<Self> {
        use status::*;
        let (name, from, action, to): (_, &'static [&'static str], _, _) = match op {
            "start" => ("start", &[STOPPED, FAILED], StateAction::Start, RUNNING),
            "stop" => ("stop", &[RUNNING, PAUSED], StateAction::Stop, STOPPED),
            "force-stop" => ("force-stop", &[RUNNING, PAUSED, FAILED], StateAction::ForceStop, STOPPED),
            "restart" => ("restart", &[RUNNING], StateAction::Restart, RUNNING),
            "pause" => ("pause", &[RUNNING], StateAction::Freeze, PAUSED),
            "resume" => ("resume", &[PAUSED], StateAction::Unfreeze, RUNNING),
            _ => return None,
        };
        Some(Self { name, from, action, to })
    }
}

/// Run an operation on a container. The status it starts from is read under the lock; the
/// status it ends in is written only if that is still the status after the host did it.
pub struct Operate {
    c: ContainerRow,
    op: Operation,
    from_now: String,
    by: Trigger,
}

impl Operate {
    pub fn new(c: ContainerRow, op: Operation, by: Trigger) -> Self {
        Self { c, op, from_now: String::new(), by }
    }
}

impl HostOp for Operate {
    type Out = ();

    names!("container.operate", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let now = status_now(tx, &self.c.container_id).await?;
        if !self.op.from.contains(&now.as_str()) {
            return Err(ApiError::conflict(
                "invalid_state",
                format!("Cannot {} a container that is {now}", self.op.name),
            ));
        }
        self.from_now = now;
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let c = &self.c;
        let host = host_of(st, c.server_id.as_deref()).await?;
        if self.op.action == StateAction::Start {
            // What the row says (environment, autostart) goes in before the instance runs.
            let row = crate::db::containers::by_id(&st.db, &c.container_id).await?.unwrap_or_else(|| c.clone());
            provision::sync_config(&host, &row).await.map_err(|e| start_refused(e, &row))?;
        }
        host.call("set_state", |d| d.set_state(&c.lxd_name, self.op.action)).await?;
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        transition(
            tx,
            &self.c,
            &[self.from_now.as_str()],
            self.op.to,
            &self.by,
            Some(json!({"operation": self.op.name})),
        )
        .await?;
        Ok(())
    }
}

/// A host that refuses the stored config names what in it (an environment value it cannot take).
fn start_refused(e: crate::host::HostError, c: &ContainerRow) -> ApiError {
    if let crate::host::HostError::Refused(_) = &e {
        if let Some((k, _)) = c.env().into_iter().find(|(_, v)| !crate::lifecycle::env::value_ok(v)) {
            return ApiError::invalid(
                &format!("environment_vars.{k}"),
                "this stored value cannot be set on the host (line breaks or control characters); change it",
            );
        }
    }
    e.into()
}

/// Pass the host's `/dev/kvm` into the container, or take it away (the container is stopped).
pub struct SetKvm {
    c: ContainerRow,
    on: bool,
    by: Trigger,
}

impl SetKvm {
    pub fn new(c: ContainerRow, on: bool, by: Trigger) -> Self {
        Self { c, on, by }
    }
}

impl HostOp for SetKvm {
    type Out = ();

    names!("container.kvm", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let now = status_now(tx, &self.c.container_id).await?;
        if now != status::STOPPED {
            return Err(ApiError::conflict(
                "container_not_stopped",
                format!("KVM is switched while the container is stopped; it is {now}"),
            ));
        }
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let host = host_of(st, self.c.server_id.as_deref()).await?;
        let dev = provision::kvm_device();
        let spec = self.on.then_some(&dev);
        host.call("set_device", |d| d.set_device(&self.c.lxd_name, provision::KVM_DEVICE, spec)).await?;
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        crate::db::containers::set_kvm(&mut **tx, &self.c.container_id, self.on).await?;
        let data = json!({"name": self.c.name, "kvm": self.on});
        publish(tx, container_event(&self.c, EventKind::ContainerResourceUpdated, data)).await?;
        Ok(())
    }
}
