use serde_json::Value;

use crate::harness::TestApp;

/// The committed document must be what the code generates: regenerate with
/// `cargo run -- openapi > openapi/openapi.json`.
#[test]
fn committed_openapi_document_is_current() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
        .expect("openapi/openapi.json is committed");
    let generated = hoody_api::openapi::document_json();
    assert!(committed == generated, "openapi/openapi.json is stale: run `cargo run -- openapi > openapi/openapi.json`");
}

#[test]
fn every_operation_is_documented_with_the_error_envelope() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    let mut ids = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            count += 1;
            let where_ = format!("{method} {path}");
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{where_}: no summary");
            assert!(op["tags"].as_array().is_some_and(|t| !t.is_empty()), "{where_}: no tag");
            assert!(ids.insert(op["operationId"].as_str().unwrap().to_owned()), "{where_}: duplicate operationId");
            for range in ["4XX", "5XX"] {
                assert_eq!(
                    op["responses"][range]["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{where_}: {range} is not the error envelope"
                );
            }
        }
    }
    assert!(count >= 14, "only {count} operations documented");
}

/// Routes that need a session say so in the document.
#[test]
fn authenticated_operations_declare_bearer_security() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    for (path, method) in [
        ("/api/v1/users/auth/me", "get"),
        ("/api/v1/users/auth/logout", "post"),
        ("/api/v1/users/auth/refresh", "post"),
    ] {
        assert!(doc["paths"][path][method]["security"][0]["bearer"].is_array(), "{method} {path}");
    }
}

#[tokio::test]
async fn served_document_and_docs_page_match() {
    let app = TestApp::spawn().await;
    let res = app.client.get(format!("{}/openapi.json", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), hoody_api::openapi::document_json());
    let res = app.client.get(format!("{}/docs", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = res.text().await.unwrap();
    assert!(page.contains("/openapi.json"));
    assert!(
        !page.contains("https://") && !page.contains("http://"),
        "the docs page must not load anything from elsewhere"
    );
}

/// The document offers `Idempotency-Key` on exactly the routes the layer honours it on (the layer
/// reads them from the document), and on the creating POSTs.
#[test]
fn idempotency_key_is_documented_where_it_is_honoured() {
    let doc: Value = serde_json::from_str(&hoody_api::openapi::document_json()).unwrap();
    let mut documented: Vec<String> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            if params.iter().any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header") {
                assert_eq!(method, "post", "{path}");
                documented.push(path.clone());
            }
        }
    }
    documented.sort();
    let honoured = hoody_api::idempotency::keyed_routes(&hoody_api::openapi::document());
    assert_eq!(documented, honoured);
    for creating in [
        "/api/v1/projects/",
        "/api/v1/projects/{id}/containers",
        "/api/v1/containers/{id}/snapshots",
        "/api/v1/containers/{id}/copy",
    ] {
        assert!(honoured.iter().any(|r| r == creating), "{creating} takes Idempotency-Key");
    }
}

/// Every `$ref` in the document names a schema the document holds (a dangling one makes
/// generators and schemathesis skip that part).
#[test]
fn every_schema_reference_resolves() {
    let text = hoody_api::openapi::document_json();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let prefix = "\"#/components/schemas/";
    let dangling: Vec<&str> = text
        .match_indices(prefix)
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            &rest[..rest.find('"').unwrap()]
        })
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    assert!(dangling.is_empty(), "unresolvable references: {dangling:?}");
}
