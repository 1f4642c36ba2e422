//! LXD's networks and network ACLs (the firewall's host side), and commands run inside an
//! instance. Facts for Debian's LXD 5.0.2: ACLs attach to a managed bridge (`security.acls` on
//! the network), not to a NIC; a bridge needs an explicit `ipv4.address` (`auto` fails here);
//! LXD does not refuse a subnet that overlaps another bridge's, but two bridges with the same
//! gateway address fail to start their DHCP server ("Address already in use").

use std::collections::BTreeMap;

use hyper::Method;
use serde_json::{json, Value};

use super::{lxd::Lxd, Acl, AclRule, HostError, NetworkInfo};

fn rules(v: &Value) -> Vec<AclRule> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    r.as_object()
                        .map(|o| {
                            o.iter()
                                .filter_map(|(k, v)| {
                                    v.as_str().filter(|s| !s.is_empty()).map(|s| (k.clone(), s.to_owned()))
                                })
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn acl_of(m: &Value) -> Acl {
    Acl {
        name: m["name"].as_str().unwrap_or_default().to_owned(),
        ingress: rules(&m["ingress"]),
        egress: rules(&m["egress"]),
    }
}

impl Lxd {
    /// DELETE a path; a missing object counts as removed.
    pub(super) async fn remove(&self, path: String) -> Result<(), HostError> {
        match self.operate(Method::DELETE, &path, None, None).await {
            Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn list_networks(&self) -> Result<Vec<NetworkInfo>, HostError> {
        let (v, _) = self.request_list("/1.0/networks?recursion=1").await?;
        Ok(v["metadata"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|n| NetworkInfo {
                        name: n["name"].as_str().unwrap_or_default().to_owned(),
                        managed: n["managed"].as_bool().unwrap_or(false),
                        ipv4: n["config"]["ipv4.address"].as_str().filter(|s| s.contains('/')).map(str::to_owned),
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    pub(super) async fn new_bridge(&self, name: &str, config: &BTreeMap<String, String>) -> Result<(), HostError> {
        let body = json!({"name": name, "type": "bridge", "config": config, "description": "hoody firewall"});
        self.operate(Method::POST, "/1.0/networks", Some(body), None).await
    }

    pub(super) async fn one_acl(&self, name: &str) -> Result<Option<Acl>, HostError> {
        match self.request(Method::GET, &format!("/1.0/network-acls/{name}"), None, None).await {
            Ok((v, _)) => Ok(Some(acl_of(&v["metadata"]))),
            Err(HostError::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(super) async fn list_acls(&self, prefix: &str) -> Result<Vec<Acl>, HostError> {
        let (v, _) = self.request_list("/1.0/network-acls?recursion=1").await?;
        Ok(v["metadata"]
            .as_array()
            .map(|a| a.iter().map(acl_of).filter(|acl| acl.name.starts_with(prefix)).collect())
            .unwrap_or_default())
    }

    /// PUT the ACL, POST it when it is missing. LXD's PUT also answers 404 when something the ACL
    /// is used by vanished under it (another instance deleted meanwhile), and a POST then finds the
    /// ACL there: so a POST refused as existing goes back to the PUT, a few times.
    pub(super) async fn write_acl(&self, acl: &Acl) -> Result<(), HostError> {
        let path = format!("/1.0/network-acls/{}", acl.name);
        let body = json!({"ingress": acl.ingress, "egress": acl.egress, "description": "hoody firewall", "config": {}});
        let mut tries = 0;
        loop {
            tries += 1;
            match self.operate(Method::PUT, &path, Some(body.clone()), None).await {
                Err(HostError::NotFound(_)) => {}
                other => return other,
            }
            let mut created = body.clone();
            created["name"] = json!(acl.name);
            match self.operate(Method::POST, "/1.0/network-acls", Some(created), None).await {
                Err(HostError::Refused(m)) if tries < 4 && m.contains("already exists") => {
                    tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
                }
                other => return other,
            }
        }
    }

    /// Start `command` inside `name` (no terminal, output discarded); the operation it makes is
    /// not waited on.
    pub(super) async fn run(&self, name: &str, command: &[&str]) -> Result<(), HostError> {
        let body = json!({
            "command": command,
            "environment": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            "wait-for-websocket": false,
            "interactive": false,
            "record-output": false,
        });
        self.request(Method::POST, &format!("{}/exec", Self::instance(name)), Some(body), None).await.map(|_| ())
    }
}
