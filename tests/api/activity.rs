//! The activity log: every authenticated request, written behind it, with its filters.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{Resp, TestApp};

const LOGS: &str = "/api/v1/users/auth/activity";

/// Poll until the log holds at least `n` records for this query.
async fn wait_for(app: &TestApp, token: &str, query: &str, n: u64) -> Resp {
    for _ in 0..50 {
        let r = app.get(&format!("{LOGS}{query}"), Some(token)).await;
        r.expect(200);
        if r.body["metadata"]["total"].as_u64().unwrap_or(0) >= n {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("fewer than {n} activity records for {query}");
}

#[tokio::test]
async fn authenticated_requests_are_logged_with_their_details() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("act@example.com").await;
    let realm = hoody_api::db::new_id();
    let (token, token_id) = app.new_token(&s.token, json!({"permission_template": "read_only"})).await;
    app.request_with(reqwest::Method::GET, "/api/v1/users/auth/me", Some(&token), &[("user-agent", "probe/1.0")], None)
        .await
        .expect(200);
    app.get(&format!("/api/v1/users/auth/me?realm_id={realm}"), Some(&s.token)).await.expect(200);
    app.get(&format!("/api/v1/users/{}", hoody_api::db::new_id()), Some(&s.token)).await.expect(404);
    // Unauthenticated requests are not anyone's activity.
    app.get("/api/v1/users/auth/me", None).await.expect(401);

    let r = wait_for(&app, &s.token, "?errors_only=true", 1).await;
    let rows = r.data().as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["status_code"], 404);
    assert_eq!(rows[0]["route"], "/api/v1/users/{id}");

    let r = wait_for(&app, &s.token, &format!("?realm_id={realm}"), 1).await;
    assert_eq!(r.data()[0]["realm_id"], realm.as_str());

    let r = wait_for(&app, &s.token, "?method=GET&max_status=299", 2).await;
    let by_token: Vec<&Value> =
        r.data().as_array().unwrap().iter().filter(|x| x["token_id"] == token_id.as_str()).collect();
    assert_eq!(by_token.len(), 1);
    assert_eq!(by_token[0]["user_agent"], "probe/1.0");
    assert_eq!(by_token[0]["ip_address"], "127.0.0.1");
    assert_eq!(by_token[0]["path"], "/api/v1/users/auth/me");
    assert!(by_token[0]["created_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.get(&format!("{LOGS}?method=DELETE"), Some(&s.token)).await.body["metadata"]["total"], 0);

    // Pagination: newest first, `pages` counts them.
    let all = wait_for(&app, &s.token, "?limit=1&page=2", 3).await;
    let m = &all.body["metadata"];
    assert_eq!((m["page"].clone(), m["limit"].clone()), (json!(2), json!(1)));
    assert_eq!(m["pages"], m["total"]);
    assert_eq!(all.data().as_array().unwrap().len(), 1);

    let future = app.get(&format!("{LOGS}?start_date=2999-01-01"), Some(&s.token)).await;
    assert_eq!(future.body["metadata"]["total"], 0);
    let past = app.get(&format!("{LOGS}?end_date=2000-01-01T00:00:00Z"), Some(&s.token)).await;
    assert_eq!(past.body["metadata"]["total"], 0);

    // Another user sees none of it.
    let other = app.verified_user("act2@example.com").await;
    let r = app.get(LOGS, Some(&other.token)).await;
    assert!(r.data().as_array().unwrap().iter().all(|x| x["user_id"] == other.user_id.as_str()));

    let stats = app.get(&format!("{LOGS}/stats"), Some(&s.token)).await;
    stats.expect(200);
    assert!(stats.data()["total_records"].as_i64().unwrap() >= 3);
    assert!(stats.data()["total_size_bytes"].as_i64().unwrap() > 0);
    assert!(stats.data()["oldest_record"].is_string());
    assert_eq!(stats.data()["retention_days"], 90);
}

#[tokio::test]
async fn bad_filters_are_4xx() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("actbad@example.com").await;
    for q in ["?limit=101", "?limit=0", "?page=0", "?min_status=99", "?max_status=600", "?start_date=yesterday"] {
        app.get(&format!("{LOGS}{q}"), Some(&s.token)).await.expect(422);
    }
    for q in ["?method=TRACE", "?limit=ten", "?errors_only=maybe", "?realm_id=XYZ"] {
        app.get(&format!("{LOGS}{q}"), Some(&s.token)).await.expect(400);
    }
    app.get(LOGS, None).await.expect(401);
    app.get(&format!("{LOGS}/stats"), None).await.expect(401);
}

/// Records are named by 24-hex random ids (like every public id), not a global counter that tells
/// how many requests the whole platform served.
#[tokio::test]
async fn activity_ids_are_random_24_hex_ids() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("actid@example.com").await;
    for _ in 0..3 {
        app.get("/api/v1/users/auth/me", Some(&s.token)).await.expect(200);
    }
    let r = wait_for(&app, &s.token, "", 3).await;
    let ids: Vec<&str> = r.data().as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert!(ids.iter().all(|id| hoody_api::db::is_id(id)), "{ids:?}");
    let unique: std::collections::HashSet<&&str> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
}
