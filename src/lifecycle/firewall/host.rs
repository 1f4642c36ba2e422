//! The firewall on a host: a bridge of the container's own, named after it, with an explicit
//! /28 from `HOODY_FIREWALL_SUBNETS`, its network ACL (same name) attached with both defaults
//! `allow`, and the container's `eth0` moved onto it. Names are `hf` + the first 13 characters
//! of the container id: 15 characters, the longest interface name Linux takes.

use std::{collections::BTreeMap, net::Ipv4Addr};

use ipnet::Ipv4Net;
use rand::Rng;

use super::rules::Rule;
use crate::{
    error::ApiError,
    host::{Acl, Host, HostError},
};

/// Every bridge and ACL the firewall makes starts with this.
pub const PREFIX: &str = "hf";
/// Subnets tried before giving up (other bridges may take the one picked meanwhile).
const ATTEMPTS: usize = 8;

/// The bridge and ACL name of a container.
pub fn network_name(container_id: &str) -> String {
    let id: String = container_id.chars().take(13).collect();
    format!("{PREFIX}{id}")
}

/// The ACL a rule list makes.
pub fn acl(name: &str, ingress: &[Rule], egress: &[Rule]) -> Acl {
    Acl {
        name: name.to_owned(),
        ingress: ingress.iter().map(Rule::to_acl).collect(),
        egress: egress.iter().map(Rule::to_acl).collect(),
    }
}

fn nic(network: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("type".to_owned(), "nic".to_owned()),
        ("network".to_owned(), network.to_owned()),
        ("name".to_owned(), "eth0".to_owned()),
    ])
}

/// Where the rules now live on the host.
pub struct Placed {
    pub network: String,
    pub subnet: String,
}

/// Make the host hold `ingress`/`egress` for the container: the ACL written, the bridge there
/// (made with a free subnet when missing), `eth0` on it. `moved`: the NIC was not on it before
/// (its address is renewed inside a running instance).
pub async fn apply(
    host: &Host,
    range: Ipv4Net,
    container_id: &str,
    lxd_name: &str,
    ingress: &[Rule],
    egress: &[Rule],
    was_on: Option<&str>,
) -> Result<Placed, ApiError> {
    let name = network_name(container_id);
    let acl = acl(&name, ingress, egress);
    host.call("put_acl", |d| d.put_acl(&acl)).await?;
    let subnet = ensure_bridge(host, range, &name).await?;
    let dev = nic(&name);
    host.call("set_device", |d| d.set_device(lxd_name, "eth0", Some(&dev))).await?;
    if was_on != Some(name.as_str()) {
        renew_address(host, lxd_name).await;
    }
    Ok(Placed { network: name, subnet })
}

/// Put `eth0` on `network` (the container's own bridge), or back on the profile's network.
pub async fn settle_nic(host: &Host, lxd_name: &str, network: Option<&str>) -> Result<(), ApiError> {
    let dev = network.map(nic);
    host.call("set_device", |d| d.set_device(lxd_name, "eth0", dev.as_ref())).await?;
    Ok(())
}

