//! `Idempotency-Key` on the creating POSTs: a repeat replays the first answer and creates nothing;
//! another request under the same key is refused; keys are per user. And R11: a host that does
//! the work but loses the reply gives 502, a retry with the key makes nothing twice, and the
//! reconciler brings the container's status to what LXD reports.

use std::time::Duration;

use futures::future::join_all;
use hoody_api::host::fault::Fault;
use reqwest::Method;
use serde_json::{json, Value};

use crate::{
    fixtures::{exists, lxc, lxc_status, pin_faulty, LxdApp},
    harness::Resp,
};

const KEY: &str = "idempotency-key";

async fn keyed(app: &LxdApp, path: &str, token: Option<&str>, key: &str, body: Value) -> Resp {
    let r = app.request_with(Method::POST, path, token, &[(KEY, key)], Some(body)).await;
    if let Some(id) = r.data()["id"].as_str() {
        app.track(id);
    }
    r
}

fn replayed(r: &Resp) -> bool {
    r.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
}

async fn count(app: &LxdApp, sql: &str, arg: &str) -> i64 {
    sqlx::query_scalar(sql).bind(arg).fetch_one(&app.db).await.unwrap()
}

async fn containers_of(app: &LxdApp, project: &str) -> i64 {
    count(app, "select count(*) from container where project_id = $1", project).await
}

