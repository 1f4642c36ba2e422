//! The public waitlist: `POST /waitlist` (one confirmation mail per address, repeats update the
//! record) and `PATCH /waitlist` (enrich; 404 for an address that never joined; `""` changes
//! nothing).

use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::TestApp;

const WAITLIST: &str = "/api/v1/waitlist";

async fn row(app: &TestApp, email: &str) -> Option<(Option<String>, Option<String>, Option<String>, Option<String>)> {
    sqlx::query_as("select interest, context, industry, role from waitlist where email = $1")
        .bind(email)
        .fetch_optional(&app.db)
        .await
        .unwrap()
}

async fn patch(app: &TestApp, body: Value) -> crate::harness::Resp {
    app.request(Method::PATCH, WAITLIST, None, Some(body)).await
}

#[tokio::test]
async fn joining_twice_sends_one_mail_and_enriching_keeps_what_is_not_sent() {
    let app = TestApp::spawn().await;
    let r = app.post(WAITLIST, json!({"email": " Wait@Example.com "})).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"email": "wait@example.com"}));
    app.wait_mails(1).await;
    let r = app.post(WAITLIST, json!({"email": "wait@example.com"})).await;
    r.expect(200);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(app.mails_to("wait@example.com").len(), 1, "a repeat sends nothing");
    let rows: i64 = sqlx::query_scalar("select count(*) from waitlist").fetch_one(&app.db).await.unwrap();
    assert_eq!(rows, 1);

    let r = patch(&app, json!({"email": "WAIT@example.com", "interest": "ai", "context": "startup"})).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"email": "wait@example.com"}));
    let r =
        patch(&app, json!({"email": "wait@example.com", "interest": "", "industry": "ai-ml", "role": "founder"})).await;
    r.expect(200);
    assert_eq!(
        row(&app, "wait@example.com").await,
        Some((Some("ai".into()), Some("startup".into()), Some("ai-ml".into()), Some("founder".into()))),
        "an empty string changes nothing"
    );
}

#[tokio::test]
async fn bad_input_names_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    for body in [json!({"email": "not-an-address"}), json!({"email": ""})] {
        let r = app.post(WAITLIST, body).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], "email");
    }
    let r = app.post(WAITLIST, json!({})).await;
    r.expect(400);
    assert_eq!(r.body["details"]["fields"][0]["path"], "email");
    app.post(WAITLIST, json!({"email": "a@example.com", "extra": 1})).await.expect(422);
    let rows: i64 = sqlx::query_scalar("select count(*) from waitlist").fetch_one(&app.db).await.unwrap();
    assert_eq!(rows, 0);

    let r = patch(&app, json!({"email": "never@example.com", "interest": "dev"})).await;
    r.expect(404);
    assert_eq!(r.code(), "waitlist_entry_not_found");
    app.post(WAITLIST, json!({"email": "known@example.com"})).await.expect(200);
    for (body, field) in [
        (json!({"email": "known@example.com", "interest": "gardening"}), "interest"),
        (json!({"email": "known@example.com", "role": "king"}), "role"),
        (json!({"email": "known@example.com", "industry": "plumbing"}), "industry"),
    ] {
        let r = patch(&app, body).await;
        r.expect(400);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
    }
    assert_eq!(row(&app, "known@example.com").await, Some((None, None, None, None)));
}

#[tokio::test]
async fn the_waitlist_is_public_and_limited_per_address() {
    let app = TestApp::spawn_with(|c| c.limits.waitlist_per_ip = 3).await;
    // No credentials needed.
    for i in 0..3 {
        app.post(WAITLIST, json!({"email": format!("p{i}@example.com")})).await.expect(200);
    }
    let r = app.post(WAITLIST, json!({"email": "p9@example.com"})).await;
    r.expect(429);
    assert!(r.headers.get("retry-after").is_some());
    patch(&app, json!({"email": "p0@example.com", "role": "student"})).await.expect(429);
    assert!(row(&app, "p9@example.com").await.is_none());
}
