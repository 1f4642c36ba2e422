//! The container firewall on the real LXD: rules stored, applied as the container's network ACL
//! on a bridge of its own, and obeyed by the kernel (packets from inside the container).

mod packets;
mod rules;

use std::{
    io::Write,
    net::{Ipv4Addr, TcpListener},
    process::Command,
    thread,
};

use serde_json::Value;

use crate::fixtures::lxc;

/// The bridge and ACL name of a container (as the server names them).
pub fn net_name(container_id: &str) -> String {
    format!("hf{}", &container_id[..13])
}

/// The ACL as LXD holds it (`GET /1.0/network-acls/{name}`); `None` when there is none.
pub fn acl(name: &str) -> Option<Value> {
    query(&format!("/1.0/network-acls/{name}"))
}

/// A network's config as LXD holds it; `None` when there is none.
pub fn network(name: &str) -> Option<Value> {
    query(&format!("/1.0/networks/{name}"))
}

/// `lxc query <path>`: the object, or `None` when LXD says it is not there. Any other failure
/// (LXD slow to answer under load) is asked again, up to five times, so that it is never taken
/// for "not there".
fn query(path: &str) -> Option<Value> {
    let mut why = String::new();
    for _ in 0..5 {
        let out = Command::new("lxc").args(["query", path]).output().expect("lxc");
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).ok();
        }
        why = String::from_utf8_lossy(&out.stderr).into_owned();
        if why.to_ascii_lowercase().contains("not found") {
            return None;
        }
        thread::sleep(std::time::Duration::from_millis(500));
    }
    panic!("lxc query {path} kept failing: {why}");
}

/// The instance's own devices (not the profile's).
pub fn devices(lxd_name: &str) -> Value {
    let out = lxc(&["query", &format!("/1.0/instances/{lxd_name}")]);
    serde_json::from_str::<Value>(&out).map(|v| v["devices"].clone()).unwrap_or(Value::Null)
}

/// The IPv4 address `eth0` has inside the instance, waiting up to 10 s for one.
pub async fn address(lxd_name: &str) -> Option<String> {
    for _ in 0..50 {
        let out = lxc(&["exec", lxd_name, "--", "ip", "-4", "-o", "addr", "show", "eth0"]);
        if let Some(a) = out.split_whitespace().skip_while(|w| *w != "inet").nth(1) {
            return a.split('/').next().map(str::to_owned);
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    None
}

/// A TCP listener on `addr` (a random port) answering `hi` to every connection, for the test's
/// life; its port.
pub fn listen(addr: Ipv4Addr) -> u16 {
    let l = TcpListener::bind((addr, 0)).expect("listen on the bridge address");
    let port = l.local_addr().unwrap().port();
    thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.write_all(b"hi\n");
        }
    });
    port
}

/// `nc` from inside the instance to `addr:port` (2 s timeout): what it printed, out and err.
pub fn connect(lxd_name: &str, addr: &str, port: u16) -> String {
    let script = format!("nc -w 2 {addr} {port} </dev/null 2>&1");
    let out = Command::new("lxc").args(["exec", lxd_name, "--", "sh", "-c", &script]).output().expect("lxc exec");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
