//! Placement by capacity and host drain, with two registered hosts: the local LXD's unix socket
//! (`local`, registered by the app) and the same LXD's HTTPS endpoint registered as a second
//! server (`remote`, with a client certificate this fixture makes LXD trust). Both are free and
//! in region `local` unless a test changes them. Every host can be put behind the
//! fault-injecting driver for synthetic capacities, outages and counting what reached it.

mod capacity;
mod drain;
mod free_tier;
mod rights;

use std::{sync::Arc, time::Duration};

use hoody_api::host::{fault::Faulty, Host, HostLimits, HostResources};
use serde_json::{json, Value};

use crate::{
    fixtures::{lxc, LxdApp},
    harness::Resp,
    host_lxd::{der_sha256, ClientCert},
};

const GIB: i64 = 1 << 30;

pub struct Two {
    pub app: LxdApp,
    pub local: String,
    pub remote: String,
    _cert: ClientCert,
}

impl std::ops::Deref for Two {
    type Target = LxdApp;
    fn deref(&self) -> &LxdApp {
        &self.app
    }
}

/// A machine of `cores` threads with `mem_free` and `disk_free` GiB left (of 1 TiB each).
pub fn machine(cores: i64, mem_free: i64, disk_free: i64) -> HostResources {
    HostResources {
        cores: Some(cores),
        mem_total: Some(1024 * GIB),
        mem_used: Some((1024 - mem_free) * GIB),
        storage_total: Some(1024 * GIB),
        storage_used: Some((1024 - disk_free) * GIB),
    }
}

impl Two {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(adjust: impl FnOnce(&mut hoody_api::config::Config)) -> Self {
        let app = LxdApp::spawn_with(|c| {
            c.limits.signup_per_hour = 100;
            adjust(c)
        })
        .await;
        let address = lxc(&["config", "get", "core.https_address"]);
        assert!(!address.is_empty(), "LXD does not serve HTTPS: run scripts/lxd-test-host");
        let server_cert = std::fs::read_to_string("/var/lib/lxd/server.crt").unwrap();
        let cert = ClientCert::new(true);
        let fields = hoody_api::servers::ServerFields {
            region: Some("local".into()),
            is_free: Some(true),
            lxd_endpoint: Some(format!("https://{address}")),
            client_cert: Some(cert.cert.clone()),
            client_key: Some(cert.key.clone()),
            server_fingerprint: Some(der_sha256(&server_cert)),
            server_cert: Some(server_cert),
            ..Default::default()
        };
        let row = hoody_api::servers::add(&app.db, &app.state.sealer, "remote", &fields).await.unwrap();
        let local = app.server_id.clone();
        Self { app, local, remote: row.server_id, _cert: cert }
    }

    /// A fresh host for `server_id` (its real driver, the socket or HTTPS, behind a pass-through
    /// [`Faulty`] with a 2-s deadline) answering `resources` with `figures` (`None`: the real
    /// ones). Fresh: no cached reading, a closed breaker.
    pub async fn pin(&self, server_id: &str, figures: Option<HostResources>) -> Arc<Faulty> {
        let row = hoody_api::servers::by_id(&self.db, server_id).await.unwrap().unwrap();
        let driver = hoody_api::servers::driver(&row, &self.state.sealer, Duration::from_secs(60)).unwrap();
        let f = Arc::new(Faulty::new(Arc::new(driver)));
        f.set_resources(figures);
        let limits = HostLimits { call_timeout: Duration::from_secs(2), ..HostLimits::default() };
        self.state.hosts.pin(server_id, Arc::new(Host::new(row.name, f.clone(), limits)));
        f
    }

    /// `POST /projects/{project}/containers` with `body` as is (no `server_id` added); the
    /// instance it makes is removed when the test ends.
    pub async fn create(&self, token: &str, project: &str, body: Value) -> Resp {
        let r = self.post_auth(&format!("/api/v1/projects/{project}/containers"), token, Some(body)).await;
        if let Some(id) = r.data()["id"].as_str() {
            self.track(id);
        }
        r
    }

    /// A placed create that must succeed: the server it landed on, checked against the row and
    /// against LXD (the instance runs).
    pub async fn placed(&self, token: &str, project: &str, body: Value) -> String {
        let r = self.create(token, project, body).await;
        r.expect(201);
        assert_eq!(r.data()["status"], "running", "{}", r.text);
        let id = r.data()["id"].as_str().unwrap();
        let server = r.data()["server_id"].as_str().unwrap().to_owned();
        assert_eq!(self.row_server(id).await, server, "the row says where it is");
        assert_eq!(crate::fixtures::lxc_status(&format!("c-{id}")), "RUNNING", "LXD runs it");
        server
    }

    /// The server the container's row names.
    pub async fn row_server(&self, id: &str) -> String {
        sqlx::query_scalar("select server_id from container where container_id = $1")
            .bind(id)
            .fetch_one(&self.db)
            .await
            .unwrap()
    }

    pub async fn containers(&self) -> i64 {
        sqlx::query_scalar("select count(*) from container").fetch_one(&self.db).await.unwrap()
    }

    pub async fn set(&self, server_id: &str, sql_set: &str) {
        sqlx::query(&format!("update server set {sql_set} where server_id = $1"))
            .bind(server_id)
            .execute(&self.db)
            .await
            .unwrap();
    }
}

/// A body without a server: placement chooses.
pub fn anywhere(name: &str) -> Value {
    json!({"name": name, "bypass_prespawn": true})
}
