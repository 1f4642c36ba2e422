//! The reconciler: what LXD reports (stopped behind our back, gone, unreachable) becomes the
//! container's status; a delete its process left half done is finished; instances whose row is
//! gone are reported and left alone.

use std::time::Duration;

use hoody_api::host::fault::Fault;
use serde_json::json;

use crate::fixtures::{exists, lxc, lxc_status, pin_faulty, pin_through, LxdApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_takes_over_what_lxd_reports() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("reconcile@example.com").await;
    let project = app.project(&s.token, "Drift").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let name = format!("c-{id}");
    let status = |app: &LxdApp| {
        let id = id.clone();
        let db = app.db.clone();
        async move {
            sqlx::query_scalar::<_, String>("select status from container where container_id = $1")
                .bind(&id)
                .fetch_one(&db)
                .await
                .unwrap()
        }
    };

    // Nothing drifted: nothing changes.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    // Stopped behind our back.
    lxc(&["stop", &name, "--force"]);
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(status(&app).await, "stopped");
    let (by, meta): (String, serde_json::Value) = sqlx::query_as(
        "select triggered_by, metadata from container_status_log where container_id = $1 order by transition_time desc limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(by, "reconciler");
    assert_eq!(meta["observed"], "stopped");

    // The host unreachable: failed, then back when it answers again.
    let f = pin_faulty(&app);
    f.set(Fault::Blackhole);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "failed");
    app.state.hosts.unpin(&app.server_id);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "stopped");

    // The instance gone: failed, with the reason.
    lxc(&["delete", &name, "--force"]);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!(status(&app).await, "failed");
    let meta: serde_json::Value = sqlx::query_scalar(
        "select metadata from container_status_log where container_id = $1 order by transition_time desc limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(meta["reason"], "instance_missing");
    let events: i64 = sqlx::query_scalar(
        "select count(*) from event where container_id = $1 and data->>'triggered_by' = 'reconciler'",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(events, 4, "every reconciled change is an event");
}

/// The host's listing is taken once, before the containers are looked at: a container started
/// and stopped again meanwhile looks changed in it. A change is recorded only as the instance
/// reads alone, under the container's lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_listing_is_read_again_before_anything_is_recorded() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("stale-listing@example.com").await;
    let project = app.project(&s.token, "Stale").await;
    let id = app.running(&s.token, &project, json!({})).await;
    let name = format!("c-{id}");
    let status = || async {
        sqlx::query_scalar::<_, String>("select status from container where container_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap()
    };
    let f = pin_faulty(&app);
    // The listing says stopped; the instance runs (and the row says running).
    f.set_listing(Some(std::collections::BTreeMap::from([(name.clone(), "Stopped".to_owned())])));
    let reads = f.status_reads("state");
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    assert_eq!(status().await, "running");
    assert_eq!(lxc_status(&name), "RUNNING");
    assert_eq!(f.status_reads("state"), reads + 1, "the instance was read again, alone");
    let by_reconciler: i64 = sqlx::query_scalar(
        "select count(*) from container_status_log where container_id = $1 and triggered_by = 'reconciler'",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(by_reconciler, 0, "nothing recorded from the stale listing");
    // A read that fails right after the listing answered is no proof of anything.
    f.set(Fault::Blackhole);
    f.set_listing(Some(std::collections::BTreeMap::from([(name.clone(), "Stopped".to_owned())])));
    let _ = tokio::time::timeout(Duration::from_secs(30), hoody_api::lifecycle::reconciler::pass(&app.state)).await;
    assert_eq!(status().await, "running", "a failed read again records nothing");
    let f = pin_faulty(&app);
    f.set_listing(Some(std::collections::BTreeMap::from([(name.clone(), "Stopped".to_owned())])));
    // When the instance did stop, the read agrees and the change is recorded.
    lxc(&["stop", &name, "--force"]);
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!(status().await, "stopped");
    // An unchanged listing costs no read of its own.
    f.set_listing(None);
    let reads = f.status_reads("state");
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    assert_eq!(f.status_reads("state"), reads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_finishes_a_delete_its_process_left_half_done() {
    // The intent below is an hour old: far past the point (the lock wait, the op deadline and
    // 30 s) where stuck work is taken over.
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("half@example.com").await;
    let project = app.project(&s.token, "Half").await;
    let id = app.running(&s.token, &project, json!({})).await;
    // The process died right after recording the intent.
    sqlx::query("update container set status = 'deleting', status_changed_at = now() - interval '1 hour' where container_id = $1")
        .bind(&id)
        .execute(&app.db)
        .await
        .unwrap();
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert!(!crate::fixtures::exists(&format!("c-{id}")), "the instance is gone");
    let left: i64 = sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap();
    assert_eq!(left, 0);
    let last: String =
        sqlx::query_scalar("select event_type from event where container_id = $1 order by created_at desc limit 1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(last, "container.deleted");
}

/// An instance made for this server whose container row is gone (a restored backup, rows removed
/// by hand) is reported by the reconciler and left alone: removing it would destroy data the
/// database merely forgot. Instances without our tag, or tagged for another server, are not
/// reported; instances with their rows are not strays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_reports_instances_whose_container_is_gone_and_leaves_them() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("strays@example.com").await;
    let project = app.project(&s.token, "Strays").await;
    let kept = app.running(&s.token, &project, json!({"name": "kept"})).await;
    let lost = app.running(&s.token, &project, json!({"name": "row-lost"})).await;
    assert_eq!(lxc(&["config", "get", &format!("c-{lost}"), "user.hoody.server_id"]), app.server_id);
    sqlx::query("delete from container where container_id = $1").bind(&lost).execute(&app.db).await.unwrap();
    let (untagged, foreign) = (hoody_api::db::new_id(), hoody_api::db::new_id());
    app.track(&untagged);
    app.track(&foreign);
    lxc(&["init", "hoody-busybox", &format!("c-{untagged}")]);
    lxc(&["init", "hoody-busybox", &format!("c-{foreign}"), "-c", "user.hoody.server_id=ffffffffffffffffffffffff"]);
    assert!(exists(&format!("c-{untagged}")) && exists(&format!("c-{foreign}")), "the strangers were made");

    let server = hoody_api::servers::by_id(&app.db, &app.server_id).await.unwrap().unwrap();
    let host = app.state.hosts.for_server(&server, &app.state.sealer).unwrap();
    // The host filters by our tag: one call, without the strangers.
    let key = hoody_api::lifecycle::provision::SERVER_KEY;
    let tagged = host.call("statuses_with", |d| d.statuses_with(key, &app.server_id)).await.unwrap();
    assert_eq!(tagged.get(&format!("c-{lost}")).map(String::as_str), Some("Running"), "{tagged:?}");
    assert_eq!(tagged.get(&format!("c-{kept}")).map(String::as_str), Some("Running"), "{tagged:?}");
    assert!(
        !tagged.contains_key(&format!("c-{untagged}")) && !tagged.contains_key(&format!("c-{foreign}")),
        "{tagged:?}"
    );
    let found = hoody_api::lifecycle::reconciler::strays(&app.state, &host, &app.server_id).await.unwrap();
    assert_eq!(found, [format!("c-{lost}")]);
    // A whole pass reports it and changes nothing: every instance is still there, as it was.
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    for id in [&lost, &untagged, &foreign, &kept] {
        assert!(exists(&format!("c-{id}")), "c-{id} was removed");
    }
    assert_eq!(lxc_status(&format!("c-{kept}")), "RUNNING");
    assert_eq!(lxc_status(&format!("c-{lost}")), "RUNNING");
}

/// A pass reads the whole host in one call, however many containers it runs; a container the
/// listing lacks (an instance without our tag, made before it existed) is asked about alone, and
/// is not taken for gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pass_reads_a_host_in_one_call() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("one-call@example.com").await;
    let project = app.project(&s.token, "OneCall").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(app.running(&s.token, &project, json!({"name": format!("one-call-{n}")})).await);
    }
    // No fault injected: the driver only counts. The default limits, so that a slow shared
    // LXD does not turn the listing into a timeout (which would mean a read per container).
    let f = pin_through(&app, hoody_api::host::HostLimits::default());
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 0);
    assert_eq!(
        (f.status_reads("statuses_with"), f.status_reads("state")),
        (1, 0),
        "one listing, no per-container read"
    );

    // Stopped behind our back, and one instance without the tag: still one listing, one read
    // for the untagged one, one for the stopped one (read again alone before its change is
    // recorded: see the next test), and each container's real status.
    lxc(&["stop", &format!("c-{}", ids[0]), "--force"]);
    lxc(&["config", "unset", &format!("c-{}", ids[1]), "user.hoody.server_id"]);
    assert_eq!(hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap(), 1);
    assert_eq!((f.status_reads("statuses_with"), f.status_reads("state")), (2, 2));
    let statuses: Vec<String> = sqlx::query_scalar(
        "select status from container where container_id = any($1) order by array_position($1, container_id)",
    )
    .bind(&ids)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(statuses, ["stopped", "running", "running"], "the untagged one is not taken for gone");
}

/// A listing that fails does not fail the server's containers at once: each is asked about
/// alone, as before the listing existed, and takes its real status back from one listing once
/// the host answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_falls_back_to_one_read_per_container() {
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("listing-fails@example.com").await;
    let project = app.project(&s.token, "ListingFails").await;
    let id = app.running(&s.token, &project, json!({"name": "kept-running"})).await;
    let f = pin_through(&app, hoody_api::host::HostLimits::default());
    f.set(Fault::Fail);
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!((f.status_reads("statuses_with"), f.status_reads("state")), (1, 1), "the listing, then one read");
    // A host that answers again (a new handle: the failures above may have opened the breaker).
    let f = pin_through(&app, hoody_api::host::HostLimits::default());
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    assert_eq!((f.status_reads("statuses_with"), f.status_reads("state")), (1, 0), "one listing, no read");
    let status: String = sqlx::query_scalar("select status from container where container_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(status, "running");
}
