//! The live stream with the platform's own client library: Node's socket.io-client (npm, pinned
//! in tests/socketio), connecting as CONVENTIONS 11 says (path `/api/v1/events`, `auth: {token}`).
//! Every wait has a 10 s deadline; how fast events arrive is a benchmark figure, not a test.

use std::{process::Stdio, time::Duration};

use reqwest::Method;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

use crate::{
    fixtures::LxdApp,
    harness::{Served, TestApp},
};

const DEADLINE: Duration = Duration::from_secs(10);

/// One socket.io-client connection, run by tests/socketio/watch.mjs.
pub struct Watcher {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Watcher {
    pub async fn open(base: &str, token: &str, last_event_id: Option<&str>) -> Self {
        Self::open_in(base, token, last_event_id, None).await
    }

    /// As [`Watcher::open`], the handshake scoped to `realm` (`?realm_id=`).
    pub async fn open_in(base: &str, token: &str, last_event_id: Option<&str>, realm: Option<&str>) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/socketio/watch.mjs");
        let mut child = Command::new("node")
            .arg(script)
            .arg(base)
            .arg(token)
            .arg(last_event_id.unwrap_or(""))
            .arg(realm.unwrap_or(""))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/socketio/watch.mjs (scripts/deps installs socket.io-client)");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self { child, lines }
    }

    /// Connected, or panics with what happened instead.
    pub async fn connect(base: &str, token: &str, last_event_id: Option<&str>) -> Self {
        let mut w = Self::open(base, token, last_event_id).await;
        let first = w.next().await;
        assert_eq!(first["kind"], "connect", "{first}");
        w
    }

    /// The next line, within the deadline.
    pub async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(DEADLINE, self.lines.next_line())
            .await
            .expect("the client printed nothing within 10 s")
            .expect("read")
            .expect("the client ended");
        serde_json::from_str(&line).expect("a JSON line")
    }

    /// The next event message's payload.
    pub async fn event(&mut self) -> Value {
        loop {
            let v = self.next().await;
            if v["kind"] == "message" && v["payload"]["type"] == "event" {
                return v["payload"].clone();
            }
            assert_ne!(v["kind"], "disconnect", "{v}");
        }
    }

    /// The event types of the next `n` events.
    pub async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(self.event().await);
        }
        out
    }

    pub async fn close(mut self) {
        drop(self.child.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await;
    }
}

fn kinds(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["event"].as_str().unwrap_or("?")).collect()
}

async fn project(app: &TestApp, token: &str, alias: &str) -> String {
    let r = app.post_auth("/api/v1/projects/", token, Some(json!({"alias": alias}))).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

async fn rename(app: &TestApp, token: &str, project: &str, alias: &str) {
    let path = format!("/api/v1/projects/{project}");
    app.request(Method::PUT, &path, Some(token), Some(json!({"alias": alias}))).await.expect(200);
}

#[tokio::test]
async fn a_session_receives_its_own_events_in_order_and_nobody_elses() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("stream-a@example.com").await;
    let b = app.verified_user("stream-b@example.com").await;
    let mut wa = Watcher::connect(&app.base, &a.token, None).await;
    let mut wb = Watcher::connect(&app.base, &b.token, None).await;

    let p = project(&app, &a.token, "streamed").await;
    rename(&app, &a.token, &p, "streamed-2").await;
    let got = wa.events(2).await;
    assert_eq!(kinds(&got), ["project.created", "project.updated"]);
    assert_eq!(got[0]["data"]["resource_id"], p.as_str());
    assert!(got[0]["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{}", got[0]);
    // eventId is the history's id: the same event, read back over REST.
    let id = got[1]["eventId"].as_str().unwrap();
    let r = app.get(&format!("/api/v1/events/{id}"), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["event_type"], "project.updated");
    assert!(got[0]["seq"].as_i64() < got[1]["seq"].as_i64());

    // B's first event is its own: none of A's came before it.
    let own = project(&app, &b.token, "b-own").await;
    let first = wb.event().await;
    assert_eq!(first["event"], "project.created");
    assert_eq!(first["data"]["resource_id"], own.as_str());
    wa.close().await;
    wb.close().await;
}

#[tokio::test]
async fn the_handshake_needs_a_token_with_event_access_and_the_events_leaf() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("stream-auth@example.com").await;
    let cases = [
        ("no token", String::new(), "missing_token"),
        ("a bad token", "not-a-token".to_owned(), "invalid_token"),
        (
            "no event_access",
            app.new_token(
                &s.token,
                json!({"alias": "no-flag", "event_access": false, "permissions": {"resources": {"events": true}}}),
            )
            .await
            .0,
            "event_access",
        ),
        (
            "no resources.events",
            app.new_token(&s.token, json!({"alias": "no-leaf", "permissions": {"containers": {"read": true}}})).await.0,
            "resources.events",
        ),
    ];
    for (what, token, says) in cases {
        let mut w = Watcher::open(&app.base, &token, None).await;
        let v = w.next().await;
        assert_eq!(v["kind"], "connect_error", "{what}: {v}");
        assert!(v["message"].as_str().unwrap().contains(says), "{what}: {v}");
        w.close().await;
    }
    // A token with both connects and hears its owner's events.
    let (ok, _) =
        app.new_token(&s.token, json!({"alias": "events", "permissions": {"resources": {"events": true}}})).await;
    let mut w = Watcher::connect(&app.base, &ok, None).await;
    project(&app, &s.token, "heard").await;
    assert_eq!(w.event().await["event"], "project.created");
    w.close().await;
}

