//! LXD's REST API, over its unix socket or HTTPS. Asynchronous operations are awaited with
//! `/1.0/operations/{id}/wait?timeout=`; a 404 there means the operation finished and was
//! purged, so the caller re-reads what it changed. Facts for Debian's LXD 5.0: no
//! `instance_create_start` (instances are created, then started), and copies need
//! `profiles: ["default"]` or they have no root disk.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    https::{HttpsIdentity, HttpsTransport},
    unix::{self, Outgoing},
    Acl, Devices, ExecOutput, HostDriver, HostError, HostFuture, HostResources, ImageInfo, InstanceSpec, InstanceState,
    NetworkInfo, NetworkState, ServerInfo, SnapshotInfo, StateAction,
};

pub const DEFAULT_SOCKET: &str = "/var/lib/lxd/unix.socket";

enum Transport {
    Unix(PathBuf),
    Https(Box<HttpsTransport>),
}

pub struct Lxd {
    transport: Transport,
    connect_timeout: Duration,
    /// How long one operation may run before we stop waiting.
    op_timeout: Duration,
}

impl Lxd {
    /// The local LXD, over its unix socket.
    pub fn new(socket: impl Into<PathBuf>, op_timeout: Duration) -> Self {
        Self { transport: Transport::Unix(socket.into()), connect_timeout: Duration::from_secs(2), op_timeout }
    }

    /// A remote LXD over HTTPS with our client certificate.
    pub fn https(id: &HttpsIdentity<'_>, op_timeout: Duration) -> anyhow::Result<Self> {
        let connect_timeout = Duration::from_secs(2);
        // A call waits on an operation for up to `op_timeout`; the request itself gets a little more.
        let transport = HttpsTransport::new(id, connect_timeout, op_timeout + Duration::from_secs(5))?;
        Ok(Self { transport: Transport::Https(Box::new(transport)), connect_timeout, op_timeout })
    }

    /// How long one wait on an operation may last.
    pub(super) fn op_timeout(&self) -> Duration {
        self.op_timeout
    }

    pub(super) async fn send(&self, out: Outgoing<'_>) -> Result<unix::Reply, HostError> {
        match &self.transport {
            Transport::Unix(socket) => unix::send(socket, self.connect_timeout, out).await,
            Transport::Https(https) => https.send(out).await,
        }
    }

    /// A GET of a listing with `recursion=1`, whose reply may reach [`unix::MAX_LIST_REPLY`].
    pub(super) async fn request_list(&self, path: &str) -> Result<(Value, Option<String>), HostError> {
        let mut out = Outgoing::json(Method::GET, path, None, None);
        out.max_reply = unix::MAX_LIST_REPLY;
        let reply = self.send(out).await?;
        Self::unwrap(path, &reply)
    }

    /// The own devices (not the profiles') of an instance or a snapshot at `path`.
    async fn own_devices(&self, path: String) -> Result<Devices, HostError> {
        let (v, _) = self.request(Method::GET, &path, None, None).await?;
        Ok(devices_of(&v["metadata"]["devices"], |_| true))
    }

    /// One request; LXD's envelope (`type` sync/async/error) unwrapped.
    pub(super) async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(Value, Option<String>), HostError> {
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let reply = self.send(Outgoing::json(method, path, body, if_match)).await?;
        Self::unwrap(path, &reply)
    }

    fn unwrap(path: &str, reply: &unix::Reply) -> Result<(Value, Option<String>), HostError> {
        let v: Value = serde_json::from_slice(&reply.body)
            .map_err(|_| HostError::Failed(format!("unreadable reply ({}) to {path}", reply.status)))?;
        match v["type"].as_str() {
            Some("sync") | Some("async") if reply.status.is_success() => Ok((v, reply.etag.clone())),
            _ => {
                let text = v["error"].as_str().unwrap_or("unknown error").to_owned();
                Err(match reply.status {
                    StatusCode::NOT_FOUND => HostError::NotFound(text),
                    StatusCode::PRECONDITION_FAILED => HostError::Refused(format!("changed meanwhile: {text}")),
                    s if s.is_client_error() => HostError::Refused(text),
                    // LXD answers a value it cannot take (`Invalid config: …`, `Invalid devices:
                    // …`) with a 500 where the change is synchronous (a `PATCH`): the request's
                    // fault, not the host's, as when an operation fails on it.
                    _ if text.starts_with("Invalid ") => HostError::Refused(text),
                    _ => HostError::Failed(format!("{}: {text}", reply.status)),
                })
            }
        }
    }

