//! The operator CLI end to end on the real LXD: publish a running container (through a
//! temporary snapshot) and a snapshot, import the image, create a container from it; unpublish
//! and publish again. Also the driver's own refusal of a running instance.

use std::{path::PathBuf, process::Command, sync::Arc};

use hoody_api::host::{lxd::Lxd, HostDriver, HostError};
use reqwest::Method;
use serde_json::{json, Value};

use super::{ids, quick_user};
use crate::fixtures::{lxc, lxc_status, socket, LxdApp};

/// `hoody-api images …` against the app's database; deletes the LXD images it made.
struct Cli {
    url: String,
    dir: PathBuf,
}

impl Cli {
    fn new(app: &LxdApp) -> Self {
        let dir = std::env::temp_dir().join(format!("hoody-images-cli-{}", hoody_api::db::new_id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { url: app.database_url(), dir }
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let (ok, out, err) = crate::harness::run_cli("images", &self.url, &self.dir, args);
        (ok, out.trim().to_owned(), err.trim().to_owned())
    }

    fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args);
        assert!(ok, "images {args:?}: {err}");
        out
    }

    fn listed(&self) -> Vec<Value> {
        serde_json::from_str::<Value>(&self.ok(&["list", "--json"])).unwrap().as_array().unwrap().clone()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        // Every LXD image this test's database knows of was made by this test.
        // (A connection of its own: the test's pool belongs to the test's runtime.)
        let url = self.url.clone();
        let fps: Vec<String> = std::thread::spawn(move || {
            tokio::runtime::Runtime::new().unwrap().block_on(async move {
                let Ok(db) = sqlx::PgPool::connect(&url).await else { return Vec::new() };
                sqlx::query_scalar("select fingerprint from image").fetch_all(&db).await.unwrap_or_default()
            })
        })
        .join()
        .unwrap_or_default();
        for fp in fps {
            let _ = Command::new("lxc").args(["image", "delete", &fp]).output();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn row(app: &LxdApp, id: &str) -> (String, String, bool, String, i64, Option<String>, String) {
    sqlx::query_as(
        "select lxd_alias, fingerprint, is_public, architecture, size_bytes, icon_content_type, coalesce(server_id, '') \
         from image where image_id = $1",
    )
    .bind(id)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_import_and_launch_from_the_cli_on_real_lxd() {
    let app = LxdApp::spawn().await;
    let cli = Cli::new(&app);
    let owner = quick_user(&app).await;
    let buyer = quick_user(&app).await;
    let stranger = quick_user(&app).await;
    let project = app.project(&owner.token, "Source").await;
    let source = app.running(&owner.token, &project, json!({"name": "img-src"})).await;
    lxc(&["exec", &format!("c-{source}"), "--", "touch", "/root/baked-in"]);
    let icon = cli.dir.join("icon.png");
    std::fs::write(&icon, b"\x89PNG\r\n\x1a\n-icon-bytes-").unwrap();

    // Bad input: nothing published, nothing stored.
    let (ok, _, err) = cli.run(&["publish", "--container", &source, "--os", "debian"]);
    assert!(!ok && err.contains("--alias"), "{err}");
    let (ok, _, err) =
        cli.run(&["publish", "--container", "0123456789abcdef01234567", "--alias", "x", "--os", "debian"]);
    assert!(!ok && err.contains("no container"), "{err}");
    let (ok, _, err) = cli.run(&["publish", "--container", &source, "--alias", "x", "--os", "debian", "--price=-1"]);
    assert!(!ok && err.contains("--price"), "{err}");
    assert!(cli.listed().is_empty());

    // Publish the running container.
    let id = cli.ok(&[
        "publish",
        "--container",
        &source,
        "--alias",
        "web-demo",
        "--os",
        "debian",
        "--release",
        "13",
        "--description",
        "A demo web image",
        "--tags",
        "web,demo",
        "--icon",
        icon.to_str().unwrap(),
    ]);
    assert!(hoody_api::db::is_id(&id), "{id}");
    let (lxd_alias, fingerprint, public, arch, size, icon_type, server) = row(&app, &id).await;
    assert!(public && lxd_alias.starts_with("hoody-image-"));
    assert_eq!(
        (arch.as_str(), icon_type.as_deref(), server.as_str()),
        ("amd64", Some("image/png"), app.server_id.as_str())
    );
    assert!(size > 0);
    // LXD has it under the alias, and the temporary snapshot is gone; the source still runs.
    assert_eq!(lxc(&["image", "list", &lxd_alias, "-c", "F", "--format", "csv"]), fingerprint);
    assert_eq!(lxc(&["query", &format!("/1.0/instances/c-{source}/snapshots")]).replace(char::is_whitespace, ""), "[]");
    assert_eq!(lxc_status(&format!("c-{source}")), "RUNNING");

    // The catalogue shows it; the buyer imports it and launches a container from it.
    let r = app.get("/api/v1/images/public?search=demo", Some(&buyer.token)).await;
    r.expect(200);
    assert_eq!(ids(r.data()), vec![id.clone()]);
    assert_eq!(r.data()["images"][0]["icon_url"], format!("/api/v1/images/{id}/icon"));
    assert_eq!(r.data()["images"][0]["size"], size);
    let res = app.client.get(format!("{}/api/v1/images/{id}/icon", app.base)).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), b"\x89PNG\r\n\x1a\n-icon-bytes-");
    app.post_auth(&format!("/api/v1/images/import/{id}"), &buyer.token, None).await.expect(200);
    let target = app.project(&buyer.token, "Target").await;
    let made = app.running(&buyer.token, &target, json!({"name": "from-image", "container_image": id})).await;
    let name = format!("c-{made}");
    assert_eq!(lxc_status(&name), "RUNNING");
    assert_eq!(lxc(&["config", "get", &name, "volatile.base_image"]), fingerprint);
    let baked = Command::new("lxc").args(["exec", &name, "--", "test", "-e", "/root/baked-in"]).status().unwrap();
    assert!(baked.success(), "the new container has the source's files");

    // Someone who does not hold it gets what any unknown image gets; its LXD alias is refused.
    let other = app.project(&stranger.token, "Other").await;
    let unknown =
        app.create(&stranger.token, &other, json!({"name": "nope-1", "container_image": "no-such-image-zz"})).await;
    let r = app.create(&stranger.token, &other, json!({"name": "nope-2", "container_image": id})).await;
    assert!(r.status.as_u16() >= 400, "{}", r.text);
    assert_eq!((r.status, r.code()), (unknown.status, unknown.code()), "{} vs {}", r.text, unknown.text);
    let r = app.create(&stranger.token, &other, json!({"name": "nope-3", "container_image": lxd_alias})).await;
    r.expect(422);
    assert_eq!(r.body["details"]["fields"][0]["path"], "container_image");

    // Unpublish: out of the catalogue, still the buyer's.
    assert_eq!(cli.ok(&["unpublish", &id]), format!("unpublished {id}"));
    assert!(!row(&app, &id).await.2);
    app.get(&format!("/api/v1/images/public/{id}"), Some(&buyer.token)).await.expect(404);
    let r = app.get("/api/v1/images/user", Some(&buyer.token)).await;
    assert_eq!(ids(r.data()), vec![id.clone()]);
    app.post_auth(&format!("/api/v1/images/import/{id}"), &stranger.token, None).await.expect(404);
    // Publish it again with a price.
    assert_eq!(cli.ok(&["publish", &id, "--price", "2.50"]), id);
    let r = app.get(&format!("/api/v1/images/public/{id}"), Some(&buyer.token)).await;
    r.expect(200);
    assert_eq!(r.data()["price"], json!(2.5));
    let (ok, _, _) = cli.run(&["unpublish", "0123456789abcdef01234567"]);
    assert!(!ok);

    // From a snapshot.
    let r =
        app.call(Method::POST, &format!("/api/v1/containers/{source}/snapshots"), &owner.token, Some(json!({}))).await;
    r.expect(201);
    let snap = r.data()["snapshot"]["name"].as_str().unwrap().to_owned();
    let second =
        cli.ok(&["publish", "--container", &source, "--snapshot", &snap, "--alias", "from-snap", "--os", "debian"]);
    let (alias2, fp2, ..) = row(&app, &second).await;
    assert_eq!(lxc(&["image", "list", &alias2, "-c", "F", "--format", "csv"]), fp2);
    let listed = cli.listed();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|i| i["image_id"] == id.as_str() && i["holders"] == 1 && i["price_cents"] == 250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_refuses_a_running_instance_and_forgets_missing_images() {
    let app = LxdApp::spawn().await;
    let s = quick_user(&app).await;
    let project = app.project(&s.token, "Driver").await;
    let id = app.running(&s.token, &project, json!({"name": "drv"})).await;
    let lxd: Arc<dyn HostDriver> = Arc::new(Lxd::new(socket(), std::time::Duration::from_secs(60)));
    let props = Default::default();
    let alias = format!("hoody-image-{}", hoody_api::db::new_id());
    let r = lxd.publish_image(&format!("c-{id}"), &alias, &props).await;
    assert!(matches!(r, Err(HostError::Refused(_))), "{r:?}");
    assert_eq!(lxc(&["image", "list", &alias, "--format", "csv"]), "");
    lxd.delete_image(&"0".repeat(64)).await.unwrap();
}
