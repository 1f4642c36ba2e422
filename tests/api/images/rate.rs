//! Rating: 0–5 whole stars, one per user (a new one replaces yours), the average and count kept
//! exact in the image row, also with many raters at once.

use reqwest::Method;
use serde_json::{json, Value};

use super::{insert, quick_user, Img};
use crate::harness::TestApp;

async fn stored(app: &TestApp, image: &str) -> (i64, i64, Vec<(String, i16)>) {
    let (sum, count): (i64, i64) = sqlx::query_as("select rating_sum, rating_count from image where image_id = $1")
        .bind(image)
        .fetch_one(&app.db)
        .await
        .unwrap();
    let rows = sqlx::query_as("select user_id, rating from image_rating where image_id = $1 order by user_id")
        .bind(image)
        .fetch_all(&app.db)
        .await
        .unwrap();
    (sum, count, rows)
}

#[tokio::test]
async fn a_rating_is_stored_and_replaced_by_the_next_one() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let t = quick_user(&app).await;
    let id = insert(&app, Img::default()).await;
    let path = format!("/api/v1/images/rate/{id}");
    let r = app.post_auth(&path, &s.token, Some(json!({"rating": 4}))).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"new_rating": 4, "average_rating": 4.0, "rating_count": 1}));
    let r = app.post_auth(&path, &t.token, Some(json!({"rating": 1}))).await;
    assert_eq!(r.data(), &json!({"new_rating": 1, "average_rating": 2.5, "rating_count": 2}));
    let r = app.post_auth(&path, &s.token, Some(json!({"rating": 0}))).await;
    r.expect(200);
    assert_eq!(r.data(), &json!({"new_rating": 0, "average_rating": 0.5, "rating_count": 2}));
    let (sum, count, rows) = stored(&app, &id).await;
    assert_eq!((sum, count), (1, 2));
    assert_eq!(rows.len(), 2);
    assert!(rows.contains(&(s.user_id.clone(), 0)) && rows.contains(&(t.user_id.clone(), 1)));
    let r = app.get(&format!("/api/v1/images/public/{id}"), Some(&s.token)).await;
    assert_eq!(r.data()["average_rating"], json!(0.5));
}

#[tokio::test]
async fn bad_ratings_are_refused_and_nothing_is_stored() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let id = insert(&app, Img::default()).await;
    let hidden = insert(&app, Img { public: false, ..Default::default() }).await;
    let path = format!("/api/v1/images/rate/{id}");
    for (body, status, field) in [
        (json!({"rating": 6}), 422, "rating"),
        (json!({"rating": -1}), 422, "rating"),
        (json!({"rating": 4.5}), 422, "rating"),
        (json!({"rating": "4"}), 422, "rating"),
        (json!({"rating": null}), 422, "rating"),
        (json!({}), 400, "rating"),
        (json!({"rating": 3, "stars": 3}), 422, "stars"),
    ] {
        let r = app.post_auth(&path, &s.token, Some(body.clone())).await;
        r.expect(status);
        if !field.is_empty() {
            let fields: Vec<&str> =
                r.body["details"]["fields"].as_array().unwrap().iter().filter_map(|f| f["path"].as_str()).collect();
            assert!(fields.iter().any(|f| f.contains(field)), "{body}: {}", r.text);
        }
    }
    for missing in [hidden.as_str(), "0123456789abcdef01234567", "bad"] {
        let r = app.post_auth(&format!("/api/v1/images/rate/{missing}"), &s.token, Some(json!({"rating": 3}))).await;
        r.expect(404);
    }
    // Auth tokens cannot rate, whatever they hold.
    let everything: Vec<&str> = hoody_api::auth::permissions::LEAVES.iter().map(String::as_str).collect();
    let (token, _) = app.new_token(&s.token, json!({"permissions": crate::permissions::tree(&everything)})).await;
    let r = app.request(Method::POST, &path, Some(&token), Some(json!({"rating": 3}))).await;
    r.expect(403);
    assert_eq!(r.code(), "session_required");
    assert_eq!(stored(&app, &id).await, (0, 0, vec![]));
    assert_eq!(stored(&app, &hidden).await, (0, 0, vec![]));
}

#[tokio::test]
async fn concurrent_raters_leave_an_exact_count_and_average() {
    let app = TestApp::spawn().await;
    let id = insert(&app, Img::default()).await;
    let mut users = Vec::new();
    for _ in 0..24 {
        users.push(quick_user(&app).await);
    }
    let path = format!("/api/v1/images/rate/{id}");
    // Everyone rates at once, and each rates twice more at once (the last word is theirs).
    let mut tasks = Vec::new();
    for (i, u) in users.iter().enumerate() {
        for round in 0..3 {
            let rating = ((i + round) % 6) as i64;
            let (app, path, token) = (&app, path.clone(), u.token.clone());
            tasks.push(async move {
                let r = app.post_auth(&path, &token, Some(json!({"rating": rating}))).await;
                r.expect(200);
                r.data().clone()
            });
        }
    }
    let answers: Vec<Value> = futures::future::join_all(tasks).await;
    assert!(answers.iter().all(|a| a["rating_count"].as_i64().unwrap() <= 24));
    let (sum, count, rows) = stored(&app, &id).await;
    assert_eq!(count, 24);
    assert_eq!(rows.len(), 24);
    let actual: i64 = rows.iter().map(|(_, r)| i64::from(*r)).sum();
    assert_eq!(sum, actual, "the kept sum is the sum of the ratings kept");
    // Each user's kept rating is one of the three they sent.
    for (i, u) in users.iter().enumerate() {
        let mine = rows.iter().find(|(uid, _)| uid == &u.user_id).unwrap().1 as usize;
        assert!((0..3).any(|round| (i + round) % 6 == mine));
    }
    let r = app.get(&format!("/api/v1/images/public/{id}"), Some(&users[0].token)).await;
    assert_eq!(r.data()["rating_count"], 24);
    let avg = r.data()["average_rating"].as_f64().unwrap();
    assert!((avg - actual as f64 / 24.0).abs() < 0.006, "{avg} vs {actual}/24");
}
