//! The servers registry: the admin CLI (`hoody-api servers …`) against a real database, the
//! regions it offers, and the local LXD registered as the free server `local`.

use std::{path::PathBuf, time::Duration};

use serde_json::Value;

use crate::harness::{fresh_database_url, TestApp};

struct Cli {
    url: String,
    dir: PathBuf,
}

impl Cli {
    async fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("hoody-cli-{}", hoody_api::db::new_id()));
        Self { url: fresh_database_url().await, dir }
    }

    /// Run `hoody-api servers <args>`; (success, stdout, stderr).
    fn run(&self, args: &[&str]) -> (bool, String, String) {
        crate::harness::run_cli("servers", &self.url, &self.dir, args)
    }

    fn list(&self) -> Vec<Value> {
        let (ok, out, err) = self.run(&["list", "--json"]);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test]
async fn the_cli_adds_lists_updates_and_removes_hosts() {
    let cli = Cli::new().await;
    let (ok, out, err) = cli.run(&[
        "add",
        "fra-1",
        "--region",
        "eu-central",
        "--country",
        "DE",
        "--city",
        "Frankfurt",
        "--cores",
        "8",
        "--ram-mb",
        "32768",
        "--disk-gb",
        "500",
        "--free",
        "true",
        "--price-per-day-cents",
        "250",
        "--rental-days",
        "1,7,30",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("added fra-1"));
    let rows = cli.list();
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!(
        (r["region"].as_str(), r["country"].as_str(), r["cores"].as_i64()),
        (Some("eu-central"), Some("DE"), Some(8))
    );
    assert_eq!(r["rental_days"], serde_json::json!([1, 7, 30]));
    assert_eq!(r["lxd_endpoint"], "unix:///var/lib/lxd/unix.socket");
    assert_eq!(r["is_free"], true);

    // Refusals: duplicate name, missing region, bad endpoint, a key without its certificate.
    let (ok, _, err) = cli.run(&["add", "fra-1", "--region", "eu-central"]);
    assert!(!ok && err.contains("already registered"), "{err}");
    assert!(!cli.run(&["add", "nowhere"]).0);
    let (ok, _, err) = cli.run(&["add", "x", "--region", "r", "--endpoint", "ftp://x"]);
    assert!(!ok && err.contains("endpoint"), "{err}");
    let key = cli.dir.join("key.pem");
    std::fs::create_dir_all(&cli.dir).unwrap();
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n").unwrap();
    assert!(!cli.run(&["update", "fra-1", "--client-key", key.to_str().unwrap()]).0);

    // An HTTPS host with its client identity: the key is stored sealed.
    let cert = cli.dir.join("cert.pem");
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n").unwrap();
    let fp = "AB".repeat(32);
    let (ok, _, err) = cli.run(&[
        "update",
        "fra-1",
        "--endpoint",
        "https://10.0.0.5:8443",
        "--client-cert",
        cert.to_str().unwrap(),
        "--client-key",
        key.to_str().unwrap(),
        "--fingerprint",
        &fp,
        "--enabled",
        "false",
    ]);
    assert!(ok, "{err}");
    let r = &cli.list()[0];
    assert_eq!((r["lxd_endpoint"].as_str(), r["is_enabled"].as_bool()), (Some("https://10.0.0.5:8443"), Some(false)));
    assert_eq!(r["server_fingerprint"], "ab".repeat(32));
    assert!(r.get("client_key_sealed").is_none() && r.get("client_key").is_none());
    let db = sqlx::PgPool::connect(&cli.url).await.unwrap();
    let dump: String = sqlx::query_scalar("select server::text from server").fetch_one(&db).await.unwrap();
    assert!(!dump.contains("c2VjcmV0LWtleS1ieXRlcw"), "the key is not stored in the clear");
    db.close().await;

    let (ok, _, err) = cli.run(&["update", "ghost", "--cores", "1"]);
    assert!(!ok && err.contains("no server named"), "{err}");
    assert!(cli.run(&["remove", "fra-1"]).0);
    assert!(cli.list().is_empty());
    assert!(!cli.run(&["remove", "fra-1"]).0);
}

#[tokio::test]
async fn available_regions_reflect_the_registry() {
    let app = TestApp::spawn().await;
    let fields = hoody_api::servers::ServerFields {
        region: Some("eu-central".into()),
        country: Some("DE".into()),
        city: Some("Frankfurt".into()),
        ..Default::default()
    };
    hoody_api::servers::add(&app.db, &app.state.sealer, "fra-1", &fields).await.unwrap();
    let off = hoody_api::servers::ServerFields {
        region: Some("us-east".into()),
        is_enabled: Some(false),
        ..Default::default()
    };
    hoody_api::servers::add(&app.db, &app.state.sealer, "nyc-1", &off).await.unwrap();
    let r = app.get("/api/v1/auth/available-regions", None).await;
    r.expect(200);
    let regions = r.data()["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2);
    assert_eq!(regions[0]["region"], "eu-central");
    assert_eq!(regions[0]["available"], true);
    assert_eq!(regions[1]["available"], false);
}

#[tokio::test]
async fn the_local_lxd_becomes_the_free_server_local() {
    let socket = std::env::var("HOODY_LXD_SOCKET").unwrap_or_else(|_| hoody_api::host::lxd::DEFAULT_SOCKET.into());
    assert!(std::path::Path::new(&socket).exists(), "no LXD at {socket}: run scripts/lxd-test-host");
    let app = TestApp::spawn_with(|c| c.lxd_socket = socket.clone().into()).await;
    let mut rows = Vec::new();
    for _ in 0..50 {
        rows = hoody_api::servers::list(&app.db).await.unwrap();
        if !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].name.as_str(), rows[0].region.as_str(), rows[0].is_free), ("local", "local", true));
    assert_eq!(rows[0].lxd_endpoint, format!("unix://{socket}"));
    let r = app.get("/api/v1/auth/available-regions", None).await;
    assert_eq!(r.data()["regions"][0]["region"], "local");
    // Not again, and never over an existing registry.
    assert!(!hoody_api::servers::register_local(&app.db, std::path::Path::new(&socket)).await.unwrap());
    // Without the socket nothing is registered (the harness default).
    let plain = TestApp::spawn().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(hoody_api::servers::list(&plain.db).await.unwrap().is_empty());
}
