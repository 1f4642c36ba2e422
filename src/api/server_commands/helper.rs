//! The server's command helper: one privileged instance per server, `hoody-agent-<server id>`,
//! made on first use from the configured image, where every command of the catalogue runs. It
//! sees the server read-only: its root file system at `/host`, its `/run` at `/host/run` (the
//! service manager's sockets) and its `/proc` at `/host/proc` (the host's own figures, even where
//! lxcfs gives containers their own `/proc/uptime` and `/proc/meminfo`). LXD 5.0 refuses
//! recursive read-only mounts, hence one device per mount. The server id in the name keeps
//! helpers apart when several control planes (tests on one LXD, each with its own database)
//! share a host.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock, Mutex},
    time::Duration,
};

use crate::host::{Host, HostError, InstanceSpec, StateAction};

/// The helper instance of `server_id`.
pub fn helper_name(server_id: &str) -> String {
    format!("hoody-agent-{server_id}")
}

/// Making a helper may download its image: more time than one ordinary call.
const CREATE_DEADLINE: Duration = Duration::from_secs(300);

/// One preparation at a time per helper in this process (another replica's is met by LXD's
/// refusals, handled like a lost race).
static PREPARING: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

fn disk(source: &str, path: &str) -> BTreeMap<String, String> {
    [("type", "disk"), ("source", source), ("path", path), ("readonly", "true")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn create(host: &Host, name: &str, server_id: &str, image: &str) -> Result<(), HostError> {
    let config = [("security.privileged", "true"), ("boot.autostart", "true"), ("user.hoody.agent_for", server_id)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let spec = InstanceSpec { name: name.to_owned(), image_alias: image.to_owned(), config };
    host.call_within("create_helper", CREATE_DEADLINE, |d| d.create(&spec)).await
}

/// Its view of the host (set again before every start: a helper whose making was cut short
/// never runs without it) and the start.
async fn start(host: &Host, name: &str) -> Result<(), HostError> {
    let root = disk("/", "/host");
    host.call("helper_device", |d| d.set_device(name, "hoody-host", Some(&root))).await?;
    let run = disk("/run", "/host/run");
    host.call("helper_device", |d| d.set_device(name, "hoody-host-run", Some(&run))).await?;
    let proc = disk("/proc", "/host/proc");
    host.call("helper_device", |d| d.set_device(name, "hoody-host-proc", Some(&proc))).await?;
    // No network: the profile's NIC is masked (its commands read the host; they reach nothing).
    let none: BTreeMap<String, String> = [("type".to_owned(), "none".to_owned())].into_iter().collect();
    host.call("helper_device", |d| d.set_device(name, "eth0", Some(&none))).await?;
    host.call("helper_start", |d| d.set_state(name, StateAction::Start)).await
}

/// The helper of `server_id`, running: made and started when it is not. Its name.
pub async fn ensure(host: &Host, server_id: &str, image: &str) -> Result<String, HostError> {
    let name = helper_name(server_id);
    let lock = {
        let mut map = PREPARING.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(name.clone()).or_default())
    };
    let _held = lock.lock().await;
    let mut last = HostError::Failed("the command helper did not start".into());
    for attempt in 0..4u64 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(250 * attempt)).await;
        }
        let step = match host.call("helper_state", |d| d.state(&name)).await {
            Ok(s) if s.status == "Running" => return Ok(name),
            Ok(s) if s.status == "Frozen" => {
                host.call("helper_start", |d| d.set_state(&name, StateAction::Unfreeze)).await
            }
            Ok(_) => start(host, &name).await,
            Err(HostError::NotFound(_)) => match create(host, &name, server_id, image).await {
                Ok(()) => start(host, &name).await,
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match step {
            Ok(()) => {}
            // Another request (or replica) got there first, or LXD is mid-change: look again.
            Err(HostError::Refused(why)) => last = HostError::Refused(why),
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
