//! Projects and containers for tests: an app wired to the real local LXD (set up by
//! `scripts/lxd-test-host`) with the `local` server registered, and clean-up of every
//! instance a test made, even when it fails.

use std::{
    process::Command,
    sync::{Arc, Mutex},
    time::Duration,
};

use hoody_api::{
    config::Config,
    host::{
        fault::Faulty,
        lxd::{Lxd, DEFAULT_SOCKET},
        Host, HostLimits,
    },
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

pub fn socket() -> String {
    std::env::var("HOODY_LXD_SOCKET").unwrap_or_else(|_| DEFAULT_SOCKET.into())
}

/// `lxc` as LXD's own witness.
pub fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("lxc");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether LXD has an instance of this name.
pub fn exists(lxd_name: &str) -> bool {
    Command::new("lxc").args(["info", lxd_name]).output().map(|o| o.status.success()).unwrap_or(false)
}

/// LXD's status word for an instance (RUNNING, STOPPED, FROZEN).
pub fn lxc_status(lxd_name: &str) -> String {
    lxc(&["list", lxd_name, "-c", "s", "--format", "csv"])
}

pub struct LxdApp {
    pub app: TestApp,
    pub server_id: String,
    made: Mutex<Vec<String>>,
    /// Custom volumes (pool `default`) a test made, deleted after the instances.
    volumes: Mutex<Vec<String>>,
}

impl std::ops::Deref for LxdApp {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

impl Drop for LxdApp {
    fn drop(&mut self) {
        for id in self.made.lock().unwrap().iter() {
            let _ = Command::new("lxc").args(["delete", &format!("c-{id}"), "--force"]).output();
            // Its firewall bridge and ACL, when it had one (the bridge first: it uses the ACL).
            let net: String = format!("hf{}", id.chars().take(13).collect::<String>());
            let _ = Command::new("lxc").args(["network", "delete", &net]).output();
            let _ = Command::new("lxc").args(["network", "acl", "delete", &net]).output();
        }
        for v in self.volumes.lock().unwrap().iter() {
            let _ = Command::new("lxc").args(["storage", "volume", "delete", "default", v]).output();
        }
    }
}

impl LxdApp {
    /// The app on the real LXD, free tier off unless `adjust` turns it on.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        // The rule at the top of main.rs, enforced: on one thread a synchronous `lxc` call can
        // freeze the app mid-connection and stall LXD for everyone (four share tests missed it).
        assert_eq!(
            tokio::runtime::Handle::current().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread,
            "a test that drives LXD runs on #[tokio::test(flavor = \"multi_thread\", worker_threads = 2)]"
        );
        assert!(
            std::path::Path::new(&socket()).exists(),
            "no LXD socket at {}: run scripts/lxd-test-host (scripts/test does)",
            socket()
        );
        let app = TestApp::spawn_with(|c| {
            c.lxd_socket = socket().into();
            c.host_limits.call_timeout = Duration::from_secs(60);
            adjust(c)
        })
        .await;
        let mut server_id = None;
        for _ in 0..100 {
            server_id = sqlx::query_scalar("select server_id from server where name = 'local'")
                .fetch_optional(&app.db)
                .await
                .unwrap();
            if server_id.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            app,
            server_id: server_id.expect("the local server is registered"),
            made: Mutex::new(Vec::new()),
            volumes: Mutex::new(Vec::new()),
        }
    }

    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Remember a custom volume (pool `default`) that must go when the test ends.
    pub fn track_volume(&self, name: &str) {
        self.volumes.lock().unwrap().push(name.to_owned());
    }

    /// Remember a container id whose instance must go when the test ends.
    pub fn track(&self, id: &str) {
        self.made.lock().unwrap().push(id.to_owned());
    }

    pub async fn project(&self, token: &str, alias: &str) -> String {
        let r = self.post_auth("/api/v1/projects/", token, Some(json!({"alias": alias}))).await;
        r.expect(201);
        r.data()["id"].as_str().unwrap().to_owned()
    }

    /// Create a container on `local` with `extra` merged into the body; returns the response.
    pub async fn create(&self, token: &str, project: &str, extra: Value) -> Resp {
        let mut body = json!({"server_id": self.server_id, "bypass_prespawn": true});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let r = self.post_auth(&format!("/api/v1/projects/{project}/containers"), token, Some(body)).await;
        if let Some(id) = r.data()["id"].as_str() {
            self.track(id);
        }
        r
    }

    /// Create a container and expect it running; returns its id.
    pub async fn running(&self, token: &str, project: &str, extra: Value) -> String {
        let r = self.create(token, project, extra).await;
        r.expect(201);
        assert_eq!(r.data()["status"], "running", "{}", r.text);
        r.data()["id"].as_str().unwrap().to_owned()
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(method, path, Some(token), body).await
    }
}

/// Put the real LXD behind a [`Faulty`] driver with `limits` in front of the `local` server.
pub fn pin_through(app: &LxdApp, limits: HostLimits) -> Arc<Faulty> {
    let f = Arc::new(Faulty::new(Arc::new(Lxd::new(socket(), Duration::from_secs(60)))));
    app.state.hosts.pin(&app.server_id, Arc::new(Host::new("local", f.clone(), limits)));
    f
}

/// A pass-through driver (no fault set, the usual limits) in front of the `local` server: what
/// reached the host can then be asked (`peak_in_flight() == 0`: no call).
pub fn watch_host(app: &LxdApp) -> Arc<Faulty> {
    pin_through(app, HostLimits::default())
}

/// The call timeout of the host [`pin_faulty`] puts in place.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Put a fault-injecting driver (around the real LXD) in front of the `local` server.
pub fn pin_faulty(app: &LxdApp) -> Arc<Faulty> {
    pin_through(app, HostLimits { max_concurrent: 4, queue_wait: Duration::from_millis(200), call_timeout: DEADLINE })
}
