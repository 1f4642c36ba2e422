//! What a share must never do: expose a host path. Its files live in an LXD custom volume, so a
//! symbolic link or an overmount planted at the source path after the share was made changes
//! nothing the target sees, even across restarts (and LXD refuses to start the source on such a
//! link). Also refused at create: a link along the path, a non-empty or already shared directory;
//! a bad field (each refused naming the field, nothing stored, nothing put on LXD); two hosts.

use std::path::Path;

use reqwest::Method;
use serde_json::{json, Value};

use super::{create, device, no_share_devices, pair, rows, sh, source_device, spawn, volume_exists};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_symlink_or_a_full_directory_is_refused_at_create() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("linker@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    // `/data/evil` -> /etc (the host's if anything resolved it outside); `/lnk` -> a fine directory.
    let (ok, out) = sh(&a, "ln -s /etc /data/evil && ln -s /data/shared /lnk && echo f > /data/file && mkdir -p /data/full && echo x > /data/full/x");
    assert!(ok, "{out}");
    for (path, why) in [
        ("/data/evil", "symbolic link"),
        ("/data/evil/ssh", "symbolic link"),
        ("/lnk", "symbolic link"),
        ("/lnk/x", "symbolic link"),
        ("/data/file", "not a directory"),
        ("/data/missing", "does not exist"),
        ("/data/full", "not empty"),
        ("/etc", "not empty"),
    ] {
        let r = create(&app, &s.token, &a, json!({"source_path": path, "target_container_id": b, "mode": "readonly"}))
            .await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "source_path", "{path}: {}", r.text);
        assert!(r.body["details"]["fields"][0]["message"].as_str().unwrap().contains(why), "{path}: {}", r.text);
    }
    assert_eq!(rows(&app).await, 0);
    assert!(no_share_devices(&b));
    assert!(no_share_devices(&a));

    // One share per directory, none inside or above another.
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly"}),
    )
    .await;
    r.expect(201);
    assert!(sh(&a, "mkdir /data/shared/sub").0);
    for path in ["/data/shared", "/data/shared/sub", "/data"] {
        let r = create(&app, &s.token, &a, json!({"source_path": path, "target_container_id": b, "mode": "readonly"}))
            .await;
        r.expect(422);
        assert!(r.text.contains("already shared"), "{path}: {}", r.text);
    }
    assert_eq!(rows(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_planted_at_the_mount_path_never_exposes_the_host() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("attacker@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    // What an escape would show: files that exist on the host only.
    assert!(Path::new("/var/lib/lxd/server.key").exists(), "the host file the test looks for");
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readwrite"}),
    )
    .await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let at = format!("/mnt/shares/{id}");
    assert!(sh(&a, "echo mine > /data/shared/mine.txt").0);
    assert_eq!(sh(&b, &format!("cat {at}/mine.txt")), (true, "mine".into()));

    // An overmount (a tmpfs over the mount path in the source): the target sees the volume only.
    let (ok, out) = sh(&a, "mount -t tmpfs tmpfs /data/shared && echo fake > /data/shared/fake.txt");
    assert!(ok, "{out}");
    app.call(Method::POST, &format!("/api/v1/containers/{b}/restart"), &s.token, None).await.expect(200);
    assert_eq!(sh(&b, &format!("cat {at}/mine.txt")), (true, "mine".into()));
    assert!(!sh(&b, &format!("test -e {at}/fake.txt")).0, "the overmount is the source's own view");
    assert!(sh(&a, "umount /data/shared").0);

    // Root in the source unmounts the volume and plants `/data/shared -> /` (and a link to the
    // host's LXD directory inside the volume beforehand).
    let (ok, out) = sh(
        &a,
        "ln -s /var/lib/lxd /data/shared/lxd && umount /data/shared && rmdir /data/shared && ln -s / /data/shared",
    );
    assert!(ok, "{out}");
    // The target restarted through the API, then the whole source and target again by LXD.
    app.call(Method::POST, &format!("/api/v1/containers/{b}/restart"), &s.token, None).await.expect(200);
    let escaped = |why: &str| {
        for probe in [
            format!("test -e {at}/var/lib/lxd/server.key"),
            format!("test -e {at}/lxd/server.key"),
            format!("test -e {at}/etc/shadow"),
            format!("test -e {at}/data/shared"),
        ] {
            assert!(!sh(&b, &probe).0, "{why}: {probe} succeeded in the target");
        }
    };
    escaped("after the target's restart");
    assert_eq!(sh(&b, &format!("cat {at}/mine.txt")), (true, "mine".into()), "the target still sees the volume");
    // The source on its link: LXD refuses to mount there, so it does not start at all.
    let src = format!("c-{a}");
    crate::fixtures::lxc(&["stop", &src, "--force"]);
    let start = std::process::Command::new("lxc").args(["start", &src]).output().unwrap();
    assert!(!start.status.success(), "LXD started the source on a link at its mount path");
    let restart = std::process::Command::new("lxc").args(["restart", &format!("c-{b}"), "--force"]).output().unwrap();
    assert!(restart.status.success(), "{}", String::from_utf8_lossy(&restart.stderr));
    escaped("after both restarted");
    assert_eq!(device(&b, &id).unwrap()["source"], format!("share-{id}"));
    assert_eq!(source_device(&a, &id).unwrap()["path"], "/data/shared");

    let r = app.call(Method::DELETE, &format!("/api/v1/storage/shares/{id}"), &s.token, None).await;
    r.expect(200);
    assert!(!volume_exists(&id));
    assert!(no_share_devices(&b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_field_is_refused_with_nothing_stored_or_mounted() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("careless@example.com").await;
    let (p, a, b) = pair(&app, &s).await;
    let ok = |extra: Value| {
        let mut body = json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly"});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    let past = chrono::Utc::now().timestamp() - 10;
    let cases: Vec<(Value, &str)> = vec![
        (ok(json!({"source_path": "data/shared"})), "source_path"),
        (ok(json!({"source_path": ""})), "source_path"),
        (ok(json!({"source_path": "/data/../etc"})), "source_path"),
        (ok(json!({"source_path": "/data/sh ared"})), "source_path"),
        (ok(json!({"source_path": "/data/$(id)"})), "source_path"),
        (ok(json!({"source_path": "/"})), "source_path"),
        (ok(json!({"source_path": "/proc"})), "source_path"),
        (ok(json!({"source_path": "/sys/kernel"})), "source_path"),
        (ok(json!({"source_path": "/dev/shm"})), "source_path"),
        (ok(json!({"source_path": "/boot"})), "source_path"),
        (ok(json!({"source_path": "/run/x"})), "source_path"),
        (ok(json!({"source_path": "/var//run/"})), "source_path"),
        // Above /mnt/shares: incoming shares would be mounted inside this one's volume.
        (ok(json!({"source_path": "/mnt"})), "source_path"),
        (ok(json!({"source_path": "/mnt/shares/x"})), "source_path"),
        (ok(json!({"source_path": 5})), "source_path"),
        (ok(json!({"source_path": null})), "source_path"),
        (ok(json!({"mode": "rw"})), "mode"),
        (ok(json!({"mode": null})), "mode"),
        (ok(json!({"target_container_id": null})), "target_container_id"),
        (ok(json!({"target_project_id": p})), "target_container_id"),
        (ok(json!({"target_container_id": "nope"})), "target_container_id"),
        (ok(json!({"target_container_id": a})), "target_container_id"),
        (ok(json!({"target_container_id": null, "target_project_id": "x"})), "target_project_id"),
        (ok(json!({"alias": "Bad Alias"})), "alias"),
        (ok(json!({"alias": "-x"})), "alias"),
        (ok(json!({"alias": "a".repeat(64)})), "alias"),
        (ok(json!({"label": ""})), "label"),
        (ok(json!({"label": "l".repeat(101)})), "label"),
        (ok(json!({"description": "d".repeat(1001)})), "description"),
        (ok(json!({"enabled": "yes"})), "enabled"),
        (ok(json!({"expires_at": past})), "expires_at"),
        (ok(json!({"expires_at": -1})), "expires_at"),
        (ok(json!({"expires_at": "tomorrow"})), "expires_at"),
        (ok(json!({"expires_at": 1e20})), "expires_at"),
        (ok(json!({"extra": 1})), "extra"),
    ];
    for (body, field) in cases {
        let r = create(&app, &s.token, &a, body.clone()).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {}", r.text);
        let named = r.body["details"]["fields"].as_array().map(|f| f.iter().any(|x| x["path"] == field));
        assert_eq!(named, Some(true), "{body} should name {field}: {}", r.text);
    }
    // Deeper than 32 components: refused before the host is asked.
    let deep = format!("/{}", (0..33).map(|i| format!("d{i}")).collect::<Vec<_>>().join("/"));
    let r = create(&app, &s.token, &a, ok(json!({"source_path": deep}))).await;
    r.expect(422);
    assert!(r.body["details"]["fields"][0]["message"].as_str().unwrap().contains("32 components"), "{}", r.text);
    // Above /mnt/shares: said so.
    let r = create(&app, &s.token, &a, ok(json!({"source_path": "/mnt"}))).await;
    r.expect(422);
    assert!(r.body["details"]["fields"][0]["message"].as_str().unwrap().contains("/mnt/shares"), "{}", r.text);
    // A project-wide share: a missing project is 404 like another user's.
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_project_id": hoody_api::db::new_id(), "mode": "readonly"}),
    )
    .await;
    r.expect(404);
    assert_eq!(rows(&app).await, 0);
    assert!(no_share_devices(&b));

    // Update: each bad field refused, the share unchanged and its device as it was.
    let r = create(&app, &s.token, &a, ok(json!({}))).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let before = device(&b, &id).expect("mounted");
    let path = format!("/api/v1/containers/{a}/storage/shares/{id}");
    for (body, field) in [
        (json!({"mode": "write"}), "mode"),
        (json!({"alias": "UP"}), "alias"),
        (json!({"label": ""}), "label"),
        (json!({"expires_at": past}), "expires_at"),
        (json!({"source_path": "/etc"}), "source_path"),
    ] {
        let r = app.call(Method::PATCH, &path, &s.token, Some(body.clone())).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{body}: {}", r.text);
        let named = r.body["details"]["fields"].as_array().map(|f| f.iter().any(|x| x["path"] == field));
        assert_eq!(named, Some(true), "{body} should name {field}: {}", r.text);
    }
    let r = app.get(&path, Some(&s.token)).await;
    assert_eq!((r.data()["mode"].clone(), r.data()["enabled"].clone()), (json!("readonly"), json!(true)));
    assert_eq!(device(&b, &id), Some(before));
    let mount = format!("/api/v1/containers/{b}/storage/incoming/{id}/mount");
    let r = app.call(Method::PATCH, &mount, &s.token, Some(json!({"mount": "no"}))).await;
    assert!(matches!(r.status.as_u16(), 400 | 422), "{}", r.text);
    assert!(device(&b, &id).is_some());
    // List filters.
    for q in ["target_type=vm", "status=gone", "enabled=maybe", "include_expired=1", "realm_id=zz", "other=1"] {
        let r = app.get(&format!("/api/v1/containers/{a}/storage/shares?{q}"), Some(&s.token)).await;
        assert!(matches!(r.status.as_u16(), 400 | 422), "{q}: {}", r.text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_between_two_hosts_is_refused() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("far@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    let other = hoody_api::db::new_id();
    sqlx::query("insert into server (server_id, name, region, is_free) values ($1, 'far', 'local', true)")
        .bind(&other)
        .execute(&app.db)
        .await
        .unwrap();
    sqlx::query("update container set server_id = $1 where container_id = $2")
        .bind(&other)
        .bind(&b)
        .execute(&app.db)
        .await
        .unwrap();
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/shared", "target_container_id": b, "mode": "readonly"}),
    )
    .await;
    r.expect(422);
    assert!(r.text.contains("another host"), "{}", r.text);
    assert_eq!(rows(&app).await, 0);
    sqlx::query("update container set server_id = $1 where container_id = $2")
        .bind(&app.server_id)
        .bind(&b)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(no_share_devices(&b));
}
