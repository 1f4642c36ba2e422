//! Versioned documents: `if-match: file:v<N>` (required → 428 when missing, optional → an
//! unconditional write, malformed → 400), a conditional write in one statement (ten writers on
//! one version → exactly one wins, nine get 412 carrying the current version), no lost write
//! under writers that retry, and the previous versions kept.

use axum::{body::Body, http::Request, routing::put, Router};
use hoody_api::{
    db::documents::{self, Versioned},
    error::ApiError,
    extract::IfMatch,
};
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::harness::TestApp;

async fn write(app: &TestApp, key: &str, expected: Option<i64>, body: Value) -> Result<i64, ApiError> {
    let mut tx = app.db.begin().await.unwrap();
    let v = documents::write(&mut tx, "test.doc", key, expected, Some(&body)).await?;
    tx.commit().await.unwrap();
    Ok(v)
}

#[tokio::test]
async fn ten_writers_holding_one_version_exactly_one_wins() {
    let app = TestApp::spawn().await;
    assert_eq!(write(&app, "k", Some(0), json!({"n": 0})).await.unwrap(), 1);
    let writers = (0..10).map(|i| write(&app, "k", Some(1), json!({"n": i})));
    let outcomes = futures::future::join_all(writers).await;
    let won: Vec<i64> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
    assert_eq!(won, vec![2], "one write, to version 2");
    for o in outcomes.iter().filter(|o| o.is_err()) {
        assert!(matches!(o, Err(ApiError::StaleVersion { current: 2 })), "{o:?}");
    }
    let doc = documents::read(&app.db, "test.doc", "k").await.unwrap();
    assert_eq!(doc.version, 2);
    // Version 0 means "not written yet": a second create is stale too.
    assert!(matches!(write(&app, "k", Some(0), json!({})).await, Err(ApiError::StaleVersion { current: 2 })));
}

#[tokio::test]
async fn writers_that_retry_on_412_lose_nothing() {
    let app = TestApp::spawn().await;
    let writers = (0..8).map(|w| {
        let app = &app;
        async move {
            for i in 0..50 {
                loop {
                    let doc = documents::read(&app.db, "test.doc", "list").await.unwrap();
                    let mut items = doc.body.unwrap_or(json!([]));
                    items.as_array_mut().unwrap().push(json!(format!("{w}-{i}")));
                    match write(app, "list", Some(doc.version), items).await {
                        Ok(_) => break,
                        Err(ApiError::StaleVersion { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }
    });
    futures::future::join_all(writers).await;
    let doc = documents::read(&app.db, "test.doc", "list").await.unwrap();
    assert_eq!(doc.version, 400);
    let items = doc.body.unwrap();
    assert_eq!(items.as_array().unwrap().len(), 400, "every acknowledged write is in the document");
    // The last 50 versions are kept, older ones pruned.
    assert!(documents::read_version(&app.db, "test.doc", "list", 351).await.unwrap().is_some());
    assert!(documents::read_version(&app.db, "test.doc", "list", 350).await.unwrap().is_none());
    let v351 = documents::read_version(&app.db, "test.doc", "list", 351).await.unwrap().unwrap();
    assert_eq!(v351.body.unwrap().as_array().unwrap().len(), 351);
}

#[tokio::test]
async fn a_delete_keeps_the_version_going() {
    let app = TestApp::spawn().await;
    write(&app, "d", None, json!({"a": 1})).await.unwrap();
    let mut tx = app.db.begin().await.unwrap();
    assert_eq!(documents::write(&mut tx, "test.doc", "d", Some(1), None).await.unwrap(), 2);
    tx.commit().await.unwrap();
    assert_eq!(documents::read(&app.db, "test.doc", "d").await.unwrap(), documents::Doc { version: 2, body: None });
    // An if-match from before the delete is stale.
    assert!(matches!(write(&app, "d", Some(1), json!({})).await, Err(ApiError::StaleVersion { current: 2 })));
    assert_eq!(write(&app, "d", None, json!({"b": 2})).await.unwrap(), 3, "an unconditional write goes on");
}

async fn required(IfMatch(v): IfMatch) -> axum::Json<Versioned<Value>> {
    axum::Json(Versioned::new(json!({"seen": v}), v + 1))
}

async fn optional(m: Option<IfMatch>) -> String {
    format!("{:?}", m.map(|m| m.0))
}

async fn send(router: &Router, if_match: Option<&str>, path: &str) -> (u16, Value) {
    let mut req = Request::builder().method("PUT").uri(path);
    if let Some(v) = if_match {
        req = req.header("if-match", v);
    }
    let res = router.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = res.status().as_u16();
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes))))
}

#[tokio::test]
async fn if_match_is_428_when_required_and_missing_400_when_malformed() {
    let router = Router::new().route("/req", put(required)).route("/opt", put(optional));
    let (status, body) = send(&router, None, "/req").await;
    assert_eq!(status, 428);
    assert_eq!(body["code"], "if_match_required");
    assert_eq!(body["statusCode"], 428);
    for bad in ["file:3", "v3", "file:v-1", "*"] {
        let (status, body) = send(&router, Some(bad), "/req").await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["details"]["fields"][0]["path"], "if-match");
        let (status, _) = send(&router, Some(bad), "/opt").await;
        assert_eq!(status, 400, "optional, malformed: {bad}");
    }
    let (status, body) = send(&router, Some("file:v7"), "/req").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"seen": 7, "file_version": 8, "etag": "file:v8"}));
    assert_eq!(send(&router, None, "/opt").await, (200, json!("None")));
    assert_eq!(send(&router, Some("\"file:v2\""), "/opt").await, (200, json!("Some(2)")));
}

#[tokio::test]
async fn a_stale_version_is_412_with_the_current_version_in_the_error_body() {
    let res = axum::response::IntoResponse::into_response(ApiError::StaleVersion { current: 5 });
    assert_eq!(res.status().as_u16(), 412);
    let bytes = axum::body::to_bytes(res.into_body(), 1 << 20).await.unwrap();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["code"], "version_mismatch");
    assert_eq!(body["details"]["current_file_version"], 5);
    assert_eq!(body["data"], Value::Null);
}