#[tokio::test]
async fn a_shared_project_flows_to_its_member_until_the_share_is_revoked() {
    let app = TestApp::spawn().await;
    let owner = app.verified_user("share-owner@example.com").await;
    let member = app.verified_user("share-member@example.com").await;
    let p = project(&app, &owner.token, "shared").await;
    let grant = app
        .post_auth(
            &format!("/api/v1/projects/{p}/permissions"),
            &owner.token,
            Some(json!({"user_id": member.user_id, "permission_level": "read"})),
        )
        .await;
    grant.expect(201);
    let grant_id = grant.data()["id"].as_str().unwrap().to_owned();
    let mut w = Watcher::connect(&app.base, &member.token, None).await;

    rename(&app, &owner.token, &p, "shared-2").await;
    let seen = w.event().await;
    assert_eq!((seen["event"].as_str(), seen["data"]["resource_id"].as_str()), (Some("project.updated"), Some(&*p)));

    let path = format!("/api/v1/projects/{p}/permissions/{grant_id}");
    app.request(Method::DELETE, &path, Some(&owner.token), None).await.expect(200);
    // The member hears of the revoke, then nothing more of the project: its own next event is
    // the next thing it gets.
    assert_eq!(w.event().await["event"], "project.permission.revoked");
    rename(&app, &owner.token, &p, "shared-3").await;
    let own = project(&app, &member.token, "mine").await;
    let next = w.event().await;
    assert_eq!((next["event"].as_str(), next["data"]["resource_id"].as_str()), (Some("project.created"), Some(&*own)));
    w.close().await;
}

#[tokio::test]
async fn reconnecting_with_the_last_event_id_gets_the_missed_events_exactly_once() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("resume@example.com").await;
    let p = project(&app, &s.token, "resume-0").await;
    let mut w = Watcher::connect(&app.base, &s.token, None).await;
    rename(&app, &s.token, &p, "resume-1").await;
    let last = w.event().await["eventId"].as_str().unwrap().to_owned();
    w.close().await;

    // Away: two changes.
    rename(&app, &s.token, &p, "resume-2").await;
    rename(&app, &s.token, &p, "resume-3").await;
    // Both numbered before the reconnect (the numberer runs at every commit).
    let want: Vec<String> = sqlx::query_scalar(
        "select event_id from event where resource_id = $1 and event_type = 'project.updated' order by id",
    )
    .bind(&p)
    .fetch_all(&app.db)
    .await
    .unwrap();
    assert_eq!(want.len(), 3);
    for _ in 0..100 {
        let unnumbered: i64 =
            sqlx::query_scalar("select count(*) from event where seq is null").fetch_one(&app.db).await.unwrap();
        if unnumbered == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut w = Watcher::connect(&app.base, &s.token, Some(&last)).await;
    let missed = w.events(2).await;
    let ids: Vec<&str> = missed.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    assert_eq!(ids, [want[1].as_str(), want[2].as_str()]);
    // Then live, with nothing given twice.
    rename(&app, &s.token, &p, "resume-4").await;
    let live = w.event().await;
    assert_eq!(live["event"], "project.updated");
    assert!(!ids.contains(&live["eventId"].as_str().unwrap()), "{live}");
    assert!(live["seq"].as_i64() > missed[1]["seq"].as_i64());
    w.close().await;
}

