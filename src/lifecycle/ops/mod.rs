//! The container host operations the runner carries out (`super::run`). Each one says what it
//! locks, what it records before the host is called, what it does on the host, and what it
//! records after; handlers build one and run it.

/// The parts of a `HostOp` that name it: its kind for the journal, the containers it locks (the
/// fields named, `self.<path>`) and its trigger (`self.by`).
macro_rules! names {
    ($kind:literal, locks: [$($($lock:ident).+),+]) => {
        fn kind(&self) -> &'static str {
            $kind
        }

        fn locks(&self) -> Vec<crate::lifecycle::LockKey> {
            vec![$(crate::lifecycle::LockKey::container(&self.$($lock).+)),+]
        }

        fn trigger(&self) -> &crate::lifecycle::Trigger {
            &self.by
        }
    };
}

mod config;
mod copy;
mod create;
mod firewall;
mod network;
mod proxy_file;
mod snapshots;
mod state;
pub mod warm;

pub use self::{
    config::{Applied, Change, Reconfigure, UpdateFields},
    copy::{CopyContainer, SyncContainer},
    create::{Claim, Create, Delete},
    firewall::{ChangeFirewall, FirewallChange, FirewallOutcome},
    network::{not_configured as network_not_configured, NetworkChange, SetNetwork},
    proxy_file::{
        push_soon as push_proxy_file_soon, repair as repair_proxy_files, PushProxyFile, Reach as ProxyFileReach,
        FILE_CHECKS_PER_PASS as PROXY_FILE_CHECKS_PER_PASS,
    },
    snapshots::{snapshot_not_found, DeleteSnapshot, RestoreSnapshot, TakeSnapshot},
    state::{Operate, Operation, SetKvm},
    warm::ClaimWarm,
};

use super::status;
use crate::{error::ApiError, events::Tx};

/// The container's status now, its row locked for this transaction; 404 when it is gone.
pub(crate) async fn status_now(tx: &mut Tx, container_id: &str) -> Result<String, ApiError> {
    let s = crate::db::containers::status_for_update(tx, container_id).await?;
    s.ok_or_else(|| ApiError::not_found("container_not_found", "Container not found"))
}

/// A container busy on its host (creating, copying, deleting, claiming) cannot change now.
pub fn busy(status: &str) -> ApiError {
    ApiError::conflict("container_busy", format!("The container is {status}; try again when it is done"))
}

/// The status read under the lock must be a settled one.
pub(crate) async fn settled_now(tx: &mut Tx, container_id: &str) -> Result<String, ApiError> {
    let s = status_now(tx, container_id).await?;
    if status::busy(&s) {
        return Err(busy(&s));
    }
    Ok(s)
}
