//! What a share must never do: follow a symbolic link out of the source container (refused at
//! create, and at a later mount when one was planted since), take a bad field (each refused
//! naming the field, nothing stored, nothing put on LXD), or join two hosts.

use reqwest::Method;
use serde_json::{json, Value};

use super::{create, device, events, no_share_devices, pair, rows, sh, spawn};

#[tokio::test]
async fn a_symlink_along_the_source_path_is_never_mounted() {
    let app = spawn(3_600_000).await;
    let s = app.verified_user("linker@example.com").await;
    let (_, a, b) = pair(&app, &s).await;
    // `/data/evil` -> the host's /etc if LXD followed it from outside; `/lnk` -> a fine directory.
    let (ok, out) = sh(&a, "ln -s ../../../../etc /data/evil && ln -s /data/shared /lnk && echo f > /data/file");
    assert!(ok, "{out}");
    for (path, why) in [
        ("/data/evil", "symbolic link"),
        ("/data/evil/ssh", "symbolic link"),
        ("/lnk", "symbolic link"),
        ("/lnk/x", "symbolic link"),
        ("/data/file", "not a directory"),
        ("/data/missing", "does not exist"),
    ] {
        let r = create(&app, &s.token, &a, json!({"source_path": path, "target_container_id": b, "mode": "readonly"}))
            .await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "source_path", "{path}: {}", r.text);
        assert!(r.body["details"]["fields"][0]["message"].as_str().unwrap().contains(why), "{path}: {}", r.text);
    }
    assert_eq!(rows(&app).await, 0);
    assert!(no_share_devices(&b));

    // Created on a real directory while disabled; the owner then swaps it for a link: the mount
    // that enabling asks for checks again and refuses, the share turns failed.
    sh(&a, "mkdir -p /data/later");
    let r = create(
        &app,
        &s.token,
        &a,
        json!({"source_path": "/data/later", "target_container_id": b, "mode": "readwrite", "enabled": false}),
    )
    .await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    assert!(device(&b, &id).is_none(), "disabled: not mounted");
    let (ok, out) = sh(&a, "rmdir /data/later && ln -s ../../../../etc /data/later");
    assert!(ok, "{out}");
    let path = format!("/api/v1/containers/{a}/storage/shares/{id}");
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"enabled": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "failed", "{}", r.text);
    assert!(r.data()["status_message"].as_str().unwrap().contains("symbolic link"), "{}", r.text);
    assert!(device(&b, &id).is_none(), "never mounted");
    assert!(no_share_devices(&b));
    assert!(!sh(&b, "ls /mnt/shares/later/passwd").0);
    assert!(events(&app, &id).await.iter().any(|e| e == "storage.share.updated"));
    // The link replaced by a directory and the share updated: it mounts.
    sh(&a, "rm /data/later && mkdir /data/later && echo ok > /data/later/f");
    let r = app.call(Method::PATCH, &path, &s.token, Some(json!({"label": "again"}))).await;
    r.expect(200);
    assert_eq!(r.data()["status"], "active");
    assert_eq!(sh(&b, &format!("cat /mnt/shares/{id}/f")), (true, "ok".into()));
}

#[tokio::test]
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
        assert!(r.text.contains(field), "{body}: {}", r.text);
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

#[tokio::test]
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