#[tokio::test]
async fn an_event_made_through_one_server_process_reaches_a_socket_held_by_another() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("replicas@example.com").await;
    // An auth token works on every process (JWT keys are per data directory).
    let (token, _) =
        app.new_token(&s.token, json!({"alias": "stream", "permissions": {"resources": {"events": true}}})).await;
    let other = Served::start(&app.database_url(), "warn", &[], "/readyz").await;
    let mut w = Watcher::connect(&other.base, &token, None).await;
    let p = project(&app, &s.token, "across").await;
    let got = w.event().await;
    assert_eq!((got["event"].as_str(), got["data"]["resource_id"].as_str()), (Some("project.created"), Some(&*p)));
    w.close().await;
    other.kill();
}

#[tokio::test]
async fn rest_and_socket_io_share_the_path() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("same-path@example.com").await;
    let w = Watcher::connect(&app.base, &s.token, None).await;
    // The REST list on the very path the socket uses.
    let r = app.get("/api/v1/events?limit=5", Some(&s.token)).await;
    r.expect(200);
    assert!(r.data()["events"].is_array() && r.data()["pagination"]["limit"] == 5, "{}", r.text);
    // An Engine.IO handshake on it is socket.io's: the open packet.
    let raw = app.client.get(format!("{}/api/v1/events/?EIO=4&transport=polling", app.base)).send().await.unwrap();
    assert_eq!(raw.status(), 200);
    let text = raw.text().await.unwrap();
    assert!(text.starts_with("0{") && text.contains("\"sid\""), "{text}");
    w.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_created_and_stopped_is_heard_creating_running_stopped_in_order() {
    let app = LxdApp::spawn().await;
    let s = app.verified_user("stream-lxd@example.com").await;
    let p = app.project(&s.token, "lxd-stream").await;
    let mut w = Watcher::connect(&app.base, &s.token, None).await;
    let id = app.running(&s.token, &p, json!({})).await;
    app.call(Method::POST, &format!("/api/v1/containers/{id}/stop"), &s.token, None).await.expect(200);
    let mut seen = Vec::new();
    while !seen.contains(&"container.stopped".to_owned()) {
        let e = w.event().await;
        if e["data"]["container_id"] == id.as_str() && e["event"].as_str().unwrap().starts_with("container.") {
            seen.push(e["event"].as_str().unwrap().to_owned());
        }
    }
    let order: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|k| ["container.creating", "container.running", "container.stopped"].contains(k))
        .collect();
    assert_eq!(order, ["container.creating", "container.running", "container.stopped"], "all: {seen:?}");
    w.close().await;
}

#[tokio::test]
async fn a_resume_of_hundreds_of_missed_events_gives_each_once_in_order() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("resume-many@example.com").await;
    let p = project(&app, &s.token, "many-0").await;
    let mut w = Watcher::connect(&app.base, &s.token, None).await;
    rename(&app, &s.token, &p, "many-1").await;
    let last = w.event().await["eventId"].as_str().unwrap().to_owned();
    w.close().await;
    // 600 events while away (more than a socket's buffer and than one read of the table).
    let mut tx = app.db.begin().await.unwrap();
    let many: Vec<hoody_api::events::Event> = (0..600)
        .map(|i| {
            hoody_api::events::Event::new(
                hoody_api::events::EventKind::ProjectUpdated,
                hoody_api::events::ResourceType::Project,
                &p,
                &s.user_id,
                json!({"i": i}),
            )
        })
        .collect();
    hoody_api::events::publish_all(&mut tx, &many).await.unwrap();
    tx.commit().await.unwrap();
    hoody_api::events::number_pending(&app.db).await.unwrap();

    let mut w = Watcher::connect(&app.base, &s.token, Some(&last)).await;
    let got = w.events(600).await;
    let order: Vec<i64> = got.iter().map(|e| e["data"]["i"].as_i64().unwrap()).collect();
    assert_eq!(order, (0..600).collect::<Vec<i64>>());
    rename(&app, &s.token, &p, "many-2").await;
    let live = w.event().await;
    assert!(live["data"]["i"].is_null(), "the next is the live rename, nothing again: {live}");
    w.close().await;
}

