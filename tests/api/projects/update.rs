//! `PUT /projects/{id}`: given fields change, the others stay, events are written; bad input
//! changes nothing.

use serde_json::{json, Value};

use super::{assert_code, assert_field, at, create, events, put, user};
use crate::harness::TestApp;

#[tokio::test]
async fn update_changes_given_fields_keeps_the_others_and_writes_events() {
    let app = TestApp::spawn().await;
    let s = user(&app, "editor").await;
    let r = create(&app, &s.token, json!({"alias": "Before", "color": "#123456", "max_containers": 5})).await;
    r.expect(201);
    let id = r.data()["id"].as_str().unwrap().to_owned();
    let created_at = r.data()["created_at"].clone();
    let path = at(&id);

    let r = put(&app, &path, &s.token, json!({"alias": " After ", "color": "0f0"})).await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "After");
    assert_eq!(r.data()["color"], "#0F0");
    assert_eq!(r.data()["max_containers"], 5, "omitted: kept");
    assert_eq!(r.data()["created_at"], created_at);
    let got = app.get(&path, Some(&s.token)).await;
    got.expect(200);
    assert_eq!(got.data(), r.data());
    let later: bool = sqlx::query_scalar("select updated_at > created_at from project where project_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(later, "updated_at moved");

    // Alias only: colour and limit kept. Then the limit to unlimited (null), then a number.
    let r = put(&app, &path, &s.token, json!({"alias": "Third"})).await;
    r.expect(200);
    assert_eq!((r.data()["color"].clone(), r.data()["max_containers"].clone()), (json!("#0F0"), json!(5)));
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "max_containers": null})).await;
    r.expect(200);
    assert!(r.data()["max_containers"].is_null());
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "max_containers": 10000, "color": "#ff00aa"})).await;
    r.expect(200);
    assert_eq!(r.data()["max_containers"], 10000);
    assert_eq!(r.data()["color"], "#FF00AA");
    // A session may set realms.
    let realm = hoody_api::db::new_id();
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "realm_ids": [realm, realm]})).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([realm]), "deduplicated");
    let r = put(&app, &path, &s.token, json!({"alias": "Third"})).await;
    assert_eq!(r.data()["realm_ids"], json!([realm]), "omitted: kept");
    let r = put(&app, &path, &s.token, json!({"alias": "Third", "realm_ids": []})).await;
    r.expect(200);
    assert_eq!(r.data()["realm_ids"], json!([]));

    // Bad input changes nothing.
    let before = app.get(&path, Some(&s.token)).await.body.clone();
    for (body, status, field) in [
        (json!({}), 400, "alias"),
        (json!({"color": "#fff"}), 400, "alias"),
        (json!({"alias": ""}), 422, "alias"),
        (json!({"alias": "y".repeat(101)}), 422, "alias"),
        (json!({"alias": "Ok", "color": "#abcd"}), 422, "color"),
        (json!({"alias": "Ok", "color": "red"}), 422, "color"),
        (json!({"alias": "Ok", "max_containers": -1}), 422, "max_containers"),
        (json!({"alias": "Ok", "max_containers": 10001}), 422, "max_containers"),
        (json!({"alias": "Ok", "max_containers": 1.5}), 400, "max_containers"),
        (json!({"alias": "Ok", "realm_ids": ["xyz"]}), 422, "realm_ids"),
        (json!({"alias": "Ok", "is_default": true}), 422, "is_default"),
    ] {
        let r = put(&app, &path, &s.token, body.clone()).await;
        assert_eq!(r.status.as_u16(), status, "{body}: {}", r.text);
        assert_field(&r, status, field);
    }
    let after = app.get(&path, Some(&s.token)).await;
    assert_eq!(after.body["data"], before["data"]);
    assert_code(
        &put(&app, &at(&hoody_api::db::new_id()), &s.token, json!({"alias": "x"})).await,
        404,
        "project_not_found",
    );

    let ev = events(&app, &id).await;
    assert_eq!(ev[0], "project.created");
    assert_eq!(ev.iter().filter(|e| *e == "project.updated").count(), 7, "{ev:?}");
    let data: Value = sqlx::query_scalar(
        "select data from event where project_id = $1 and event_type = 'project.updated' order by created_at limit 1",
    )
    .bind(&id)
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(data["alias"], "After");
}
