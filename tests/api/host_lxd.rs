//! The LXD driver against the real local LXD daemon (set up by `scripts/lxd-test-host`), checked
//! with what LXD itself reports through its own CLI; and the limits every host call obeys
//! (deadline, circuit breaker, concurrency cap) with the fault-injecting driver.

use std::{
    collections::BTreeMap,
    process::Command,
    sync::Arc,
    time::{Duration, Instant},
};

use crate::harness::TestApp;
use hoody_api::host::{
    fault::{Fault, Faulty},
    https::HttpsIdentity,
    lxd::{Lxd, DEFAULT_SOCKET},
    Host, HostDriver, HostError, HostLimits, InstanceSpec, StateAction,
};

const IMAGE: &str = "hoody-busybox";

fn socket() -> String {
    std::env::var("HOODY_LXD_SOCKET").unwrap_or_else(|_| DEFAULT_SOCKET.into())
}

fn lxd() -> Lxd {
    assert!(
        std::path::Path::new(&socket()).exists(),
        "no LXD socket at {}: run scripts/lxd-test-host (scripts/test does)",
        socket()
    );
    Lxd::new(socket(), Duration::from_secs(60))
}

/// `lxc` as LXD's own witness.
fn lxc(args: &[&str]) -> String {
    let out = Command::new("lxc").args(args).output().expect("lxc");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn name() -> String {
    format!("hdy-test-{}", &hoody_api::db::new_id()[..12])
}

/// Deletes the instances a test made, even when it fails.
struct Cleanup(Vec<String>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for n in &self.0 {
            let _ = Command::new("lxc").args(["delete", n, "--force"]).output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_lives_its_whole_life_on_real_lxd() {
    let d = lxd();
    let info = d.info().await.unwrap();
    assert!(!info.server_version.is_empty() && info.api_extensions.iter().any(|e| e == "snapshot_expiry"));
    let (a, b) = (name(), name());
    let _cleanup = Cleanup(vec![a.clone(), b.clone()]);
    let config = BTreeMap::from([("environment.GREETING".to_owned(), "hello".to_owned())]);
    d.create(&InstanceSpec { name: a.clone(), image_alias: IMAGE.into(), config }).await.unwrap();
    assert!(d.exists(&a).await.unwrap());
    assert_eq!(lxc(&["list", &a, "--format", "csv", "-c", "s"]), "STOPPED");

    d.set_state(&a, StateAction::Start).await.unwrap();
    assert_eq!(lxc(&["list", &a, "--format", "csv", "-c", "s"]), "RUNNING");
    let state = d.state(&a).await.unwrap();
    assert_eq!(state.status, "Running");
    assert!(state.processes >= 1 && state.memory_usage_bytes > 0, "{state:?}");
    assert_eq!(lxc(&["exec", &a, "--", "sh", "-c", "echo $GREETING"]), "hello");

    // Config: set one variable, unset another. A process started afterwards sees the new one
    // (LXD drops an unset variable from processes only after the next restart).
    let set = BTreeMap::from([("environment.COLOUR".to_owned(), "teal".to_owned())]);
    d.update_config(&a, &set, &["environment.GREETING".to_owned()]).await.unwrap();
    assert_eq!(lxc(&["exec", &a, "--", "sh", "-c", "echo $COLOUR"]), "teal");
    assert_eq!(lxc(&["config", "get", &a, "environment.COLOUR"]), "teal");
    assert_eq!(lxc(&["config", "get", &a, "environment.GREETING"]), "");
    assert_eq!(d.config(&a).await.unwrap().get("environment.COLOUR").map(String::as_str), Some("teal"));

    // Snapshots, with an expiry LXD keeps.
    let expires = chrono::Utc::now() + chrono::Duration::days(2);
    d.snapshot(&a, "s1", Some(expires)).await.unwrap();
    let snaps = d.snapshots(&a).await.unwrap();
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].name, "s1");
    assert_eq!(snaps[0].expires_at.map(|e| e.timestamp()), Some(expires.timestamp()));
    d.rename_snapshot(&a, "s1", "before").await.unwrap();
    assert!(lxc(&["info", &a]).contains("before"));
    let later = BTreeMap::from([("environment.AFTER".to_owned(), "1".to_owned())]);
    d.update_config(&a, &later, &[]).await.unwrap();

    // Copy from the snapshot, then a refresh copy from the instance.
    d.copy(&format!("{a}/before"), &b, false).await.unwrap();
    assert_eq!(lxc(&["list", &b, "--format", "csv", "-c", "s"]), "STOPPED");
    d.copy(&a, &b, true).await.unwrap();

    // Freeze, unfreeze, restore, stop, delete.
    d.set_state(&a, StateAction::Freeze).await.unwrap();
    assert_eq!(d.state(&a).await.unwrap().status, "Frozen");
    d.set_state(&a, StateAction::Unfreeze).await.unwrap();
    d.set_state(&a, StateAction::ForceStop).await.unwrap();
    d.restore(&a, "before").await.unwrap();
    assert_eq!(lxc(&["config", "get", &a, "environment.AFTER"]), "", "restored to the snapshot");
    assert_eq!(lxc(&["config", "get", &a, "environment.COLOUR"]), "teal");
    d.delete_snapshot(&a, "before").await.unwrap();
    assert!(d.snapshots(&a).await.unwrap().is_empty());
    d.delete(&a).await.unwrap();
    d.delete(&b).await.unwrap();
    assert!(!d.exists(&a).await.unwrap());
    assert_eq!(lxc(&["list", &a, "--format", "csv", "-c", "n"]), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lxd_refusals_map_to_our_errors() {
    let d = lxd();
    let missing = name();
    assert!(matches!(d.state(&missing).await, Err(HostError::NotFound(_))));
    assert!(matches!(d.set_state(&missing, StateAction::Start).await, Err(HostError::NotFound(_))));
    let spec = InstanceSpec { name: name(), image_alias: "no-such-image".into(), config: BTreeMap::new() };
    let err = d.create(&spec).await.unwrap_err();
    assert!(matches!(err, HostError::NotFound(_) | HostError::Refused(_)), "{err:?}");
    // What LXD said stays out of what our clients see.
    let api: hoody_api::error::ApiError = HostError::Failed("lxd said: secret detail".into()).into();
    assert_eq!(api.status().as_u16(), 502);
    assert!(!api.to_string().contains("secret detail"));
    // A socket nobody listens on: unavailable, fast.
    let gone = Lxd::new("/nonexistent/lxd.socket", Duration::from_secs(5));
    let started = Instant::now();
    assert!(matches!(gone.info().await, Err(HostError::Unavailable { .. })));
    assert!(started.elapsed() < Duration::from_secs(2));
}

fn faulty(inner: Lxd) -> Arc<Faulty> {
    Arc::new(Faulty::new(Arc::new(inner)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_host_answers_by_the_deadline_and_trips_the_breaker() {
    let f = faulty(lxd());
    f.set(Fault::Blackhole);
    let limits = HostLimits {
        max_concurrent: 4,
        queue_wait: Duration::from_millis(100),
        call_timeout: Duration::from_millis(300),
    };
    let host = Host::new("blackhole", f.clone(), limits);
    for _ in 0..5 {
        let started = Instant::now();
        let r = host.call("info", |d| d.info()).await;
        assert!(matches!(r, Err(HostError::Timeout)), "{r:?}");
        assert!(started.elapsed() < Duration::from_millis(300 + 500));
    }
    // Open: refused at once, with a Retry-After.
    let started = Instant::now();
    match host.call("info", |d| d.info()).await {
        Err(HostError::Unavailable { retry_after_secs, .. }) => assert!(retry_after_secs >= 1),
        other => panic!("{other:?}"),
    }
    assert!(started.elapsed() < Duration::from_millis(20));
    let api: hoody_api::error::ApiError = HostError::Timeout.into();
    assert_eq!(api.status().as_u16(), 504);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_never_exceed_the_cap() {
    let f = faulty(lxd());
    f.set(Fault::Slow(Duration::from_millis(100)));
    let limits =
        HostLimits { max_concurrent: 3, queue_wait: Duration::from_millis(150), call_timeout: Duration::from_secs(2) };
    let host = Arc::new(Host::new("slow", f.clone(), limits));
    let calls: Vec<_> = (0..30)
        .map(|_| {
            let host = Arc::clone(&host);
            tokio::spawn(async move { host.call("info", |d| d.info()).await })
        })
        .collect();
    let mut queued_out = 0;
    for c in calls {
        if let Err(HostError::Unavailable { reason, .. }) = c.await.unwrap() {
            assert!(reason.contains("in flight"));
            queued_out += 1;
        }
    }
    assert!(f.peak_in_flight() <= 3, "peak {}", f.peak_in_flight());
    assert!(queued_out > 0, "30 calls of 100 ms through 3 slots cannot all wait 150 ms");
    assert_eq!(host.in_flight(), 0);
}

/// A client certificate LXD trusts (or not), made with openssl; removed from the trust store on drop.
pub(crate) struct ClientCert {
    dir: std::path::PathBuf,
    pub(crate) cert: String,
    pub(crate) key: String,
    trusted_fingerprint: Option<String>,
}

impl ClientCert {
    pub(crate) fn new(trust: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("hoody-lxd-cert-{}", hoody_api::db::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1"])
            .args(["-subj", "/CN=hoody-test", "-keyout"])
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .unwrap();
        assert!(status.status.success(), "openssl: {}", String::from_utf8_lossy(&status.stderr));
        let cert = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
        let key = std::fs::read_to_string(dir.join("key.pem")).unwrap();
        let mut trusted_fingerprint = None;
        if trust {
            let out = Command::new("lxc").args(["config", "trust", "add"]).arg(dir.join("cert.pem")).output().unwrap();
            assert!(out.status.success(), "trust add: {}", String::from_utf8_lossy(&out.stderr));
            trusted_fingerprint = Some(der_sha256(&cert));
        }
        Self { dir, cert, key, trusted_fingerprint }
    }
}

impl Drop for ClientCert {
    fn drop(&mut self) {
        if let Some(fp) = &self.trusted_fingerprint {
            let _ = Command::new("lxc").args(["config", "trust", "remove", &fp[..12]]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// SHA-256 (hex) of a PEM certificate's DER bytes.
pub(crate) fn der_sha256(pem: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
    hex::encode(sha2::Sha256::digest(der))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_host_is_reached_over_https_with_a_client_certificate() {
    let address = lxc(&["config", "get", "core.https_address"]);
    assert!(!address.is_empty(), "LXD does not serve HTTPS: run scripts/lxd-test-host");
    let server_cert = std::fs::read_to_string("/var/lib/lxd/server.crt").unwrap();
    let fingerprint = der_sha256(&server_cert);
    let client = ClientCert::new(true);

    // Registered like any host, the key sealed in the database, the driver built from the row.
    let app = TestApp::spawn().await;
    let fields = hoody_api::servers::ServerFields {
        region: Some("loopback".into()),
        lxd_endpoint: Some(format!("https://{address}")),
        client_cert: Some(client.cert.clone()),
        client_key: Some(client.key.clone()),
        server_cert: Some(server_cert.clone()),
        server_fingerprint: Some(fingerprint.clone()),
        ..Default::default()
    };
    let row = hoody_api::servers::add(&app.db, &app.state.sealer, "remote-1", &fields).await.unwrap();
    let d = hoody_api::servers::driver(&row, &app.state.sealer, Duration::from_secs(60)).unwrap();
    let info = d.info().await.unwrap();
    assert!(!info.server_version.is_empty());
    let n = name();
    let _cleanup = Cleanup(vec![n.clone()]);
    d.create(&InstanceSpec { name: n.clone(), image_alias: IMAGE.into(), config: BTreeMap::new() }).await.unwrap();
    assert_eq!(lxc(&["list", &n, "--format", "csv", "-c", "s"]), "STOPPED");
    d.delete(&n).await.unwrap();
    assert!(!d.exists(&n).await.unwrap());

    // A wrong fingerprint: refused before anything is believed.
    let base = format!("https://{address}");
    let wrong_fp = format!("{}ff", "0".repeat(62));
    let identity = |cert: &'_ ClientCert, fp: &str| -> Lxd {
        let id = HttpsIdentity {
            base: &base,
            client_cert_pem: &cert.cert,
            client_key_pem: &cert.key,
            server_cert_pem: &server_cert,
            fingerprint: Some(fp),
        };
        Lxd::https(&id, Duration::from_secs(5)).unwrap()
    };
    match identity(&client, &wrong_fp).info().await {
        Err(HostError::Unavailable { reason, .. }) => assert!(reason.contains("fingerprint"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // A certificate LXD does not trust gets nothing.
    let stranger = ClientCert::new(false);
    let untrusted = identity(&stranger, &fingerprint);
    assert!(untrusted.exists("anything").await.is_err());
}
