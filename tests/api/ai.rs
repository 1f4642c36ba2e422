//! `GET /ai/models`: the platform's catalogue, from the repository or a file, with an ETag.

use std::time::Duration;

use serde_json::json;

use crate::harness::TestApp;

const MODELS: &str = "/api/v1/ai/models";

#[tokio::test]
async fn the_catalogue_is_served_with_an_etag_and_only_its_own_fields() {
    let file = std::env::temp_dir().join(format!("ai-models-{}.json", hoody_api::db::new_id()));
    let first = json!({"updated_at": "2026-12-01T10:00:00Z", "models": [
        {"id": "hoody/small", "name": "Small", "context_length": 8192, "input_modalities": ["text"],
         "pricing": {"prompt": "0.10", "completion": "0.40", "upstream_cost": "0.01"},
         "provider": "UpstreamCo", "upstream_model": "upstream-7b", "upstream_pricing": {"prompt": "0.01"}}
    ]});
    std::fs::write(&file, first.to_string()).unwrap();
    let path = file.clone();
    let app = TestApp::spawn_with(move |c| c.ai_models_file = Some(path)).await;
    let s = app.verified_user("models@example.com").await;

    app.get(MODELS, None).await.expect(401);
    let r = app.get(MODELS, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["updated_at"], "2026-12-01T10:00:00.000Z");
    let m = &r.data()["models"][0];
    assert_eq!(
        m,
        &json!({"id": "hoody/small", "name": "Small", "description": null, "created": null, "context_length": 8192,
                "input_modalities": ["text"], "pricing": {"prompt": "0.10", "completion": "0.40"}})
    );
    assert!(!r.text.contains("Upstream") && !r.text.contains("upstream"), "{}", r.text);
    let etag = r.headers["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");

    // Asked again with the tag: 304, no body.
    let nm = app.request_with(reqwest::Method::GET, MODELS, Some(&s.token), &[("if-none-match", &etag)], None).await;
    assert_eq!(nm.status.as_u16(), 304);
    assert!(nm.text.is_empty());
    assert_eq!(nm.headers["etag"].to_str().unwrap(), etag);
    // Another tag: the catalogue.
    let other =
        app.request_with(reqwest::Method::GET, MODELS, Some(&s.token), &[("if-none-match", "\"x\"")], None).await;
    other.expect(200);

    // The file changes: the new catalogue and a new tag.
    std::thread::sleep(Duration::from_millis(20));
    let second = json!({"updated_at": null, "models": [
        {"id": "hoody/small", "name": "Small", "pricing": {"prompt": "0.12"}},
        {"id": "hoody/large", "name": "Large", "output_modalities": ["text"], "pricing": {"prompt": 1.5}}
    ]});
    std::fs::write(&file, second.to_string()).unwrap();
    let r = app.get(MODELS, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["models"].as_array().unwrap().len(), 2);
    assert_eq!(r.data()["updated_at"], serde_json::Value::Null);
    let etag2 = r.headers["etag"].to_str().unwrap().to_owned();
    assert_ne!(etag2, etag);

    // A broken file keeps the last good catalogue in service.
    std::fs::write(&file, "{\"models\": [ broken").unwrap();
    let r = app.get(MODELS, Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.headers["etag"].to_str().unwrap(), etag2);
    let _ = std::fs::remove_file(&file);
}

#[tokio::test]
async fn without_a_file_the_repository_catalogue_is_served_and_a_missing_file_is_503() {
    let app = TestApp::spawn().await;
    let s = app.verified_user("models-default@example.com").await;
    let r = app.get(MODELS, Some(&s.token)).await;
    r.expect(200);
    let models = r.data()["models"].as_array().unwrap();
    assert!(!models.is_empty());
    assert!(models.iter().all(|m| m["id"].is_string() && m["name"].is_string() && m["pricing"].is_object()));
    // A token of any permissions reads it.
    let (token, _) = app.new_token(&s.token, json!({})).await;
    app.get(MODELS, Some(&token)).await.expect(200);

    let missing = std::env::temp_dir().join(format!("no-such-models-{}.json", hoody_api::db::new_id()));
    let app = TestApp::spawn_with(move |c| c.ai_models_file = Some(missing)).await;
    let s = app.verified_user("models-missing@example.com").await;
    let r = app.get(MODELS, Some(&s.token)).await;
    r.expect(503);
}
