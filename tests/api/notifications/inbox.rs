//! Notices published by an operator, the inbox, the public list and the read state.

use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};

use super::{cli, inbox, LIST, PUBLIC, READ_ALL};
use crate::harness::TestApp;

fn read_path(id: &str) -> String {
    format!("/api/v1/notifications/{id}/read")
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

fn ids(list: &[Value]) -> Vec<&str> {
    list.iter().map(|n| n["id"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn notices_reach_their_accounts_and_each_account_reads_on_its_own() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("inbox-a@example.com").await;
    let b = app.verified_user("inbox-b@example.com").await;

    // Bad input: refused, nothing stored.
    for bad in [
        vec!["publish", "--title", "T", "--message", "M", "--type", "GOSSIP"],
        vec!["publish", "--title", "T", "--message", "M", "--severity", "LOUD"],
        vec!["publish", "--title", " ", "--message", "M"],
        vec!["publish", "--title", "T", "--message", "M", "--expires-at", "2020-01-01T00:00:00Z"],
        vec!["publish", "--title", "T", "--message", "M", "--expires-at", "tomorrow"],
        vec!["publish", "--title", "T", "--message", "M", "--public", "--user", "inbox-a@example.com"],
        vec!["publish", "--title", "T", "--message", "M", "--user", "nobody@example.com"],
    ] {
        let (ok, _, err) = cli(&app, &bad);
        assert!(!ok, "{bad:?} was taken");
        assert!(!err.trim().is_empty(), "{bad:?} gave no reason");
    }
    assert_eq!(count(&app, "select count(*) from notification").await, 0);

    // A global maintenance notice, public too; an announcement for every account; one for A.
    let (ok, out, err) = cli(
        &app,
        &[
            "publish",
            "--title",
            "Maintenance",
            "--message",
            "Hosts restart at 02:00 UTC",
            "--type",
            "maintenance",
            "--severity",
            "warning",
            "--public",
            "--expires-at",
            "2099-01-01T00:00:00Z",
        ],
    );
    assert!(ok, "{err}");
    let maintenance = out.trim().to_owned();
    let (ok, out, err) = cli(&app, &["publish", "--title", "Welcome", "--message", "New images are in"]);
    assert!(ok, "{err}");
    let welcome = out.trim().to_owned();
    let (ok, out, err) = cli(
        &app,
        &[
            "publish",
            "--title",
            "Your server",
            "--message",
            "Moved to a new rack",
            "--type",
            "STATUS_UPDATE",
            "--user",
            "inbox-a@example.com",
            "--user",
            &a.user_id,
        ],
    );
    assert!(ok, "{err}");
    let for_a = out.trim().to_owned();
    // Stored as asked: the targeted one once for A (named twice), with its event.
    let targets: Vec<String> =
        sqlx::query_scalar("select target_user_ids from notification where notification_id = $1")
            .bind(&for_a)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(targets, vec![a.user_id.clone()]);
    let created = count(&app, "select count(*) from event where event_type = 'notification.created'").await;
    assert_eq!(created, 1);

    // A sees all three, newest first, unread; B only the two global ones.
    let la = inbox(&app, &a.token).await;
    assert_eq!(ids(&la), vec![for_a.as_str(), welcome.as_str(), maintenance.as_str()]);
    let n = &la[0];
    assert_eq!(
        (&n["title"], &n["message"], &n["type"], &n["severity"], &n["is_public"], &n["is_global"]),
        (
            &json!("Your server"),
            &json!("Moved to a new rack"),
            &json!("STATUS_UPDATE"),
            &json!("INFO"),
            &json!(false),
            &json!(false)
        )
    );
    assert_eq!(n["target_user_ids"], json!([a.user_id]));
    assert_eq!((&n["is_read"], &n["read_at"], &n["expires_at"]), (&json!(false), &Value::Null, &Value::Null));
    assert!(n["created_at"].as_str().unwrap().ends_with('Z'));
    let m = &la[2];
    assert_eq!(
        (&m["type"], &m["severity"], &m["is_public"], &m["is_global"]),
        (&json!("MAINTENANCE"), &json!("WARNING"), &json!(true), &json!(true))
    );
    assert_eq!((&m["target_user_ids"], &m["expires_at"]), (&Value::Null, &json!("2099-01-01T00:00:00.000Z")));
    let lb = inbox(&app, &b.token).await;
    assert_eq!(ids(&lb), vec![welcome.as_str(), maintenance.as_str()]);

    // Public: no sign-in, only the public one, and no read state.
    let p = app.get(PUBLIC, None).await;
    p.expect(200);
    let public = p.data().as_array().unwrap();
    assert_eq!(ids(public), vec![maintenance.as_str()]);
    assert!(public[0].get("is_read").is_none() && public[0].get("read_at").is_none(), "{}", p.text);
    // The inbox needs a sign-in.
    app.get(LIST, None).await.expect(401);

    // A reads the welcome: read for A only; again keeps the first time.
    let r = app.request(Method::PUT, &read_path(&welcome), Some(&a.token), None).await;
    r.expect(200);
    assert_eq!(
        (&r.data()["id"], &r.data()["notification_id"], &r.data()["is_read"]),
        (&json!(welcome), &json!(welcome), &json!(true))
    );
    let first = r.data()["read_at"].clone();
    assert!(first.is_string());
    let again = app.request(Method::PUT, &read_path(&welcome), Some(&a.token), None).await;
    assert_eq!(again.data()["read_at"], first);
    let la = inbox(&app, &a.token).await;
    assert_eq!((&la[1]["is_read"], &la[1]["read_at"]), (&json!(true), &first));
    assert!(inbox(&app, &b.token).await.iter().all(|n| n["is_read"] == false));
    let reads = count(&app, "select count(*) from notification_read").await;
    assert_eq!(reads, 1);
    let read_events = count(&app, "select count(*) from event where event_type = 'notification.read'").await;
    assert_eq!(read_events, 1, "one event for the read, none for the repeat");

    // Another account's notification, a malformed or unknown id: 404, nothing stored.
    for (id, token) in [(&for_a, &b.token), (&"nothex".to_owned(), &a.token), (&"0".repeat(24), &a.token)] {
        let r = app.request(Method::PUT, &read_path(id), Some(token), None).await;
        r.expect(404);
        assert_eq!(r.code(), "notification_not_found");
    }
    assert_eq!(count(&app, "select count(*) from notification_read").await, 1);

    // Read all: A's two unread; then none.
    let r = app.request(Method::PUT, READ_ALL, Some(&a.token), None).await;
    r.expect(200);
    assert_eq!(r.data()["count"], 2);
    assert_eq!(app.request(Method::PUT, READ_ALL, Some(&a.token), None).await.data()["count"], 0);
    assert!(inbox(&app, &a.token).await.iter().all(|n| n["is_read"] == true));
    // B's are still unread.
    assert!(inbox(&app, &b.token).await.iter().all(|n| n["is_read"] == false));

    // B reads the welcome from ten clients at once: one read, one time, one event.
    let path = read_path(&welcome);
    let answers = join_all((0..10).map(|_| app.request(Method::PUT, &path, Some(&b.token), None))).await;
    let times: std::collections::HashSet<String> = answers
        .iter()
        .map(|r| {
            r.expect(200);
            r.data()["read_at"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(times.len(), 1, "{times:?}");
    let b_events: i64 = sqlx::query_scalar(
        "select count(*) from event where event_type = 'notification.read' and user_id = $1 and resource_id = $2",
    )
    .bind(&b.user_id)
    .bind(&welcome)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(b_events, 1);

    // B reads all from ten clients at once: each notification read once, the counts add up.
    let answers = join_all((0..10).map(|_| app.request(Method::PUT, READ_ALL, Some(&b.token), None))).await;
    let total: i64 = answers
        .iter()
        .map(|r| {
            r.expect(200);
            r.data()["count"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(total, 1);
    let b_reads: i64 = sqlx::query_scalar("select count(*) from notification_read where user_id = $1")
        .bind(&b.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(b_reads, 2);

    // Expired: gone from the inbox, the public list, and cannot be read.
    sqlx::query("update notification set expires_at = now() - interval '1 second' where notification_id = $1")
        .bind(&maintenance)
        .execute(&app.db)
        .await
        .unwrap();
    assert!(!ids(&inbox(&app, &b.token).await).contains(&maintenance.as_str()));
    assert!(app.get(PUBLIC, None).await.data().as_array().unwrap().is_empty());
    app.request(Method::PUT, &read_path(&maintenance), Some(&a.token), None).await.expect(404);

    // The operator lists and removes what was published.
    let (ok, out, _) = cli(&app, &["list"]);
    assert!(ok);
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(listed.len(), 3);
    let (ok, _, _) = cli(&app, &["remove", &welcome]);
    assert!(ok);
    assert!(!ids(&inbox(&app, &a.token).await).contains(&welcome.as_str()));
    let reads: i64 = sqlx::query_scalar("select count(*) from notification_read where notification_id = $1")
        .bind(&welcome)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(reads, 0, "its read state went with it");
    // The targeted one: removed with an event for its account.
    let (ok, _, _) = cli(&app, &["remove", &for_a]);
    assert!(ok);
    let deleted = count(&app, "select count(*) from event where event_type = 'notification.deleted'").await;
    assert_eq!(deleted, 1);
    let (ok, _, _) = cli(&app, &["remove", &welcome]);
    assert!(!ok, "removing twice");
}

#[tokio::test]
async fn token_leaves_guard_the_inbox() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("inbox-token@example.com").await;
    let (ok, out, err) = cli(&app, &["publish", "--title", "Hello", "--message", "Hi", "--user", &s.user_id]);
    assert!(ok, "{err}");
    let id = out.trim().to_owned();
    let (without, _) =
        app.new_token(&s.token, json!({"alias": "no-account", "permissions": {"containers": {"read": true}}})).await;
    let (with, _) = app
        .new_token(&s.token, json!({"alias": "account", "permissions": {"resources": {"read_account": true}}}))
        .await;
    for (method, path) in
        [(Method::GET, LIST.to_owned()), (Method::PUT, READ_ALL.to_owned()), (Method::PUT, read_path(&id))]
    {
        let r = app.request(method.clone(), &path, Some(&without), None).await;
        r.expect(403);
        app.request(method, &path, Some(&with), None).await.expect(200);
    }
    assert_eq!(inbox(&app, &with).await[0]["is_read"], true);
}
