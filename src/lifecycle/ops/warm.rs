//! The warm pool's host work: launch an instance into a pool, remove one, and hand one to a
//! create (the claim). Launches and removals belong to nobody: they write no container row, no
//! status log and no event; only the claim, which makes the instance a container, does.

use std::collections::BTreeMap;

use serde_json::json;

use super::status_now;
use crate::{
    db::{
        containers::{self, ContainerRow},
        warm_pool,
    },
    error::ApiError,
    events::Tx,
    host::{HostError, InstanceSpec, StateAction},
    lifecycle::{
        host_of,
        provision::{self, remove_instance},
        reason_of, status, transition, HostOp, LockKey, Trigger,
    },
    state::AppState,
};

/// The config key marking a pool instance, and the server it is kept for (the reconciler's
/// `user.hoody.server_id` is set only when a container claims it).
pub const WARM_KEY: &str = "user.hoody.warm_pool";

/// The LXD name of a pool instance (the container it becomes keeps it).
pub fn lxd_name(instance_id: &str) -> String {
    format!("c-{instance_id}")
}

fn gone() -> ApiError {
    ApiError::conflict("warm_instance_gone", "The pool instance is no longer in that state")
}

fn lock(instance_id: &str) -> Vec<LockKey> {
    vec![LockKey::new("warm", instance_id)]
}

/// Make a pool instance and start it: `launching` → `ready`. A failure removes what was made and
/// the row goes (or, when the removal failed too, the row is left `removing` for the loop).
pub struct LaunchWarm {
    id: String,
    server_id: String,
    image: String,
    by: Trigger,
    cleaned: bool,
}

impl LaunchWarm {
    pub fn new(id: String, server_id: String, image: String) -> Self {
        Self { id, server_id, image, by: Trigger::system("warm_pool"), cleaned: false }
    }
}

impl HostOp for LaunchWarm {
    type Out = ();

    fn kind(&self) -> &'static str {
        "warm_pool.launch"
    }

    fn locks(&self) -> Vec<LockKey> {
        lock(&self.id)
    }

    fn trigger(&self) -> &Trigger {
        &self.by
    }

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        match warm_pool::state_for_update(tx, &self.id).await?.as_deref() {
            // A launch's age (what gives up on one whose process died) counts from here, not
            // from when a pass planned it.
            Some("launching") => Ok(warm_pool::touch(tx, &self.id).await?),
            _ => Err(gone()),
        }
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let host = host_of(st, Some(&self.server_id)).await?;
        let name = lxd_name(&self.id);
        let config = BTreeMap::from([(WARM_KEY.to_owned(), self.server_id.clone())]);
        let spec = InstanceSpec { name: name.clone(), image_alias: self.image.clone(), config };
        let made = async {
            host.call("create", |d| d.create(&spec)).await?;
            host.call("set_state", |d| d.set_state(&name, StateAction::Start)).await
        }
        .await;
        if let Err(e) = made {
            self.cleaned = remove_instance(&host, &name).await.is_ok();
            return Err(e.into());
        }
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        warm_pool::set_state(&mut **tx, &self.id, "launching", "ready").await?;
        warm_pool::launch_worked(&mut **tx, &self.server_id, &self.image).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, _e: &ApiError) -> Result<(), ApiError> {
        if self.cleaned {
            warm_pool::delete(&mut **tx, &self.id).await?;
        } else {
            warm_pool::set_state(&mut **tx, &self.id, "launching", "removing").await?;
        }
        warm_pool::launch_failed(&mut **tx, &self.server_id, &self.image).await?;
        Ok(())
    }
}

/// Remove a pool instance from its host: one whose row is `removing` (the row goes after), or a
/// stray instance marked for this server that has no row. Never one a container owns.
pub struct RemoveWarm {
    id: String,
    server_id: String,
    has_row: bool,
    by: Trigger,
}

impl RemoveWarm {
    /// The instance of a `removing` row.
    pub fn recorded(id: String, server_id: String) -> Self {
        Self { id, server_id, has_row: true, by: Trigger::system("warm_pool") }
    }

