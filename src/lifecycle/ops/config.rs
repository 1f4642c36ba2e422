//! Changes to a container's row that its instance must follow (environment, autostart, features):
//! recorded under the container's lock, then pushed to the instance from the row as it is then.
//! Writes to one container take turns, and each push sends everything the row holds, so the
//! database and the instance end equal and no acknowledged write is lost.

use std::collections::BTreeMap;

use serde_json::json;

use super::settled_now;
use crate::{
    db::containers::{self, ContainerRow},
    error::ApiError,
    events::{publish, EventKind, Tx},
    lifecycle::{container_event, host_of, provision, HostOp, Trigger},
    state::AppState,
};

pub use crate::db::containers::UpdateFields;

/// Whether the instance has to follow (its config carries these).
fn touches_instance(f: &UpdateFields) -> bool {
    f.environment_vars.is_some() || f.autostart.is_some() || f.ai.is_some() || f.ramdisk.is_some()
}

pub enum Change {
    Update(Box<UpdateFields>),
    /// Set these variables, keep the others.
    EnvSet(BTreeMap<String, String>),
    /// Remove one variable (absent already: nothing changes).
    EnvRemove(String),
}

/// What the change left: the row as recorded, and whether the instance took it now (if not,
/// it does at the container's next start, which pushes the row's config first).
pub struct Applied {
    pub row: ContainerRow,
    pub synced: bool,
}

pub struct Reconfigure {
    container_id: String,
    change: Change,
    row: Option<ContainerRow>,
    env_changed: bool,
    by: Trigger,
}

impl Reconfigure {
    pub fn new(container_id: &str, change: Change, by: Trigger) -> Self {
        Self { container_id: container_id.to_owned(), change, row: None, env_changed: false, by }
    }
}

/// The environment as stored now (locked for this transaction).
async fn env_now(tx: &mut Tx, id: &str) -> Result<BTreeMap<String, String>, ApiError> {
    let v = containers::env_for_update(tx, id).await?;
    Ok(serde_json::from_value(v).unwrap_or_default())
}

async fn store_env(tx: &mut Tx, id: &str, env: &BTreeMap<String, String>) -> Result<(), ApiError> {
    crate::lifecycle::env::check_size(env)?;
    containers::set_env(&mut **tx, id, &serde_json::to_value(env).unwrap_or_default()).await?;
    Ok(())
}

impl HostOp for Reconfigure {
    type Out = Applied;

    names!("container.reconfigure", locks: [container_id]);

    async fn intent(&mut self, _st: &AppState, tx: &mut Tx) -> Result<(), ApiError> {
        let id = self.container_id.clone();
        settled_now(tx, &id).await?;
        let before = containers::by_id(&mut **tx, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
        let mut events = Vec::new();
        match &self.change {
            Change::Update(f) => {
                containers::update(&mut **tx, &id, f).await?;
                self.env_changed = f.environment_vars.as_ref().is_some_and(|e| *e != before.env());
                if let Some(on) = f.autostart.filter(|on| *on != before.autostart) {
                    let kind =
                        if on { EventKind::ContainerAutostartEnabled } else { EventKind::ContainerAutostartDisabled };
                    events.push((kind, json!({"name": f.name.as_ref().unwrap_or(&before.name)})));
                }
                if let Some(name) = f.name.as_ref().filter(|n| **n != before.name) {
                    events.push((EventKind::ContainerRenamed, json!({"from": before.name, "to": name})));
                }
                if let Some(key) = &f.ssh_public_key {
                    if *key != before.ssh_public_key {
                        let kind = if key.is_some() {
                            EventKind::ContainerSshKeyAdded
                        } else {
                            EventKind::ContainerSshKeyRemoved
                        };
                        events.push((kind, json!({"name": before.name})));
                    }
                }
            }
            Change::EnvSet(vars) => {
                let mut env = env_now(tx, &id).await?;
                let old = env.clone();
                env.extend(vars.clone());
                store_env(tx, &id, &env).await?;
                self.env_changed = env != old;
            }
            Change::EnvRemove(key) => {
                let mut env = env_now(tx, &id).await?;
                self.env_changed = env.remove(key).is_some();
                store_env(tx, &id, &env).await?;
            }
        }
        let row = containers::by_id(&mut **tx, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
        if self.env_changed {
            // The names only: values may be secrets.
            let keys: Vec<String> = row.env().into_keys().collect();
            events.push((EventKind::ContainerEnvUpdated, json!({"name": row.name, "keys": keys})));
        }
        for (kind, data) in events {
            publish(tx, container_event(&row, kind, data)).await?;
        }
        self.row = Some(row);
        Ok(())
    }

    async fn work(&mut self, st: &AppState) -> Result<Applied, ApiError> {
        let row = self.row.clone().ok_or(sqlx::Error::RowNotFound)?;
        let instance_follows = self.env_changed || matches!(&self.change, Change::Update(f) if touches_instance(f));
        if !instance_follows {
            return Ok(Applied { row, synced: true });
        }
        let pushed = async {
            let host = host_of(st, row.server_id.as_deref()).await?;
            provision::sync_config(&host, &row).await?;
            if self.env_changed {
                provision::write_etc_environment(&host, &row).await?;
            }
            Ok::<_, ApiError>(())
        }
        .await;
        let synced = match pushed {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(container = %row.container_id, error = %e, "config not applied now; it will be at the next start");
                false
            }
        };
        Ok(Applied { row, synced })
    }
}