    /// Run a request whose answer is an operation, and wait for the operation to end.
    pub(super) async fn operate(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<(), HostError> {
        self.operation(method, path, body, if_match).await.map(|_| ())
    }

    /// [`Self::operate`], handing back the finished operation's `metadata` (`Null` when the
    /// answer was not an operation, or it finished and was purged before we asked).
    pub(super) async fn operation(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        if_match: Option<&str>,
    ) -> Result<Value, HostError> {
        let (v, _) = self.request(method, path, body, if_match).await?;
        if v["type"] != "async" {
            return Ok(Value::Null);
        }
        let op = v["operation"].as_str().ok_or_else(|| HostError::Failed("async reply without operation".into()))?;
        let secs = self.op_timeout.as_secs().max(1);
        match self.request(Method::GET, &format!("{op}/wait?timeout={secs}"), None, None).await {
            Ok((mut done, _)) => match done["metadata"]["status"].as_str() {
                Some("Success") => Ok(done["metadata"]["metadata"].take()),
                Some("Running") | Some("Pending") => Err(HostError::Timeout),
                _ => {
                    let err = done["metadata"]["err"].as_str().unwrap_or("operation failed").to_owned();
                    Err(if err.contains("not found") { HostError::NotFound(err) } else { HostError::Refused(err) })
                }
            },
            // Finished and purged before we asked: the caller re-reads what it changed.
            Err(HostError::NotFound(_)) => Ok(Value::Null),
            Err(e) => Err(e),
        }
    }

    pub(super) fn instance(name: &str) -> String {
        format!("/1.0/instances/{name}")
    }

    /// `/1.0/instances/{name}/files?path=…` (the path percent-encoded).
    fn file_url(name: &str, path: &str) -> String {
        let encoded: String = path
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"/._-".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        format!("{}/files?path={encoded}", Self::instance(name))
    }

    /// Write a file or make a directory inside an instance, owned by root.
    async fn put_entry(&self, name: &str, path: &str, body: Option<&[u8]>, mode: u32) -> Result<(), HostError> {
        let url = Self::file_url(name, path);
        let kind = if body.is_some() { "file" } else { "directory" };
        let out = Outgoing {
            method: Method::POST,
            path: &url,
            body: Some(body.unwrap_or_default().to_vec()),
            content_type: "application/octet-stream",
            headers: vec![
                ("x-lxd-uid", "0".into()),
                ("x-lxd-gid", "0".into()),
                ("x-lxd-mode", format!("{mode:04o}")),
                ("x-lxd-type", kind.into()),
                ("x-lxd-write", "overwrite".into()),
            ],
            max_reply: unix::MAX_REPLY,
        };
        let reply = self.send(out).await?;
        Self::unwrap(&url, &reply).map(|_| ())
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .filter(|d| d.timestamp() > 0)
}

impl HostDriver for Lxd {
    fn resources(&self) -> HostFuture<'_, HostResources> {
        Box::pin(async move {
            let (r, _) = self.request(Method::GET, "/1.0/resources", None, None).await?;
            let (profile, _) = self.request(Method::GET, "/1.0/profiles/default", None, None).await?;
            // LXD's pool names are plain (letters, digits, `-`, `_`, `.`): anything else is not a
            // name to put in a path.
            let pool = profile["metadata"]["devices"]["root"]["pool"]
                .as_str()
                .filter(|p| {
                    !p.is_empty()
                        && !p.starts_with('.')
                        && p.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
                })
                .unwrap_or("default");
            let (p, _) = self.request(Method::GET, &format!("/1.0/storage-pools/{pool}/resources"), None, None).await?;
            let (r, p) = (&r["metadata"], &p["metadata"]);
            Ok(HostResources {
                cores: r["cpu"]["total"].as_i64(),
                mem_total: r["memory"]["total"].as_i64(),
                mem_used: r["memory"]["used"].as_i64(),
                storage_total: p["space"]["total"].as_i64(),
                storage_used: p["space"]["used"].as_i64(),
            })
        })
    }

    fn info(&self) -> HostFuture<'_, ServerInfo> {
        Box::pin(async move {
            let (v, _) = self.request(Method::GET, "/1.0", None, None).await?;
            let m = &v["metadata"];
            Ok(ServerInfo {
                server_version: m["environment"]["server_version"].as_str().unwrap_or("").to_owned(),
                api_extensions: m["api_extensions"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_owned)).collect())
                    .unwrap_or_default(),
            })
        })
    }

    fn create<'a>(&'a self, spec: &'a InstanceSpec) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({
                "name": spec.name,
                "type": "container",
                "source": {"type": "image", "alias": spec.image_alias},
                "profiles": ["default"],
                "config": spec.config,
            });
            self.operate(Method::POST, "/1.0/instances", Some(body), None).await
        })
    }

    fn set_state<'a>(&'a self, name: &'a str, action: StateAction) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let (action, force) = match action {
                StateAction::Start => ("start", false),
                StateAction::Stop => ("stop", false),
                StateAction::ForceStop => ("stop", true),
                StateAction::Restart => ("restart", false),
                StateAction::Freeze => ("freeze", false),
                StateAction::Unfreeze => ("unfreeze", false),
            };
            let body = json!({"action": action, "force": force, "timeout": 30});
            self.operate(Method::PUT, &format!("{}/state", Self::instance(name)), Some(body), None).await
        })
    }

    fn update_config<'a>(
        &'a self,
        name: &'a str,
        set: &'a BTreeMap<String, String>,
        unset: &'a [String],
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            // One `PATCH`: LXD merges the keys into the instance's config under its own lock and
            // answers when it is done (synchronously: no operation to wait for), and a key sent
            // empty is removed (LXD keeps no empty config value). A `GET` + `PUT` with the ETag
            // and the operation's wait took three round trips for the same change.
            let mut config = serde_json::Map::new();
            for k in unset {
                config.insert(k.clone(), Value::String(String::new()));
            }
            for (k, val) in set {
                config.insert(k.clone(), Value::String(val.clone()));
            }
            self.operate(Method::PATCH, &Self::instance(name), Some(json!({ "config": config })), None).await
        })
    }

    fn set_device<'a>(
        &'a self,
        name: &'a str,
        device: &'a str,
        spec: Option<&'a BTreeMap<String, String>>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let path = Self::instance(name);
            let (v, etag) = self.request(Method::GET, &path, None, None).await?;
            let mut inst = v["metadata"].clone();
            if !inst["devices"].is_object() {
                inst["devices"] = json!({});
            }
            let devices =
                inst["devices"].as_object_mut().ok_or_else(|| HostError::Failed("instance without devices".into()))?;
            match spec {
                Some(s) => {
                    devices.insert(device.to_owned(), json!(s));
                }
                None => {
                    if devices.remove(device).is_none() {
                        return Ok(());
                    }
                }
            }
            self.operate(Method::PUT, &path, Some(writable(&inst)), etag.as_deref()).await
        })
    }

    fn config<'a>(&'a self, name: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        Box::pin(async move {
            let (v, _) = self.request(Method::GET, &Self::instance(name), None, None).await?;
            Ok(v["metadata"]["config"]
                .as_object()
                .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_owned()))).collect())
                .unwrap_or_default())
        })
    }

    fn state<'a>(&'a self, name: &'a str) -> HostFuture<'a, InstanceState> {
        Box::pin(async move {
            let (v, _) = self.request(Method::GET, &format!("{}/state", Self::instance(name)), None, None).await?;
            let m = &v["metadata"];
            let network = m["network"]
                .as_object()
                .map(|nets| {
                    nets.iter()
                        .filter(|(iface, _)| iface.as_str() != "lo")
                        .map(|(iface, n)| {
                            let addresses = n["addresses"]
                                .as_array()
                                .map(|a| a.iter().filter_map(|x| x["address"].as_str().map(str::to_owned)).collect())
                                .unwrap_or_default();
                            let c = &n["counters"];
                            let state = NetworkState {
                                addresses,
                                bytes_received: int(&c["bytes_received"]),
                                bytes_sent: int(&c["bytes_sent"]),
                            };
                            (iface.clone(), state)
                        })
                        .collect()
                })
                .unwrap_or_default();
            Ok(InstanceState {
                status: m["status"].as_str().unwrap_or("Unknown").to_owned(),
                cpu_usage_ns: int(&m["cpu"]["usage"]),
                memory_usage_bytes: int(&m["memory"]["usage"]),
                disk_usage_bytes: m["disk"]
                    .as_object()
                    .map(|d| d.values().map(|x| int(&x["usage"])).sum())
                    .unwrap_or(0),
                processes: int(&m["processes"]),
                network,
            })
        })
    }

    fn exists<'a>(&'a self, name: &'a str) -> HostFuture<'a, bool> {
        Box::pin(async move {
            match self.request(Method::GET, &Self::instance(name), None, None).await {
                Ok(_) => Ok(true),
                Err(HostError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn snapshot<'a>(
        &'a self,
        name: &'a str,
        snapshot: &'a str,
        expires_at: Option<DateTime<Utc>>,
    ) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let mut body = json!({"name": snapshot, "stateful": false});
            if let Some(at) = expires_at {
                body["expires_at"] = json!(at.to_rfc3339());
            }
            self.operate(Method::POST, &format!("{}/snapshots", Self::instance(name)), Some(body), None).await
        })
    }

    fn snapshots<'a>(&'a self, name: &'a str) -> HostFuture<'a, Vec<SnapshotInfo>> {
        Box::pin(async move {
            let path = format!("{}/snapshots?recursion=1", Self::instance(name));
            let (v, _) = self.request_list(&path).await?;
            Ok(v["metadata"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| SnapshotInfo {
                            name: s["name"].as_str().unwrap_or("").to_owned(),
                            created_at: time(&s["created_at"]),
                            expires_at: time(&s["expires_at"]),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn restore<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            self.operate(Method::PUT, &Self::instance(name), Some(json!({"restore": snapshot})), None).await
        })
    }

    fn rename_snapshot<'a>(&'a self, name: &'a str, from: &'a str, to: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let path = format!("{}/snapshots/{from}", Self::instance(name));
            self.operate(Method::POST, &path, Some(json!({"name": to})), None).await
        })
    }

    fn delete_snapshot<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            self.operate(Method::DELETE, &format!("{}/snapshots/{snapshot}", Self::instance(name)), None, None).await
        })
    }

    fn copy<'a>(&'a self, source: &'a str, target: &'a str, refresh: bool) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let body = json!({
                "name": target,
                "type": "container",
                "source": {"type": "copy", "source": source, "refresh": refresh},
                "profiles": ["default"],
            });
            self.operate(Method::POST, "/1.0/instances", Some(body), None).await
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move { self.operate(Method::DELETE, &Self::instance(name), None, None).await })
    }

    fn push_file<'a>(&'a self, name: &'a str, path: &'a str, content: &'a [u8], mode: u32) -> HostFuture<'a, ()> {
        Box::pin(async move {
            // Parents first (0755; an existing one is fine), then the file itself.
            let mut parent = String::new();
            let dirs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            for dir in &dirs[..dirs.len().saturating_sub(1)] {
                parent.push('/');
                parent.push_str(dir);
                match self.put_entry(name, &parent, None, 0o755).await {
                    Ok(()) | Err(HostError::Refused(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            self.put_entry(name, path, Some(content), mode).await
        })
    }

    fn read_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let url = Self::file_url(name, path);
            let reply = self.send(Outgoing::json(Method::GET, &url, None, None)).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            if !reply.status.is_success() {
                return Self::unwrap(&url, &reply).map(|_| None);
            }
            Ok(Some(reply.body.to_vec()))
        })
    }

    fn delete_file<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let url = Self::file_url(name, path);
            match self.request(Method::DELETE, &url, None, None).await {
                Ok(_) | Err(HostError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn statuses_with<'a>(&'a self, key: &'a str, value: &'a str) -> HostFuture<'a, BTreeMap<String, String>> {
        Box::pin(async move {
            // `recursion=1`: each instance's config and status, not its state (no per-instance
            // cgroup reads on the host).
            let plain = |s: &str| s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            let path = if plain(key) && plain(value) {
                format!("/1.0/instances?recursion=1&filter=config.{key}%20eq%20{value}")
            } else {
                "/1.0/instances?recursion=1".to_owned()
            };
            let (v, _) = self.request_list(&path).await?;
            Ok(v["metadata"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|i| i["config"][key].as_str() == Some(value))
                        .filter_map(|i| Some((i["name"].as_str()?.to_owned(), i["status"].as_str()?.to_owned())))
                        .collect()
                })
                .unwrap_or_default())
        })
    }

    fn networks(&self) -> HostFuture<'_, Vec<NetworkInfo>> {
        Box::pin(self.list_networks())
    }

    fn create_bridge<'a>(&'a self, name: &'a str, config: &'a BTreeMap<String, String>) -> HostFuture<'a, ()> {
        Box::pin(self.new_bridge(name, config))
    }

    fn delete_network<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        Box::pin(self.remove(format!("/1.0/networks/{name}")))
    }

    fn acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, Option<Acl>> {
        Box::pin(self.one_acl(name))
    }

    fn acls<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, Vec<Acl>> {
        Box::pin(self.list_acls(prefix))
    }

    fn put_acl<'a>(&'a self, acl: &'a Acl) -> HostFuture<'a, ()> {
        Box::pin(self.write_acl(acl))
    }

    fn delete_acl<'a>(&'a self, name: &'a str) -> HostFuture<'a, ()> {
        Box::pin(self.remove(format!("/1.0/network-acls/{name}")))
    }

    fn exec<'a>(&'a self, name: &'a str, command: &'a [&'a str]) -> HostFuture<'a, ()> {
        Box::pin(self.run(name, command))
    }

    fn exec_output<'a>(
        &'a self,
        name: &'a str,
        command: &'a [String],
        wait: Duration,
        max_output: usize,
    ) -> HostFuture<'a, ExecOutput> {
        Box::pin(self.run_output(name, command, wait, max_output))
    }

    // Images.
    fn publish_image<'a>(
        &'a self,
        source: &'a str,
        alias: &'a str,
        properties: &'a BTreeMap<String, String>,
    ) -> HostFuture<'a, ImageInfo> {
        Box::pin(self.publish(source, alias, properties))
    }

    fn delete_image<'a>(&'a self, fingerprint: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            match self.operate(Method::DELETE, &format!("/1.0/images/{fingerprint}"), None, None).await {
                Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn image_exists<'a>(&'a self, alias: &'a str) -> HostFuture<'a, bool> {
        Box::pin(async move {
            match self.request(Method::GET, &format!("/1.0/images/aliases/{alias}"), None, None).await {
                Ok(_) => Ok(true),
                Err(HostError::NotFound(_)) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn path_kind<'a>(&'a self, name: &'a str, path: &'a str) -> HostFuture<'a, Option<String>> {
        Box::pin(async move {
            // HEAD (`instance_file_head`): the type without the content.
            let url = Self::file_url(name, path);
            let reply = self.send(Outgoing::json(Method::HEAD, &url, None, None)).await?;
            match reply.status {
                StatusCode::NOT_FOUND => Ok(None),
                s if s.is_success() => Ok(Some(reply.kind.unwrap_or_default())),
                s if s.is_client_error() => Err(HostError::Refused(format!("{s} for a path"))),
                s => Err(HostError::Failed(format!("{s} for a path"))),
            }
        })
    }

    fn devices<'a>(&'a self, name: &'a str) -> HostFuture<'a, Devices> {
        Box::pin(self.own_devices(Self::instance(name)))
    }

    fn snapshot_devices<'a>(&'a self, name: &'a str, snapshot: &'a str) -> HostFuture<'a, Devices> {
        Box::pin(self.own_devices(format!("{}/snapshots/{snapshot}", Self::instance(name))))
    }

    fn root_pool<'a>(&'a self, name: &'a str) -> HostFuture<'a, String> {
        Box::pin(async move {
            let (v, _) = self.request(Method::GET, &Self::instance(name), None, None).await?;
            v["metadata"]["expanded_devices"]["root"]["pool"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| HostError::Failed("instance without a root disk".into()))
        })
    }

    fn ensure_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let url = format!("/1.0/storage-pools/{pool}/volumes/custom");
            match self.request(Method::GET, &format!("{url}/{volume}"), None, None).await {
                Ok(_) => return Ok(()),
                Err(HostError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
            let body = json!({"name": volume, "type": "custom", "content_type": "filesystem", "config": {},
                "description": "hoody storage share"});
            self.operate(Method::POST, &url, Some(body), None).await
        })
    }

    fn delete_volume<'a>(&'a self, pool: &'a str, volume: &'a str) -> HostFuture<'a, ()> {
        Box::pin(async move {
            let url = format!("/1.0/storage-pools/{pool}/volumes/custom/{volume}");
            match self.operate(Method::DELETE, &url, None, None).await {
                Ok(()) | Err(HostError::NotFound(_)) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    fn devices_named<'a>(&'a self, prefix: &'a str) -> HostFuture<'a, BTreeMap<String, Devices>> {
        Box::pin(async move {
            // Every instance with its config: a listing that may be large (the one reply limit
            // allowed to exceed the default).
            let (v, _) = self.request_list("/1.0/instances?recursion=1").await?;
            let mut out = BTreeMap::new();
            for inst in v["metadata"].as_array().into_iter().flatten() {
                let Some(name) = inst["name"].as_str() else { continue };
                let found = devices_of(&inst["devices"], |k| k.starts_with(prefix));
                if !found.is_empty() {
                    out.insert(name.to_owned(), found);
                }
            }
            Ok(out)
        })
    }
}

// Images.
impl Lxd {
    /// `POST /1.0/images` from an instance or a snapshot with the alias, then the image as the
    /// alias names it (the operation's own result may be purged before we read it).
    async fn publish(
        &self,
        source: &str,
        alias: &str,
        properties: &BTreeMap<String, String>,
    ) -> Result<ImageInfo, HostError> {
        let kind = if source.contains('/') { "snapshot" } else { "instance" };
        let body = json!({
            "source": {"type": kind, "name": source},
            "aliases": [{"name": alias}],
            "properties": properties,
            "public": false,
        });
        self.operate(Method::POST, "/1.0/images", Some(body), None).await?;
        let (a, _) = self.request(Method::GET, &format!("/1.0/images/aliases/{alias}"), None, None).await?;
        let fingerprint = a["metadata"]["target"].as_str().unwrap_or_default().to_owned();
        if fingerprint.is_empty() || !fingerprint.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(HostError::Failed("the new image's alias names no fingerprint".into()));
        }
        let (img, _) = self.request(Method::GET, &format!("/1.0/images/{fingerprint}"), None, None).await?;
        Ok(ImageInfo {
            fingerprint,
            size_bytes: int(&img["metadata"]["size"]),
            architecture: img["metadata"]["architecture"].as_str().unwrap_or_default().to_owned(),
        })
    }
}

/// The devices of an instance's (or a snapshot's) `devices` object whose name `keep` accepts,
/// string settings only.
fn devices_of(devs: &Value, keep: impl Fn(&str) -> bool) -> Devices {
    devs.as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| keep(k))
        .map(|(k, d)| {
            let spec = d
                .as_object()
                .into_iter()
                .flatten()
                .filter_map(|(a, b)| b.as_str().map(|b| (a.clone(), b.to_owned())))
                .collect();
            (k.clone(), spec)
        })
        .collect()
}

/// The writable part of an instance, for a PUT of what a GET returned.
fn writable(inst: &Value) -> Value {
    json!({
        "config": inst["config"],
        "devices": inst["devices"],
        "profiles": inst["profiles"],
        "ephemeral": inst["ephemeral"],
        "architecture": inst["architecture"],
        "description": inst["description"],
    })
}
