//! `POST /projects/`: what is stored (alias trimmed, colour normalised, an event), bad input
//! stores nothing, the alias is unique per owner.

use reqwest::Method;
use serde_json::json;

use super::{assert_code, assert_field, at, count, create, events, project, put, user, PROJECTS};
use crate::harness::TestApp;

fn is_hex_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

#[tokio::test]
async fn create_stores_the_project_normalises_the_colour_and_writes_an_event() {
    let app = TestApp::spawn().await;
    let s = user(&app, "maker").await;
    let r = create(&app, &s.token, json!({"alias": "  Web shop  ", "color": "abc", "max_containers": 5})).await;
    r.expect(201);
    let d = r.data();
    let id = d["id"].as_str().unwrap().to_owned();
    assert!(hoody_api::db::is_id(&id), "{id}");
    assert_eq!(d["alias"], "Web shop", "the alias is trimmed");
    assert_eq!(d["color"], "#ABC");
    assert_eq!(d["max_containers"], 5);
    assert_eq!(d["user_id"], s.user_id.as_str());
    assert_eq!(d["is_default"], false);
    assert_eq!(d["realm_ids"], json!([]));
    assert!(d.get("permissions").is_none());
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));

    // Read back over HTTP and in the database.
    let got = app.get(&at(&id), Some(&s.token)).await;
    got.expect(200);
    assert_eq!(got.data(), d);
    let (alias, color, max): (String, String, Option<i32>) =
        sqlx::query_as("select alias, color, max_containers from project where project_id = $1")
            .bind(&id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert_eq!((alias.as_str(), color.as_str(), max), ("Web shop", "#ABC", Some(5)));
    assert_eq!(events(&app, &id).await, ["project.created"]);

    // #RRGGBB is uppercased; no colour gives a random one; no max_containers is unlimited.
    let r = create(&app, &s.token, json!({"alias": "Pink", "color": "#ff00aa"})).await;
    r.expect(201);
    assert_eq!(r.data()["color"], "#FF00AA");
    let r = create(&app, &s.token, json!({"alias": "Random", "max_containers": null})).await;
    r.expect(201);
    assert!(is_hex_colour(r.data()["color"].as_str().unwrap()), "{}", r.text);
    assert!(r.data()["max_containers"].is_null());
    // Boundaries that are allowed: a 100-character alias, 0 and 10000 containers.
    let long = "é".repeat(100);
    let r = create(&app, &s.token, json!({"alias": long, "max_containers": 0})).await;
    r.expect(201);
    assert_eq!(r.data()["alias"], long.as_str());
    assert_eq!(r.data()["max_containers"], 0);
    create(&app, &s.token, json!({"alias": "Big", "max_containers": 10000})).await.expect(201);
    assert_eq!(count(&app, "select count(*) from project").await, 5);
    // Without credentials: 401.
    app.post(PROJECTS, json!({"alias": "Anon"})).await.expect(401);
}

#[tokio::test]
async fn create_rejects_bad_input_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let s = user(&app, "sloppy").await;
    let cases = [
        (json!({"alias": ""}), 422, "alias"),
        (json!({"alias": "   "}), 422, "alias"),
        (json!({"alias": "x".repeat(101)}), 422, "alias"),
        (json!({"alias": "line\nbreak"}), 422, "alias"),
        (json!({"alias": "C", "color": "#12"}), 422, "color"),
        (json!({"alias": "C", "color": "#1234"}), 422, "color"),
        (json!({"alias": "C", "color": "ggg"}), 422, "color"),
        (json!({"alias": "C", "color": ""}), 422, "color"),
        (json!({"alias": "C", "max_containers": -1}), 422, "max_containers"),
        (json!({"alias": "C", "max_containers": 10001}), 422, "max_containers"),
        (json!({"alias": "C", "realm_ids": ["nothex"]}), 422, "realm_ids"),
        (json!({"alias": "C", "realm_ids": ["ABCDEF0123456789ABCDEF01"]}), 422, "realm_ids"),
        (json!({"alias": "C", "surprise": 1}), 422, "surprise"),
        (json!({}), 400, "alias"),
        (json!({"alias": 5}), 400, "alias"),
        (json!({"alias": "C", "max_containers": 3_000_000_000_i64}), 400, "max_containers"),
        (json!({"alias": "C", "max_containers": "5"}), 400, "max_containers"),
        (json!({"alias": "C", "realm_ids": "x"}), 400, "realm_ids"),
    ];
    for (body, status, field) in cases {
        let r = create(&app, &s.token, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_field(&r, status, field);
    }
    // The unknown field is refused as such (deny_unknown_fields).
    let r = create(&app, &s.token, json!({"alias": "C", "surprise": 1})).await;
    assert_code(&r, 422, "validation_failed");
    assert!(r.body["message"].as_str().unwrap().contains("surprise"), "{}", r.text);
    // Not JSON at all.
    let r =
        app.request_with(Method::POST, PROJECTS, Some(&s.token), &[("content-type", "application/json")], None).await;
    r.expect(400);
    assert_eq!(count(&app, "select count(*) from project").await, 0, "nothing was stored");
    assert_eq!(count(&app, "select count(*) from event").await, 0, "no event either");
}

#[tokio::test]
async fn an_alias_is_unique_per_owner_only() {
    let app = TestApp::spawn().await;
    let a = user(&app, "alice").await;
    let b = user(&app, "bob").await;
    let first = project(&app, &a.token, "Web").await;
    let r = create(&app, &a.token, json!({"alias": "Web"})).await;
    assert_code(&r, 409, "project_alias_taken");
    // Trimming happens before the check.
    assert_code(&create(&app, &a.token, json!({"alias": " Web "})).await, 409, "project_alias_taken");
    // Another user may use the same alias.
    let r = create(&app, &b.token, json!({"alias": "Web"})).await;
    r.expect(201);
    assert_eq!(r.data()["user_id"], b.user_id.as_str());
    // Renaming onto a taken alias is a conflict too; renaming to the own alias is fine.
    let second = project(&app, &a.token, "Api").await;
    let r = put(&app, &at(&second), &a.token, json!({"alias": "Web"})).await;
    assert_code(&r, 409, "project_alias_taken");
    put(&app, &at(&first), &a.token, json!({"alias": "Web"})).await.expect(200);
    let stored: Vec<String> = sqlx::query_scalar("select alias from project where user_id = $1 order by alias")
        .bind(&a.user_id)
        .fetch_all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored, ["Api", "Web"]);
}
