//! The reconciler's part for firewalls, per host and in two calls (its networks, its ACLs): a
//! firewall whose host is behind, or lost its ACL or bridge, is applied again from the stored
//! rules; a bridge and ACL left by a change that failed half-way, for a container of this
//! server that has no firewall any more, are removed.

use std::collections::HashMap;

use super::host;
use crate::{
    db::{containers::ContainerRow, firewall},
    error::ApiError,
    host::Host,
    lifecycle::{
        ops::{ChangeFirewall, FirewallChange},
        run, Trigger,
    },
    state::AppState,
};

/// Repair the firewalls of `containers` (this server's, settled) on `host`; how many it fixed.
pub async fn pass(st: &AppState, host: &Host, server_id: &str, containers: &[ContainerRow]) -> Result<usize, ApiError> {
    let rows = firewall::on_server(&st.db, server_id).await?;
    let by_name: HashMap<String, &ContainerRow> =
        containers.iter().map(|c| (host::network_name(&c.container_id), c)).collect();
    let acls = host.call("acls", |d| d.acls(host::PREFIX)).await?;
    let networks = host.call("networks", |d| d.networks()).await?;
    let mut fixed = 0;
    let by = Trigger::system("reconciler");
    for row in &rows {
        let Some(c) = containers.iter().find(|c| c.container_id == row.container_id) else { continue };
        let name = host::network_name(&c.container_id);
        let want = host::acl(&name, &row.ingress, &row.egress);
        let held = acls.iter().find(|a| a.name == name);
        let bridged = networks.iter().any(|n| n.name == name);
        if row.applied_version >= row.version && held == Some(&want) && bridged {
            continue;
        }
        tracing::info!(container = %c.container_id, "firewall out of step with its host; applying it again");
        match run(st, ChangeFirewall::new(c.clone(), FirewallChange::Reapply, by.clone())).await {
            Ok(_) => fixed += 1,
            Err(e) => tracing::warn!(container = %c.container_id, error = %e, "could not re-apply a firewall"),
        }
    }
    for acl in &acls {
        let Some(c) = by_name.get(&acl.name) else { continue };
        if rows.iter().any(|r| r.container_id == c.container_id) {
            continue;
        }
        // Checked again under the container's lock: a change may be making it right now.
        match run(st, ChangeFirewall::new((*c).clone(), FirewallChange::Leftover, by.clone())).await {
            Ok(_) => fixed += 1,
            Err(e) => tracing::warn!(container = %c.container_id, error = %e, "could not remove a leftover firewall"),
        }
    }
    Ok(fixed)
}
