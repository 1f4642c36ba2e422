//! A container's birth and death on its host: create and start, claim a prespawned one, delete.

use serde_json::json;

use super::{busy, settled_now, status_now};
use crate::{
    db::containers::{self, ContainerRow, NewContainer},
    error::ApiError,
    events::{publish, EventKind, Tx},
    host::{InstanceSpec, StateAction},
    lifecycle::{
        container_event, host_of,
        provision::{self, kvm_device, KVM_DEVICE},
        reason_of, status, transition, HostOp, Trigger,
    },
    quota,
    state::AppState,
};

enum Plan {
    /// Insert the row (after the quota check) as the intent.
    New { n: Box<NewContainer>, owner_id: String, prespawn_cap: i32 },
    /// The row was recorded already (`creating`), with what it came with (the free tier's project).
    Recorded,
}

/// Create the instance from its image and start it: `creating` → `running`, or `failed`.
pub struct Create {
    plan: Plan,
    container_id: String,
    row: Option<ContainerRow>,
    by: Trigger,
}

impl Create {
    /// A new container of `owner_id`'s, checked against the quotas and recorded as the intent.
    pub fn new(n: NewContainer, owner_id: &str, prespawn_cap: i32, by: Trigger) -> Self {
        let container_id = n.container_id.clone();
        Self {
            plan: Plan::New { n: Box::new(n), owner_id: owner_id.to_owned(), prespawn_cap },
            container_id,
            row: None,
            by,
        }
    }

    /// A container whose row is already recorded as `creating`.
    pub fn recorded(row: ContainerRow, by: Trigger) -> Self {
        Self { plan: Plan::Recorded, container_id: row.container_id.clone(), row: Some(row), by }
    }
}

impl HostOp for Create {
    type Out = ();

    names!("container.create", locks: [container_id]);

    async fn intent(&mut self, st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        match &self.plan {
            Plan::New { n, owner_id, prespawn_cap } => {
                quota::check(tx, &st.cfg, owner_id, n, *prespawn_cap).await?;
                quota::server_room(tx, &n.server_id, owner_id).await?;
                containers::insert(&mut **tx, n).await?;
                let row = containers::by_id(&mut **tx, &n.container_id).await?.ok_or(sqlx::Error::RowNotFound)?;
                super::super::born(tx, &row, &self.by).await?;
                self.row = Some(row);
            }
            Plan::Recorded => {
                let now = status_now(tx, &self.container_id).await?;
                if now != status::CREATING {
                    return Err(busy(&now));
                }
            }
        }
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let c = self.row.as_ref().ok_or(sqlx::Error::RowNotFound)?;
        let host = host_of(st, c.server_id.as_deref()).await?;
        let spec = InstanceSpec {
            name: c.lxd_name.clone(),
            image_alias: c.container_image.clone(),
            config: provision::config_of(c),
        };
        host.call("create", |d| d.create(&spec)).await?;
        if c.kvm {
            let kvm = kvm_device();
            host.call("set_device", |d| d.set_device(&spec.name, KVM_DEVICE, Some(&kvm))).await?;
        }
        host.call("set_state", |d| d.set_state(&spec.name, StateAction::Start)).await?;
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        if let Some(c) = &self.row {
            transition(tx, c, &[status::CREATING], status::RUNNING, &self.by, None).await?;
        }
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, e: &ApiError) -> Result<(), ApiError> {
        if let Some(c) = &self.row {
            transition(tx, c, &[status::CREATING], status::FAILED, &self.by, Some(reason_of(e))).await?;
        }
        Ok(())
    }
}

/// A prespawned container taken over by a create (its row already carries the new owner's
/// settings): the instance gets them and runs. `claiming` → `running`, or `failed`.
pub struct Claim {
    c: ContainerRow,
    by: Trigger,
}

impl Claim {
    pub fn new(c: ContainerRow, by: Trigger) -> Self {
        Self { c, by }
    }
}

impl HostOp for Claim {
    type Out = ();

    names!("container.claim", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let moved =
            transition(tx, &self.c, &[status::RUNNING, status::STOPPED], status::CLAIMING, &self.by, None).await?;
        if !moved {
            return Err(busy("changing"));
        }
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let c = &self.c;
        let host = host_of(st, c.server_id.as_deref()).await?;
        provision::settle_instance(st, &host, c).await?;
        let state = host.call("state", |d| d.state(&c.lxd_name)).await?;
        match state.status.as_str() {
            "Running" => {}
            "Frozen" => host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Unfreeze)).await?,
            _ => host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Start)).await?,
        }
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        transition(tx, &self.c, &[status::CLAIMING], status::RUNNING, &self.by, None).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, e: &ApiError) -> Result<(), ApiError> {
        transition(tx, &self.c, &[status::CLAIMING], status::FAILED, &self.by, Some(reason_of(e))).await?;
        Ok(())
    }
}

/// Delete a container: `deleting`, the instance removed, the row gone (its event stays). On a
/// host failure the container goes back to where it was.
pub struct Delete {
    c: ContainerRow,
    by: Trigger,
    before: String,
}

impl Delete {
    pub fn new(c: ContainerRow, by: Trigger) -> Self {
        let before = c.status.clone();
        Self { c, by, before }
    }
}

impl HostOp for Delete {
    type Out = ();

    names!("container.delete", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        // A delete left half done (`deleting`) may be finished; other host work may not be cut.
        let now = status_now(tx, &self.c.container_id).await?;
        if now != status::DELETING {
            settled_now(tx, &self.c.container_id).await?;
        }
        self.before = now;
        transition(tx, &self.c, &[], status::DELETING, &self.by, None).await?;
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        provision::destroy(st, &self.c).await
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        crate::api::aliases::gone_with_container(tx, &self.c.container_id, &self.by.0).await?;
        containers::delete(tx, &self.c.container_id).await?;
        let data = json!({"name": self.c.name, "triggered_by": self.by.0});
        publish(tx, container_event(&self.c, EventKind::ContainerDeleted, data)).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, _e: &ApiError) -> Result<(), ApiError> {
        let back = if self.before == status::DELETING { status::FAILED } else { self.before.as_str() };
        let meta = Some(json!({"reason": "delete_failed"}));
        transition(tx, &self.c, &[status::DELETING], back, &self.by, meta).await?;
        Ok(())
    }
}
