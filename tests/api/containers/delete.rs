//! `DELETE /containers/{id}`: a container (and its project) in the middle of host work is not
//! deleted under the host.

use std::time::Duration;

use reqwest::Method;

use crate::fixtures::LxdApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn busy_containers_and_their_projects_are_not_deleted_under_the_host() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("busy@example.com").await;
    let project = app.project(&s.token, "Busy").await;
    // A row in the middle of a create (no instance yet).
    let mut n =
        hoody_api::db::containers::NewContainer::new(&project, &app.server_id, "midway".into(), "hoody-busybox".into());
    n.status = "creating";
    hoody_api::db::containers::insert(&app.db, &n).await.unwrap();
    let r = app.call(Method::DELETE, &format!("/api/v1/containers/{}", n.container_id), &s.token, None).await;
    r.expect(409);
    assert_eq!(r.code(), "container_busy");
    let r = app.call(Method::DELETE, &format!("/api/v1/projects/{project}"), &s.token, None).await;
    r.expect(409);
    assert_eq!(r.code(), "project_busy");
    let left: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 1);
    // Its server removed from the registry: the reconciler marks it failed, and then it goes.
    sqlx::query("update container set server_id = null where container_id = $1")
        .bind(&n.container_id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    let r = app.get(&format!("/api/v1/containers/{}", n.container_id), Some(&s.token)).await;
    assert_eq!(r.data()["status"], "failed");
    app.call(Method::DELETE, &format!("/api/v1/containers/{}", n.container_id), &s.token, None).await.expect(200);
    app.call(Method::DELETE, &format!("/api/v1/projects/{project}"), &s.token, None).await.expect(200);
}