/// Undo [`apply`]: `eth0` back on the profile's network, the bridge and the ACL removed.
/// Anything already gone counts as removed.
pub async fn remove(host: &Host, container_id: &str, lxd_name: &str, instance_too: bool) -> Result<(), ApiError> {
    let name = network_name(container_id);
    if instance_too {
        match host.call("set_device", |d| d.set_device(lxd_name, "eth0", None)).await {
            Ok(()) => renew_address(host, lxd_name).await,
            Err(HostError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    host.call("delete_network", |d| d.delete_network(&name)).await?;
    host.call("delete_acl", |d| d.delete_acl(&name)).await?;
    Ok(())
}

/// The bridge's subnet, making the bridge when the host has none by that name: a /28 of
/// `range` that overlaps none of the host's networks, picked at random; another taken meanwhile
/// (its gateway address is in use) means trying another.
async fn ensure_bridge(host: &Host, range: Ipv4Net, name: &str) -> Result<String, ApiError> {
    for _ in 0..ATTEMPTS {
        let nets = host.call("networks", |d| d.networks()).await?;
        if let Some(n) = nets.iter().find(|n| n.name == name) {
            return Ok(n.ipv4.clone().unwrap_or_default());
        }
        let taken: Vec<Ipv4Net> = nets.iter().filter_map(|n| n.ipv4.as_deref()?.parse::<Ipv4Net>().ok()).collect();
        let Some(subnet) = free_subnet(range, &taken) else {
            tracing::warn!(%range, "no free firewall subnet left on this host");
            return Err(ApiError::Unavailable { retry_after_secs: 60 });
        };
        let gateway = Ipv4Addr::from(u32::from(subnet.network()) + 1);
        let config = BTreeMap::from([
            ("ipv4.address".to_owned(), format!("{gateway}/{}", subnet.prefix_len())),
            ("ipv4.nat".to_owned(), "true".to_owned()),
            ("ipv6.address".to_owned(), "none".to_owned()),
            ("security.acls".to_owned(), name.to_owned()),
            ("security.acls.default.ingress.action".to_owned(), "allow".to_owned()),
            ("security.acls.default.egress.action".to_owned(), "allow".to_owned()),
        ]);
        match host.call("create_bridge", |d| d.create_bridge(name, &config)).await {
            Ok(()) => return Ok(config["ipv4.address"].clone()),
            // Taken meanwhile (another bridge with the same gateway), or made by a call whose
            // reply was lost: look again.
            Err(HostError::Refused(why)) => tracing::info!(%why, "firewall bridge not made; trying again"),
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::Unavailable { retry_after_secs: 5 })
}

/// A random /28 of `range` that overlaps none of `taken`.
fn free_subnet(range: Ipv4Net, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    let all: Vec<Ipv4Net> = range.subnets(28).ok()?.collect();
    let start = rand::thread_rng().gen_range(0..all.len().max(1));
    all.iter()
        .cycle()
        .skip(start)
        .take(all.len())
        .find(|s| !taken.iter().any(|t| t.contains(&s.network()) || s.contains(&t.network())))
        .copied()
}

/// Ask a running instance to take an address on its moved `eth0` (DHCP again). Images with a
/// network manager do it themselves on hot-plug; this covers those whose DHCP client was bound
/// to the old interface. A stopped instance gets it at its next start; failures are logged.
async fn renew_address(host: &Host, lxd_name: &str) {
    const SCRIPT: &str = "ip link set eth0 up 2>/dev/null; \
        if command -v udhcpc >/dev/null; then s=/usr/share/udhcpc/default.script; [ -x $s ] || s=/etc/udhcpc/default.script; \
        udhcpc -i eth0 -n -q -t 5 -T 1 -s $s >/dev/null 2>&1; \
        elif command -v dhclient >/dev/null; then dhclient -1 eth0 >/dev/null 2>&1; \
        elif command -v networkctl >/dev/null; then networkctl reconfigure eth0; fi";
    let running = matches!(host.call("state", |d| d.state(lxd_name)).await, Ok(s) if s.status == "Running");
    if !running {
        return;
    }
    let cmd = ["sh", "-c", SCRIPT];
    match host.call("exec", |d| d.exec(lxd_name, &cmd)).await {
        Ok(0) => {}
        Ok(code) => tracing::warn!(instance = lxd_name, code, "renewing the address after the NIC moved failed"),
        Err(e) => tracing::warn!(instance = lxd_name, error = %e, "renewing the address after the NIC moved failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_an_interface() {
        assert_eq!(network_name("0123456789abcdef01234567"), "hf0123456789abc");
        assert!(network_name("0123456789abcdef01234567").len() <= 15);
    }

    #[test]
    fn a_free_subnet_overlaps_nothing_taken() {
        let range: Ipv4Net = "10.250.0.0/26".parse().unwrap();
        let taken: Vec<Ipv4Net> =
            ["10.250.0.1/28", "10.250.0.17/28", "10.250.0.40/29"].iter().map(|s| s.parse().unwrap()).collect();
        for _ in 0..50 {
            let s = free_subnet(range, &taken).unwrap();
            assert_eq!(s.to_string(), "10.250.0.48/28");
        }
        let all: Vec<Ipv4Net> = vec!["10.250.0.0/24".parse().unwrap()];
        assert!(free_subnet(range, &all).is_none());
    }
}
