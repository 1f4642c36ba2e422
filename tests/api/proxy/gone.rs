//! A document goes with its owner: deleting a container deletes its document and every kept
//! version (group secrets with them), deleting a project deletes the project's and those of the
//! containers deleted with it; nothing of another container's is touched. On the real LXD: a
//! container delete removes its instance first, which a container row without one cannot show.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::fixtures::{exists, LxdApp};

/// `document` and `document_version` rows of one document.
async fn rows(app: &LxdApp, kind: &str, key: &str) -> (i64, i64) {
    sqlx::query_as(
        "select (select count(*) from document where kind = $1 and owner_key = $2), \
         (select count(*) from document_version where kind = $1 and owner_key = $2)",
    )
    .bind(kind)
    .bind(key)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

/// `document` and `document_version` rows whose body holds `secret` anywhere.
async fn holding(app: &LxdApp, secret: &str) -> i64 {
    let pattern = format!("%{secret}%");
    sqlx::query_scalar(
        "select (select count(*) from document where body::text like $1) \
         + (select count(*) from document_version where body::text like $1)",
    )
    .bind(&pattern)
    .fetch_one(&app.db)
    .await
    .unwrap()
}

async fn write(app: &LxdApp, token: &str, path: &str, v: i64, body: Value) {
    let r = app.request_with(Method::PUT, path, Some(token), &[("if-match", &format!("file:v{v}"))], Some(body)).await;
    r.expect(200);
}

/// Until the instance's file was made from `versions` (no host work left in flight for it).
async fn file_written(app: &LxdApp, id: &str, versions: (i64, i64)) {
    let start = Instant::now();
    loop {
        let at: Option<(i64, i64)> =
            sqlx::query_as("select container_version, project_version from proxy_file where container_id = $1")
                .bind(id)
                .fetch_optional(&app.db)
                .await
                .unwrap();
        if at == Some(versions) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "{id}: file at {at:?}, not {versions:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_and_their_versions_go_with_their_container_and_project() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("proxy-gone@example.com").await;
    let project = app.project(&s.token, "Gone").await;
    let alone = app.running(&s.token, &project, json!({"name": "deleted-alone"})).await;
    let with = app.running(&s.token, &project, json!({"name": "deleted-with-project"})).await;
    // Another project of the same owner, whose documents must stay.
    let kept_project = app.project(&s.token, "Kept").await;
    let pdoc = |p: &str| format!("/api/v1/projects/{p}/proxy/permissions");
    let cdoc = |c: &str| format!("/api/v1/containers/{c}/proxy/permissions");

    // Each container document with a token group, written twice (two kept versions); the
    // project's with JWT and password groups.
    for (id, value) in [(&alone, "tk-alone-6d1f"), (&with, "tk-with-2b9e")] {
        for v in 0..2 {
            let body = json!({"project": project, "container": id,
                "groups": {"ci": {"type": "token", "header": "X-CI", "value": format!("{value}-{v}")}},
                "permissions": {"ci": {"http": true}}});
            write(&app, &s.token, &cdoc(id), v, body).await;
        }
    }
    write(
        &app,
        &s.token,
        &pdoc(&project),
        0,
        json!({"project": project,
               "groups": {"jw": {"type": "jwt", "secret": "jwt-gone-8a7c", "algorithm": "HS256", "sources": ["header:Authorization"]},
                          "pw": {"type": "password", "username": "ann", "password": "pw-gone-31e0", "salt": "s"}},
               "permissions": {"jw": {"http": true}}}),
    )
    .await;
    write(
        &app,
        &s.token,
        &pdoc(&kept_project),
        0,
        json!({"project": kept_project, "groups": {"tk": {"type": "token", "header": "X-K", "value": "tk-kept-0c55"}},
               "permissions": {}}),
    )
    .await;
    assert_eq!(rows(&app, "proxy.container", &alone).await, (1, 2));
    assert_eq!(rows(&app, "proxy.container", &with).await, (1, 2));
    assert_eq!(rows(&app, "proxy.project", &project).await, (1, 1));
    assert_eq!(holding(&app, "tk-alone-6d1f").await, 3, "the secret is stored (document and both versions)");
    let pw_hash = hoody_api::proxy::group::password_hash("s", "pw-gone-31e0");
    assert_eq!(holding(&app, &pw_hash).await, 2);
    for id in [&alone, &with] {
        file_written(&app, id, (2, 1)).await;
    }

    // The container alone: its document and versions go; the others stay.
    app.call(Method::DELETE, &format!("/api/v1/containers/{alone}"), &s.token, None).await.expect(200);
    assert!(!exists(&format!("c-{alone}")), "the instance is gone");
    assert_eq!(rows(&app, "proxy.container", &alone).await, (0, 0));
    assert_eq!(holding(&app, "tk-alone-6d1f").await, 0, "no token value left behind");
    assert_eq!(rows(&app, "proxy.container", &with).await, (1, 2));
    assert_eq!(rows(&app, "proxy.project", &project).await, (1, 1));
    // A GET of the deleted container's document is the 404 of a missing container.
    let r = app.call(Method::GET, &cdoc(&alone), &s.token, None).await;
    r.expect(404);
    assert_eq!(r.code(), "container_not_found");

    // The project, with the container still in it: both documents go.
    let r = app.call(Method::DELETE, &format!("/api/v1/projects/{project}"), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["deleted"]["containers"], 1, "{}", r.text);
    assert!(!exists(&format!("c-{with}")));
    assert_eq!(rows(&app, "proxy.container", &with).await, (0, 0));
    assert_eq!(rows(&app, "proxy.project", &project).await, (0, 0));
    for secret in ["tk-with-2b9e", "jwt-gone-8a7c", pw_hash.as_str()] {
        assert_eq!(holding(&app, secret).await, 0, "{secret} left behind");
    }
    // No row names any of them, whatever its kind.
    let left: i64 = sqlx::query_scalar(
        "select (select count(*) from document where owner_key = any($1)) \
         + (select count(*) from document_version where owner_key = any($1))",
    )
    .bind(vec![alone.clone(), with.clone(), project.clone()])
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let files: i64 = sqlx::query_scalar("select count(*) from proxy_file where container_id = any($1)")
        .bind(vec![alone.clone(), with.clone()])
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(files, 0);

    // The other project's document is untouched.
    assert_eq!(rows(&app, "proxy.project", &kept_project).await, (1, 1));
    assert_eq!(holding(&app, "tk-kept-0c55").await, 2);
    let r = app.call(Method::GET, &pdoc(&kept_project), &s.token, None).await;
    r.expect(200);
    assert_eq!(r.data()["groups"]["tk"]["value"], "tk-kept-0c55");
}