#[tokio::test]
async fn a_disabled_token_loses_its_socket() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("stream-revoke@example.com").await;
    let (token, id) =
        app.new_token(&s.token, json!({"alias": "watch", "permissions": {"resources": {"events": true}}})).await;
    let mut w = Watcher::connect(&app.base, &token, None).await;
    let path = format!("/api/v1/auth/tokens/{id}");
    app.request(Method::PUT, &path, Some(&s.token), Some(json!({"is_enabled": false}))).await.expect(200);
    // Checked again within 5 s: the socket is closed by the server.
    let mut closed = None;
    for _ in 0..3 {
        let v = w.next().await;
        if v["kind"] == "disconnect" {
            closed = Some(v);
            break;
        }
    }
    let closed = closed.expect("the socket was closed");
    assert_eq!(closed["reason"], "io server disconnect", "{closed}");
    w.close().await;
}

#[tokio::test]
async fn a_realm_scoped_socket_gets_only_its_realms_events() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("stream-realm@example.com").await;
    let realm = "cccccccccccccccccccccccc";
    let mut w = Watcher::open_in(&app.base, &s.token, None, Some(realm)).await;
    assert_eq!(w.next().await["kind"], "connect");
    let mut tx = app.db.begin().await.unwrap();
    for (i, realms) in [vec!["dddddddddddddddddddddddd".to_owned()], vec![], vec![realm.to_owned()]].iter().enumerate()
    {
        let e = hoody_api::events::Event::new(
            hoody_api::events::EventKind::ProjectUpdated,
            hoody_api::events::ResourceType::Project,
            &hoody_api::db::new_id(),
            &s.user_id,
            json!({"i": i}),
        )
        .in_realms(realms);
        hoody_api::events::publish(&mut tx, e).await.unwrap();
    }
    tx.commit().await.unwrap();
    // Only the third (in the realm) arrives: it is the first event the socket gets.
    assert_eq!(w.event().await["data"]["i"], 2);
    w.close().await;
}

#[tokio::test]
async fn a_share_revoked_while_no_socket_was_open_stays_revoked() {
    let app = TestApp::spawn().await;
    let owner = app.verified_user("gap-owner@example.com").await;
    let member = app.verified_user("gap-member@example.com").await;
    let p = project(&app, &owner.token, "gap").await;
    let body = json!({"user_id": member.user_id, "permission_level": "read"});
    let grant = app.post_auth(&format!("/api/v1/projects/{p}/permissions"), &owner.token, Some(body)).await;
    grant.expect(201);
    let grant_id = grant.data()["id"].as_str().unwrap().to_owned();
    // The member hears the project (the process learns who it is shared with), then leaves.
    let mut w = Watcher::connect(&app.base, &member.token, None).await;
    rename(&app, &owner.token, &p, "gap-1").await;
    assert_eq!(w.event().await["event"], "project.updated");
    w.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Revoked while no socket is open on this process (its events pass unread).
    let path = format!("/api/v1/projects/{p}/permissions/{grant_id}");
    app.request(Method::DELETE, &path, Some(&owner.token), None).await.expect(200);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut w = Watcher::connect(&app.base, &member.token, None).await;
    rename(&app, &owner.token, &p, "gap-2").await;
    let own = project(&app, &member.token, "gap-mine").await;
    let next = w.event().await;
    assert_eq!((next["event"].as_str(), next["data"]["resource_id"].as_str()), (Some("project.created"), Some(&*own)));
    w.close().await;
}
