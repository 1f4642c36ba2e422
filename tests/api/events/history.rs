//! The REST history: what a reader sees (own events, shared projects'), filters, the offset
//! shape, `?after=`, stats, deletes (own only) and cleanup; each checked against the table.

use hoody_api::events::{self, publish, Event, EventKind, ResourceType};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;

/// Publish `n` events of `kind` for `user` (in `realms`), numbered before returning.
async fn seed(app: &TestApp, user: &str, kind: EventKind, n: usize, realms: &[String]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut tx = app.db.begin().await.unwrap();
    for i in 0..n {
        let rid = hoody_api::db::new_id();
        let e = Event::new(kind, ResourceType::Project, &rid, user, json!({"i": i})).in_realms(realms);
        publish(&mut tx, e).await.unwrap();
        ids.push(rid);
    }
    tx.commit().await.unwrap();
    events::number_pending(&app.db).await.unwrap();
    ids
}

async fn count(app: &TestApp, user: &str) -> i64 {
    sqlx::query_scalar("select count(*) from event where user_id = $1").bind(user).fetch_one(&app.db).await.unwrap()
}

fn types(r: &Value) -> Vec<String> {
    r["events"].as_array().unwrap().iter().map(|e| e["event_type"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn the_list_pages_filters_and_resumes_after_a_sequence_number() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("history@example.com").await;
    let before = count(&app, &s.user_id).await;
    seed(&app, &s.user_id, EventKind::ProjectCreated, 3, &[]).await;
    seed(&app, &s.user_id, EventKind::ProjectUpdated, 4, &[]).await;
    let total = before + 7;

    let r = app.get("/api/v1/events?limit=2&offset=1", Some(&s.token)).await;
    r.expect(200);
    let d = r.data();
    assert_eq!(d["events"].as_array().unwrap().len(), 2);
    assert_eq!(d["pagination"], json!({"total": total, "limit": 2, "offset": 1, "has_more": true}));
    let e = &d["events"][0];
    for field in ["id", "event_type", "resource_type", "resource_id", "user_id", "payload", "realm_ids", "created_at"] {
        assert!(!e[field].is_null(), "{field} in {e}");
    }

    let r = app.get("/api/v1/events?event_type=project.updated&limit=500", Some(&s.token)).await;
    assert_eq!(types(r.data()), vec!["project.updated"; 4]);
    assert_eq!(r.data()["pagination"]["has_more"], false);

    let r = app.get("/api/v1/events?sort_by=event_type&sort_order=asc&limit=500", Some(&s.token)).await;
    let t = types(r.data());
    let mut sorted = t.clone();
    sorted.sort();
    assert_eq!(t, sorted);

    // ?after=: oldest first, only what came after the cursor.
    let all = app.get("/api/v1/events?sort_order=asc&limit=500", Some(&s.token)).await;
    let third = all.data()["events"][2]["seq"].as_i64().unwrap();
    let r = app.get(&format!("/api/v1/events?after={third}&limit=500"), Some(&s.token)).await;
    let seqs: Vec<i64> = r.data()["events"].as_array().unwrap().iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len() as i64, total - 3);
    assert!(seqs.windows(2).all(|w| w[0] < w[1]) && seqs[0] > third, "{seqs:?}");
}

#[tokio::test]
async fn bad_filters_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("history-bad@example.com").await;
    for (q, field) in [
        ("limit=501", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("event_type=container.exploded", "event_type"),
        ("resource_type=planet", "resource_type"),
        ("project_id=nope", "project_id"),
        ("start_date=yesterday", "start_date"),
        ("sort_by=size", "sort_by"),
    ] {
        let r = app.get(&format!("/api/v1/events?{q}"), Some(&s.token)).await;
        assert!(r.status == 422 || r.status == 400, "{q}: {}", r.text);
        assert!(r.text.contains(field), "{q}: {}", r.text);
    }
    let r = app.get("/api/v1/events/stats?end_date=soon", Some(&s.token)).await;
    r.expect(422);
    assert!(r.text.contains("end_date"));
}

#[tokio::test]
async fn a_reader_sees_shared_projects_events_but_deletes_only_its_own() {
    let app = TestApp::spawn().await;
    let owner = app.verified_user("h-owner@example.com").await;
    let member = app.verified_user("h-member@example.com").await;
    let stranger = app.verified_user("h-stranger@example.com").await;
    let r = app.post_auth("/api/v1/projects/", &owner.token, Some(json!({"alias": "shared-h"}))).await;
    let p = r.data()["id"].as_str().unwrap().to_owned();
    app.post_auth(
        &format!("/api/v1/projects/{p}/permissions"),
        &owner.token,
        Some(json!({"user_id": member.user_id, "permission_level": "read"})),
    )
    .await
    .expect(201);
    events::number_pending(&app.db).await.unwrap();
    let id: String =
        sqlx::query_scalar("select event_id from event where resource_id = $1 and event_type = 'project.created'")
            .bind(&p)
            .fetch_one(&app.db)
            .await
            .unwrap();

    // The member sees it; the stranger does not (404 as if missing).
    app.get(&format!("/api/v1/events/{id}"), Some(&member.token)).await.expect(200);
    let r = app.get(&format!("/api/v1/events?project_id={p}"), Some(&member.token)).await;
    assert!(types(r.data()).contains(&"project.created".to_owned()), "{}", r.text);
    app.get(&format!("/api/v1/events/{id}"), Some(&stranger.token)).await.expect(404);
    let r = app.get(&format!("/api/v1/events?project_id={p}"), Some(&stranger.token)).await;
    assert_eq!(r.data()["pagination"]["total"], 0);

    // Only the owner deletes it: the member gets 403, the stranger 404; the row stays.
    let path = format!("/api/v1/events/{id}");
    app.request(Method::DELETE, &path, Some(&member.token), None).await.expect(403);
    app.request(Method::DELETE, &path, Some(&stranger.token), None).await.expect(404);
    app.request(Method::DELETE, "/api/v1/events/zzz", Some(&owner.token), None).await.expect(404);
    let left: i64 = sqlx::query_scalar("select count(*) from event where event_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 1);
    let r = app.request(Method::DELETE, &path, Some(&owner.token), None).await;
    r.expect(200);
    assert!(r.data().is_null());
    let left: i64 = sqlx::query_scalar("select count(*) from event where event_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(left, 0, "hard delete");
    app.get(&path, Some(&owner.token)).await.expect(404);
}

#[tokio::test]
async fn stats_bulk_delete_and_cleanup_count_what_the_table_holds() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("h-stats@example.com").await;
    let other = app.verified_user("h-other@example.com").await;
    seed(&app, &s.user_id, EventKind::ProjectCreated, 2, &[]).await;
    seed(&app, &s.user_id, EventKind::ProxyAliasCreated, 3, &[]).await;
    seed(&app, &other.user_id, EventKind::ProxyAliasCreated, 2, &[]).await;
    let mine = count(&app, &s.user_id).await;

    let r = app.get("/api/v1/events/stats", Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["total_events"], mine);
    assert_eq!(r.data()["by_type"]["proxy.alias.created"], 3);
    assert_eq!(r.data()["by_resource"]["project"].as_i64().unwrap(), mine, "seeded as project events");
    assert!(r.data()["oldest_event"].is_string() && r.data()["newest_event"].is_string());

    // Bulk delete needs a filter; it takes only the caller's own.
    let r = app.request(Method::DELETE, "/api/v1/events", Some(&s.token), Some(json!({}))).await;
    r.expect(422);
    assert_eq!(count(&app, &s.user_id).await, mine, "nothing deleted");
    let r = app.request(Method::DELETE, "/api/v1/events", Some(&s.token), Some(json!({"event_type": "no.such"}))).await;
    r.expect(422);
    assert!(r.text.contains("event_type"));
    let body = json!({"event_type": "proxy.alias.created"});
    let r = app.request(Method::DELETE, "/api/v1/events", Some(&s.token), Some(body)).await;
    r.expect(200);
    assert_eq!(r.data()["deleted_count"], 3);
    assert_eq!(count(&app, &s.user_id).await, mine - 3);
    let others: i64 =
        sqlx::query_scalar("select count(*) from event where user_id = $1 and event_type = 'proxy.alias.created'")
            .bind(&other.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!(others, 2, "another user's events stay");

    // Cleanup: only events older than the retention go.
    sqlx::query(
        "update event set created_at = now() - interval '40 days' \
          where id in (select id from event where user_id = $1 order by id limit 1)",
    )
    .bind(&s.user_id)
    .execute(&app.db)
    .await
    .unwrap();
    for bad in [json!({"retention_days": 0}), json!({"retention_days": 366}), json!({})] {
        let r = app.post_auth("/api/v1/events/cleanup", &s.token, Some(bad.clone())).await;
        assert!(r.status == 422 || r.status == 400, "{bad}: {}", r.text);
        assert!(r.text.contains("retention_days"), "{bad}: {}", r.text);
    }
    let r = app.post_auth("/api/v1/events/cleanup", &s.token, Some(json!({"retention_days": 30}))).await;
    r.expect(200);
    assert_eq!(r.data()["deleted_count"], 1);
    assert_eq!(r.data()["retention_days"], 30);
    assert!(r.data()["cutoff_date"].is_string());
    assert_eq!(count(&app, &s.user_id).await, mine - 4);
}

#[tokio::test]
async fn tokens_need_event_access_and_the_leaf_and_realm_tokens_see_their_realm() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("h-tokens@example.com").await;
    let realm = "aaaaaaaaaaaaaaaaaaaaaaaa".to_owned();
    seed(&app, &s.user_id, EventKind::ProjectCreated, 2, std::slice::from_ref(&realm)).await;
    seed(&app, &s.user_id, EventKind::ProjectUpdated, 1, &["bbbbbbbbbbbbbbbbbbbbbbbb".to_owned()]).await;

    let (no_flag, _) = app
        .new_token(
            &s.token,
            json!({"alias": "nf", "event_access": false, "permissions": {"resources": {"events": true}}}),
        )
        .await;
    let r = app.get("/api/v1/events", Some(&no_flag)).await;
    r.expect(403);
    assert_eq!(r.code(), "event_access_denied");
    let (no_leaf, _) =
        app.new_token(&s.token, json!({"alias": "nl", "permissions": {"containers": {"read": true}}})).await;
    app.get("/api/v1/events", Some(&no_leaf)).await.expect(403);
    app.request(Method::DELETE, "/api/v1/events", Some(&no_leaf), Some(json!({"event_type": "project.created"})))
        .await
        .expect(403);

    let (in_realm, _) = app
        .new_token(
            &s.token,
            json!({"alias": "realm", "permissions": {"resources": {"events": true}}, "realm_ids": [realm]}),
        )
        .await;
    let r = app.get(&format!("/api/v1/events?realm_id={realm}&limit=500"), Some(&in_realm)).await;
    r.expect(200);
    // Only realm `aaaa…` events: the two seeded and the token's own creation (made in it).
    let t = types(r.data());
    assert_eq!(t.iter().filter(|t| *t == "project.created").count(), 2, "{t:?}");
    assert!(!t.contains(&"project.updated".to_owned()), "{t:?}");
    for e in r.data()["events"].as_array().unwrap() {
        assert!(e["realm_ids"].as_array().unwrap().contains(&json!(realm)), "{e}");
    }
    app.get("/api/v1/events?realm_id=bbbbbbbbbbbbbbbbbbbbbbbb", Some(&in_realm)).await.expect(403);
}

#[tokio::test]
async fn every_money_movement_is_a_wallet_event_and_a_refused_one_is_none() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("h-wallet@example.com").await;
    let credited = hoody_api::ledger::credit(&app.db, &s.user_id, 5_000, "test funds").await.unwrap();
    let r = app.post_auth("/api/v1/wallet/transfers", &s.token, Some(json!({"amount": "12.34"}))).await;
    r.expect(200);
    // More than the balance: 402, and no movement, so no event.
    let r = app.post_auth("/api/v1/wallet/transfers", &s.token, Some(json!({"amount": "9999.00"}))).await;
    r.expect(402);
    events::number_pending(&app.db).await.unwrap();

    let r = app.get("/api/v1/events?event_type=wallet.transaction&sort_order=asc", Some(&s.token)).await;
    r.expect(200);
    let list = r.data()["events"].as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{}", r.text);
    assert_eq!(list[0]["resource_type"], "wallet");
    assert_eq!(list[0]["resource_id"], credited.as_str());
    assert_eq!(list[0]["payload"]["amount_cents"], 5_000);
    assert_eq!(
        (list[1]["payload"]["kind"].as_str(), list[1]["payload"]["amount_cents"].as_i64()),
        (Some("transfer"), Some(1234))
    );
    let txns: i64 = sqlx::query_scalar("select count(*) from ledger_txn where user_id = $1")
        .bind(&s.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(txns, 2, "the ledger holds the same two movements");
}

#[tokio::test]
async fn the_documented_event_types_are_the_wire_names() {
    let app = TestApp::spawn().await;
    let doc: Value = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap().json().await.unwrap();
    let kinds = doc["components"]["schemas"]["EventKind"]["enum"].as_array().expect("EventKind enum").clone();
    assert_eq!(kinds.len(), EventKind::ALL.len());
    for want in ["container.running", "project.created", "wallet.transaction", "vault.key.set", "pool.invited"] {
        assert!(kinds.contains(&json!(want)), "{want} in {kinds:?}");
    }
    assert!(!kinds.contains(&json!("ContainerRunning")));
    let resources = doc["components"]["schemas"]["ResourceType"]["enum"].as_array().expect("ResourceType enum").clone();
    assert!(resources.contains(&json!("storage_share")) && resources.contains(&json!("wallet")), "{resources:?}");
}
