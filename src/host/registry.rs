//! The hosts this process talks to, built on first use from the servers registry and kept:
//! one `Host` (with its own cap and breaker) per registered server. A server whose endpoint or
//! fingerprint changed in the registry gets a fresh driver on its next use. Tests pin a driver
//! (e.g. a fault-injecting one) for a server id.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use super::{Host, HostLimits};
use crate::{auth::crypto::SecretBox, error::ApiError, servers::ServerRow};

#[derive(Default)]
pub struct Hosts {
    limits: HostLimits,
    /// server id → (endpoint + fingerprint it was built for, host).
    built: RwLock<HashMap<String, (String, Arc<Host>)>>,
    pinned: RwLock<HashMap<String, Arc<Host>>>,
}

fn lock_err<T>(p: std::sync::PoisonError<T>) -> T {
    p.into_inner()
}

impl Hosts {
    pub fn new(limits: HostLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    pub fn limits(&self) -> HostLimits {
        self.limits
    }

    /// Use `host` for `server_id` from now on, whatever the registry says (tests).
    pub fn pin(&self, server_id: &str, host: Arc<Host>) {
        self.pinned.write().unwrap_or_else(lock_err).insert(server_id.to_owned(), host);
    }

    /// Back to the registry's driver for `server_id`.
    pub fn unpin(&self, server_id: &str) {
        self.pinned.write().unwrap_or_else(lock_err).remove(server_id);
    }

    /// Every host this process holds now: the pinned ones, and those built from the registry for
    /// servers not pinned (`/metrics`).
    pub fn all(&self) -> Vec<Arc<Host>> {
        let pinned = self.pinned.read().unwrap_or_else(lock_err);
        let mut hosts: Vec<Arc<Host>> = pinned.values().cloned().collect();
        let built = self.built.read().unwrap_or_else(lock_err);
        hosts.extend(built.iter().filter(|(id, _)| !pinned.contains_key(*id)).map(|(_, (_, h))| Arc::clone(h)));
        hosts
    }

    /// The host for a registered server.
    pub fn for_server(&self, row: &ServerRow, sealer: &SecretBox) -> Result<Arc<Host>, ApiError> {
        if let Some(h) = self.pinned.read().unwrap_or_else(lock_err).get(&row.server_id) {
            return Ok(Arc::clone(h));
        }
        let key = format!("{}|{}", row.lxd_endpoint, row.server_fingerprint.as_deref().unwrap_or(""));
        if let Some((k, h)) = self.built.read().unwrap_or_else(lock_err).get(&row.server_id) {
            if *k == key {
                return Ok(Arc::clone(h));
            }
        }
        let driver = crate::servers::driver(row, sealer, self.limits.call_timeout).map_err(|e| {
            tracing::error!(server = %row.name, error = %e, "cannot build the driver for a registered server");
            ApiError::Unavailable { retry_after_secs: 30 }
        })?;
        let host = Arc::new(Host::new(row.name.clone(), Arc::new(driver), self.limits));
        self.built.write().unwrap_or_else(lock_err).insert(row.server_id.clone(), (key, Arc::clone(&host)));
        Ok(host)
    }
}