fn lxd_snapshots(lxd_name: &str) -> usize {
    let out = lxc(&["query", &format!("/1.0/instances/{lxd_name}/snapshots")]);
    serde_json::from_str::<Vec<String>>(&out).expect("LXD's snapshot list").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_create_replays_the_first_answer_and_makes_nothing_twice() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("once@example.com").await;
    let project = app.project(&s.token, "Once").await;
    let path = format!("/api/v1/projects/{project}/containers");
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "once",
        "environment_vars": {"API_SECRET": "s3cr3t-in-the-answer"}});

    let first = keyed(&app, &path, Some(&s.token), "create-1", body.clone()).await;
    first.expect(201);
    assert!(!replayed(&first));
    let id = first.data()["id"].as_str().unwrap().to_owned();
    let again = keyed(&app, &path, Some(&s.token), "create-1", body.clone()).await;
    again.expect(201);
    assert!(replayed(&again), "a repeat says it is a replay");
    assert_eq!(again.text, first.text, "the first answer, byte for byte");
    assert_eq!(containers_of(&app, &project).await, 1);
    assert!(exists(&format!("c-{id}")));
    // The kept answer carries the environment: it is stored sealed.
    let stored: Vec<u8> =
        sqlx::query_scalar("select body from idempotency_key where key = 'create-1'").fetch_one(&app.db).await.unwrap();
    assert!(!stored.windows(8).any(|w| w == b"s3cr3t-i"), "the answer is stored in the clear");
    assert!(first.text.contains("s3cr3t-in-the-answer"));

    // The same key from another credential of the same user (a read-only token) is not a replay.
    let (ro, _) = app.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    let r = keyed(&app, &path, Some(&ro), "create-1", body.clone()).await;
    r.expect(422);

    // The same key with another body, or another route: refused, nothing made.
    let other = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "twice"});
    let r = keyed(&app, &path, Some(&s.token), "create-1", other.clone()).await;
    r.expect(422);
    assert!(r.text.contains("Idempotency-Key"), "{}", r.text);
    let r = keyed(&app, &format!("/api/v1/containers/{id}/snapshots"), Some(&s.token), "create-1", json!({})).await;
    r.expect(422);
    assert_eq!(containers_of(&app, &project).await, 1);
    assert_eq!(count(&app, "select count(*) from container_snapshot where container_id = $1", &id).await, 0);

    // Bad keys are 400 and make nothing; without a caller the key changes nothing (401).
    for bad in ["a b", &"k".repeat(256)] {
        let r = keyed(&app, &path, Some(&s.token), bad, other.clone()).await;
        r.expect(400);
        assert_eq!(r.code(), "invalid_idempotency_key");
    }
    keyed(&app, &path, None, "create-2", other.clone()).await.expect(401);
    keyed(&app, &path, None, "a b", other.clone()).await.expect(401);
    assert_eq!(containers_of(&app, &project).await, 1);

    // Keys are per user: another user's identical key is their own, and sees nothing of ours.
    let t = app.verified_user("twice@example.com").await;
    let theirs = app.project(&t.token, "Theirs").await;
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "once"});
    let r = keyed(&app, &format!("/api/v1/projects/{theirs}/containers"), Some(&t.token), "create-1", body).await;
    r.expect(201);
    assert!(!replayed(&r));
    assert_ne!(r.data()["id"], first.data()["id"]);
    // A key opens nothing: their keyed create in our project is the usual 404.
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "intruder"});
    keyed(&app, &path, Some(&t.token), "create-9", body).await.expect(404);
    assert_eq!(containers_of(&app, &project).await, 1);

    // A project create with a key: the repeat is the same project, not a 409 for the alias.
    let p1 = keyed(&app, "/api/v1/projects/", Some(&s.token), "project-1", json!({"alias": "Keyed"})).await;
    p1.expect(201);
    let p2 = keyed(&app, "/api/v1/projects/", Some(&s.token), "project-1", json!({"alias": "Keyed"})).await;
    p2.expect(201);
    assert_eq!(p2.data()["id"], p1.data()["id"]);
    assert_eq!(count(&app, "select count(*) from project where alias = $1", "Keyed").await, 1);
    // Without the key the same create is the usual duplicate-alias conflict.
    app.post_auth("/api/v1/projects/", &s.token, Some(json!({"alias": "Keyed"}))).await.expect(409);

    // A "try again" answer is not kept: a 409 for a taken alias, then the alias is freed, and
    // the same key runs anew.
    let taken = json!({"alias": "Keyed"});
    keyed(&app, "/api/v1/projects/", Some(&s.token), "project-2", taken.clone()).await.expect(409);
    let freed = format!("/api/v1/projects/{}", p1.data()["id"].as_str().unwrap());
    app.call(Method::DELETE, &freed, &s.token, None).await.expect(200);
    let r = keyed(&app, "/api/v1/projects/", Some(&s.token), "project-2", taken).await;
    r.expect(201);
    assert!(!replayed(&r));
    assert_ne!(r.data()["id"], p1.data()["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_repeats_of_one_key_make_one_container() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("race@example.com").await;
    let project = app.project(&s.token, "Race").await;
    let path = format!("/api/v1/projects/{project}/containers");
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "raced"});
    let all = join_all((0..6).map(|_| keyed(&app, &path, Some(&s.token), "race-1", body.clone()))).await;
    let mut ids = std::collections::BTreeSet::new();
    for r in &all {
        match r.status.as_u16() {
            201 => {
                ids.insert(r.data()["id"].as_str().unwrap().to_owned());
            }
            409 => {
                assert_eq!(r.code(), "idempotency_key_in_use", "{}", r.text);
                assert_eq!(r.headers.get("retry-after").unwrap(), "1");
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert_eq!(ids.len(), 1, "every 201 names the one container: {ids:?}");
    assert_eq!(containers_of(&app, &project).await, 1);
    let id = ids.into_iter().next().unwrap();
    let r = keyed(&app, &path, Some(&s.token), "race-1", body).await;
    r.expect(201);
    assert!(replayed(&r));
    assert_eq!(r.data()["id"], id.as_str());
}

/// R11: the host carries out the create and the snapshot but the replies are lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_is_502_a_keyed_retry_makes_nothing_twice_and_the_reconciler_catches_up() {
    // The background reconciler stays out of the way: this test runs its pass itself.
    let app = LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await;
    let s = app.verified_user("lost@example.com").await;
    let project = app.project(&s.token, "Lost").await;
    let f = pin_faulty(&app);
    let path = format!("/api/v1/projects/{project}/containers");
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "unanswered"});

    f.set(Fault::LoseReply);
    let r = keyed(&app, &path, Some(&s.token), "lost-1", body.clone()).await;
    r.expect(502);
    let id: String = sqlx::query_scalar("select container_id from container where name = 'unanswered'")
        .fetch_one(&app.db)
        .await
        .unwrap();
    app.track(&id);
    let lxd_name = format!("c-{id}");
    assert!(exists(&lxd_name), "the host made the instance before the reply was lost");
    assert_eq!(lxc_status(&lxd_name), "STOPPED");
    let got = app.get(&format!("/api/v1/containers/{id}"), Some(&s.token)).await;
    assert_eq!(got.data()["status"], "failed");

    // The client retries with its key once the host answers again: the first answer, nothing new.
    f.set(Fault::None);
    let again = keyed(&app, &path, Some(&s.token), "lost-1", body).await;
    again.expect(502);
    assert!(replayed(&again));
    assert_eq!(containers_of(&app, &project).await, 1);

    // One reconciler pass: the status is what LXD reports, logged as the reconciler's.
    hoody_api::lifecycle::reconciler::pass(&app.state).await.unwrap();
    let got = app.get(&format!("/api/v1/containers/{id}"), Some(&s.token)).await;
    assert_eq!(got.data()["status"], "stopped");
    let by: Vec<String> = sqlx::query_scalar(
        "select triggered_by from container_status_log where container_id = $1 order by transition_time",
    )
    .bind(&id)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(by.last().map(String::as_str), Some("reconciler"), "{by:?}");
    let base = format!("/api/v1/containers/{id}");
    app.call(Method::POST, &format!("{base}/start"), &s.token, None).await.expect(200);
    assert_eq!(lxc_status(&lxd_name), "RUNNING");

    // A snapshot whose reply is lost: the host's list shows it was taken, so it is a success,
    // recorded with its alias; the retry with its key does not take a second one.
    f.set(Fault::LoseReply);
    let snap = format!("{base}/snapshots");
    let first = keyed(&app, &snap, Some(&s.token), "snap-1", json!({"alias": "once"})).await;
    first.expect(201);
    assert_eq!(lxd_snapshots(&lxd_name), 1, "the host took the snapshot");
    let r = app.get(&snap, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["snapshot_count"], 1);
    assert_eq!(r.data()["snapshots"][0]["alias"], "once");
    assert_eq!(app.get(&base, Some(&s.token)).await.data()["snapshot_count"], 1);
    f.set(Fault::None);
    let r = keyed(&app, &snap, Some(&s.token), "snap-1", json!({"alias": "once"})).await;
    r.expect(201);
    assert!(replayed(&r));
    assert_eq!(r.text, first.text);
    assert_eq!(lxd_snapshots(&lxd_name), 1, "no second snapshot");
    // A snapshot the host did not take (it fails outright): 502 and no record.
    f.set(Fault::Fail);
    keyed(&app, &snap, Some(&s.token), "snap-3", json!({"alias": "never"})).await.expect(502);
    f.set(Fault::None);
    assert_eq!(lxd_snapshots(&lxd_name), 1);
    let r = app.get(&snap, Some(&s.token)).await;
    assert_eq!(r.data()["snapshot_count"], 1, "{}", r.text);
    // A new key is a new snapshot.
    keyed(&app, &snap, Some(&s.token), "snap-2", json!({"alias": "twice"})).await.expect(201);
    assert_eq!(lxd_snapshots(&lxd_name), 2);

    // A client that hangs up on a slow create: the work goes on, its answer is kept, and the
    // retry with the key gets it, with one container made.
    f.set(Fault::Slow(Duration::from_millis(700)));
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let body = json!({"server_id": app.server_id, "bypass_prespawn": true, "name": "impatient"});
    let gave_up = impatient
        .post(format!("{}{path}", app.base))
        .bearer_auth(&s.token)
        .header(KEY, "slow-1")
        .json(&body)
        .send()
        .await;
    assert!(gave_up.is_err_and(|e| e.is_timeout()), "the client gives up before the answer");
    let started = std::time::Instant::now();
    let r = loop {
        let r = keyed(&app, &path, Some(&s.token), "slow-1", body.clone()).await;
        if r.status != 409 || started.elapsed() > Duration::from_secs(20) {
            break r;
        }
        assert_eq!(r.code(), "idempotency_key_in_use", "{}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    r.expect(201);
    assert!(replayed(&r), "the kept answer of the request whose client hung up");
    assert_eq!(r.data()["status"], "running");
    assert_eq!(count(&app, "select count(*) from container where name = $1", "impatient").await, 1);
}

/// The fingerprint compares the JSON, not its bytes: the same body with its keys in another order
/// or other whitespace replays; a different value is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_json_written_differently_replays() {
    let app = crate::harness::TestApp::spawn().await;
    let s = app.verified_user("canonical@example.com").await;
    let send = |body: &'static str| {
        let req = app
            .client
            .post(format!("{}/api/v1/projects/", app.base))
            .bearer_auth(&s.token)
            .header(KEY, "canon-1")
            .header("content-type", "application/json")
            .body(body);
        async move { crate::harness::TestApp::read(req.send().await.unwrap()).await }
    };
    let first = send(r##"{"alias":"Canon","max_containers":3,"color":"#ff0000"}"##).await;
    first.expect(201);
    for again in [
        r##"{"max_containers":3,"color":"#ff0000","alias":"Canon"}"##,
        "{\n  \"color\" : \"#ff0000\",\n  \"alias\" : \"Canon\",\n  \"max_containers\" : 3\n}\n",
    ] {
        let r = send(again).await;
        r.expect(201);
        assert!(replayed(&r), "{again}: {}", r.text);
        assert_eq!(r.data()["id"], first.data()["id"]);
    }
    let other = send(r##"{"max_containers":4,"color":"#ff0000","alias":"Canon"}"##).await;
    other.expect(422);
    let n: i64 = sqlx::query_scalar("select count(*) from project where user_id = $1 and alias = 'Canon'")
        .bind(&s.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}