    /// An instance marked for the pool of `server_id` that no row knows.
    pub fn stray(id: String, server_id: String) -> Self {
        Self { id, server_id, has_row: false, by: Trigger::system("warm_pool") }
    }
}

impl HostOp for RemoveWarm {
    type Out = ();

    fn kind(&self) -> &'static str {
        "warm_pool.remove"
    }

    fn locks(&self) -> Vec<LockKey> {
        lock(&self.id)
    }

    fn trigger(&self) -> &Trigger {
        &self.by
    }

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        if containers::status(&mut **tx, &self.id).await?.is_some() {
            return Err(gone());
        }
        let state = warm_pool::state_for_update(tx, &self.id).await?;
        match (self.has_row, state.as_deref()) {
            (true, Some("removing")) | (false, None) => Ok(()),
            _ => Err(gone()),
        }
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let host = host_of(st, Some(&self.server_id)).await?;
        remove_instance(&host, &lxd_name(&self.id)).await.map_err(ApiError::from)
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        if self.has_row {
            warm_pool::delete(&mut **tx, &self.id).await?;
        }
        Ok(())
    }
}

/// A pool instance a create took (its container row is recorded, `creating`, with the caller's
/// settings): the instance gets them (environment, labels, autostart; the pool's mark goes) and
/// is checked running. `creating` → `running`, or `failed`. An instance that vanished from the
/// host meanwhile is made afresh under the same name, as a fresh create would.
pub struct ClaimWarm {
    c: ContainerRow,
    by: Trigger,
}

impl ClaimWarm {
    pub fn new(c: ContainerRow, by: Trigger) -> Self {
        Self { c, by }
    }
}

impl HostOp for ClaimWarm {
    type Out = ();

    names!("container.claim_warm", locks: [c.container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let now = status_now(tx, &self.c.container_id).await?;
        if now != status::CREATING {
            return Err(super::busy(&now));
        }
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<(), ApiError> {
        let c = &self.c;
        let started = std::time::Instant::now();
        let host = host_of(st, c.server_id.as_deref()).await?;
        let config = provision::config_of(c);
        let unset = [WARM_KEY.to_owned()];
        // Whether it still runs is read alongside (a read, beside LXD's own merge of the keys).
        let (updated, state) = tokio::join!(
            host.call("update_config", |d| d.update_config(&c.lxd_name, &config, &unset)),
            host.call("state", |d| d.state(&c.lxd_name)),
        );
        match updated {
            Ok(()) => {}
            Err(HostError::NotFound(_)) => {
                tracing::warn!(container = %c.container_id, "the pool instance was gone; launching afresh");
                let spec = InstanceSpec { name: c.lxd_name.clone(), image_alias: c.container_image.clone(), config };
                host.call("create", |d| d.create(&spec)).await?;
                host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Start)).await?;
                return Ok(());
            }
            Err(e) => {
                // Not left running without the caller's settings: stopped, the reconciler records
                // it so, and a start applies the container's config (the pool's mark goes then).
                if let Err(stop) = host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::ForceStop)).await {
                    tracing::warn!(container = %c.container_id, error = %stop, "a failed claim's instance could not be stopped");
                }
                return Err(e.into());
            }
        }
        match state?.status.as_str() {
            "Running" => {}
            "Frozen" => host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Unfreeze)).await?,
            _ => host.call("set_state", |d| d.set_state(&c.lxd_name, StateAction::Start)).await?,
        }
        tracing::debug!(container = %c.container_id, host_ms = started.elapsed().as_secs_f64() * 1000.0, "pool instance settled");
        Ok(())
    }

    async fn done(&mut self, _st: &AppState, tx: &mut Tx, _: &()) -> Result<(), ApiError> {
        let meta = Some(json!({"source": "warm_pool"}));
        transition(tx, &self.c, &[status::CREATING], status::RUNNING, &self.by, meta).await?;
        Ok(())
    }

    async fn failed(&mut self, _st: &AppState, tx: &mut Tx, e: &ApiError) -> Result<(), ApiError> {
        transition(tx, &self.c, &[status::CREATING], status::FAILED, &self.by, Some(reason_of(e))).await?;
        Ok(())
    }
}
