//! The public catalogue: every filter, the orders, pagination, bad input, one image, icons.

use reqwest::{header, Method};
use serde_json::json;

use super::{ids, insert, quick_user, Img};
use crate::harness::TestApp;

const LIST: &str = "/api/v1/images/public";

#[tokio::test]
async fn the_public_list_filters_sorts_and_pages() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let web = insert(
        &app,
        Img {
            alias: "web-stack",
            description: "Nginx and friends",
            tags: &["http"],
            price_cents: 0,
            ratings: (9, 2),
            age_days: 3,
            ..Default::default()
        },
    )
    .await;
    let db = insert(
        &app,
        Img {
            alias: "postgres",
            description: "A database",
            tags: &["SQL", "storage"],
            price_cents: 499,
            ratings: (5, 1),
            age_days: 2,
            ..Default::default()
        },
    )
    .await;
    let arm = insert(
        &app,
        Img {
            alias: "tiny-arm",
            os: "alpine",
            architecture: "arm64",
            price_cents: 1250,
            ratings: (3, 3),
            age_days: 1,
            ..Default::default()
        },
    )
    .await;
    let _hidden = insert(&app, Img { alias: "web-hidden", public: false, ..Default::default() }).await;

    let list = |q: &str| {
        let (app, token) = (&app, s.token.clone());
        let path = format!("{LIST}{q}");
        async move {
            let r = app.get(&path, Some(&token)).await;
            r.expect(200);
            r.data().clone()
        }
    };
    // Default: newest first; unpublished images never appear.
    let all = list("").await;
    assert_eq!(ids(&all), vec![arm.clone(), db.clone(), web.clone()]);
    assert_eq!(all["pagination"], json!({"total": 3, "page": 1, "limit": 20, "totalPages": 1}));
    let first = &all["images"][1];
    assert_eq!(first["alias"], "postgres");
    assert_eq!(first["price"], json!(4.99));
    assert_eq!(first["average_rating"], json!(5.0));
    assert_eq!(first["rating_count"], 1);
    assert_eq!(first["os"], "debian");
    assert_eq!(first["image_name"], "debian/13");
    assert_eq!(first["variant"], json!(null));
    assert_eq!(first["icon_url"], json!(null));
    assert!(first["added_date"].as_str().unwrap().ends_with('Z'));

    assert_eq!(ids(&list("?os=ALPINE").await), vec![arm.clone()]);
    assert_eq!(ids(&list("?architecture=amd64").await), vec![db.clone(), web.clone()]);
    assert_eq!(ids(&list("?min_price=0&max_price=0").await), vec![web.clone()]);
    assert_eq!(ids(&list("?min_price=4.99").await), vec![arm.clone(), db.clone()]);
    assert_eq!(ids(&list("?max_price=12.49").await), vec![db.clone(), web.clone()]);
    assert_eq!(ids(&list("?min_rating=4.5").await), vec![db.clone(), web.clone()]);
    assert_eq!(ids(&list("?min_rating=4.51").await), vec![db.clone()]);
    assert_eq!(ids(&list("?max_rating=1").await), vec![arm.clone()]);
    assert_eq!(ids(&list("?search=nginx").await), vec![web.clone()]);
    assert_eq!(ids(&list("?search=sql").await), vec![db.clone()]);
    assert_eq!(ids(&list("?search=web").await), vec![web.clone()], "the unpublished one stays hidden");
    assert_eq!(ids(&list("?search=%25").await), Vec::<String>::new(), "no LIKE wildcards");
    assert_eq!(ids(&list("?sort_by=price&sort_order=asc").await), vec![web.clone(), db.clone(), arm.clone()]);
    assert_eq!(ids(&list("?sort_by=rating").await), vec![db.clone(), web.clone(), arm.clone()]);
    assert_eq!(ids(&list("?sort_by=alias&sort_order=asc").await), vec![db.clone(), arm.clone(), web.clone()]);
    assert_eq!(ids(&list("?sort_by=added_date&sort_order=asc").await), vec![web.clone(), db.clone(), arm.clone()]);
    let page = list("?limit=2&page=2").await;
    assert_eq!(ids(&page), vec![web.clone()]);
    assert_eq!(page["pagination"], json!({"total": 3, "page": 2, "limit": 2, "totalPages": 2}));
    let past = list("?limit=2&page=5").await;
    assert_eq!(past["pagination"]["total"], 3);
    assert!(past["images"].as_array().unwrap().is_empty());

    // Any token may read the catalogue; no credentials may not.
    let (bare, _) = app.new_token(&s.token, json!({})).await;
    app.get(LIST, Some(&bare)).await.expect(200);
    app.get(LIST, None).await.expect(401);
}

#[tokio::test]
async fn bad_filters_are_named_and_nothing_is_listed() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    insert(&app, Img::default()).await;
    for (q, status, field) in [
        ("min_price=-1", 422, "min_price"),
        ("min_price=1e3", 422, "min_price"),
        ("max_price=abc", 422, "max_price"),
        ("max_price=1.999", 422, "max_price"),
        ("min_price=5&max_price=4", 422, "max_price"),
        ("min_rating=5.01", 422, "min_rating"),
        ("max_rating=-0.5", 422, "max_rating"),
        ("min_rating=4&max_rating=3", 422, "max_rating"),
        ("os=", 200, ""),
        ("search=", 200, ""),
        ("limit=101", 422, "limit"),
        ("limit=0", 422, "limit"),
        ("page=0", 422, "page"),
        ("page=x", 400, "page"),
        ("sort_by=size", 400, "sort_by"),
        ("sort_order=up", 400, "sort_order"),
    ] {
        let r = app.get(&format!("{LIST}?{q}"), Some(&s.token)).await;
        r.expect(status);
        if status != 200 {
            let fields: Vec<&str> =
                r.body["details"]["fields"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
            assert!(fields.contains(&field), "{q}: {}", r.text);
        }
    }
    for (field, max) in [("os", 50), ("architecture", 20), ("search", 200)] {
        let r = app.get(&format!("{LIST}?{field}={}", "a".repeat(max + 1)), Some(&s.token)).await;
        r.expect(422);
        assert_eq!(r.body["details"]["fields"][0]["path"], field, "{}", r.text);
    }
}

#[tokio::test]
async fn one_public_image_and_never_an_unpublished_one() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let id = insert(&app, Img { alias: "one", description: "the one", ratings: (10, 3), ..Default::default() }).await;
    let hidden = insert(&app, Img { public: false, ..Default::default() }).await;
    let r = app.get(&format!("/api/v1/images/public/{id}"), Some(&s.token)).await;
    r.expect(200);
    assert_eq!(r.data()["id"], id.as_str());
    assert_eq!(r.data()["description"], "the one");
    assert_eq!(r.data()["average_rating"], json!(3.33));
    assert_eq!(r.data()["rating_count"], 3);
    assert_eq!(r.data()["release"], "13");
    assert!(r.data()["serial"].is_string());
    for missing in [hidden.as_str(), "0123456789abcdef01234567", "not-an-id"] {
        let r = app.get(&format!("/api/v1/images/public/{missing}"), Some(&s.token)).await;
        r.expect(404);
        assert_eq!(r.code(), "image_not_found");
    }
    app.get(&format!("/api/v1/images/public/{id}"), None).await.expect(401);
}

#[tokio::test]
async fn icons_have_their_type_an_etag_and_answer_304() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\nnot really a png";
    let id = insert(&app, Img { icon: Some((png, "image/png")), ..Default::default() }).await;
    let r = app.get(&format!("/api/v1/images/public/{id}"), Some(&s.token)).await;
    assert_eq!(r.data()["icon_url"], format!("/api/v1/images/{id}/icon"));

    let url = format!("{}/api/v1/images/{id}/icon", app.base);
    // No credentials needed for a public image's icon.
    let res = app.client.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/png");
    assert!(res.headers()[header::CACHE_CONTROL].to_str().unwrap().starts_with("public"));
    let etag = res.headers()[header::ETAG].to_str().unwrap().to_owned();
    let stored: String = sqlx::query_scalar("select icon_etag from image where image_id = $1")
        .bind(&id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(etag, stored);
    assert_eq!(res.bytes().await.unwrap().as_ref(), png);

    let res = app.client.get(&url).header(header::IF_NONE_MATCH, &etag).send().await.unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()[header::ETAG], etag.as_str());
    assert!(res.bytes().await.unwrap().is_empty());
    let res = app.client.get(&url).header(header::IF_NONE_MATCH, "\"other\"").send().await.unwrap();
    assert_eq!(res.status(), 200);

    // No icon, malformed id, unpublished image not held: 404.
    let plain = insert(&app, Img::default()).await;
    let hidden = insert(&app, Img { public: false, icon: Some((png, "image/png")), ..Default::default() }).await;
    for other in [plain.as_str(), "xyz", hidden.as_str()] {
        let r = app.request(Method::GET, &format!("/api/v1/images/{other}/icon"), Some(&s.token), None).await;
        r.expect(404);
    }
    // An unpublished image's icon for the one who holds it, privately cached.
    sqlx::query("insert into user_image (user_id, image_id, acquired_by) values ($1, $2, 'import')")
        .bind(&s.user_id)
        .bind(&hidden)
        .execute(&app.db)
        .await
        .unwrap();
    let res =
        app.client.get(format!("{}/api/v1/images/{hidden}/icon", app.base)).bearer_auth(&s.token).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()[header::CACHE_CONTROL].to_str().unwrap().starts_with("private"));
    let res = app.client.get(format!("{}/api/v1/images/{hidden}/icon", app.base)).send().await.unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn an_unrated_image_has_no_rating_to_pass_a_minimum() {
    let app = TestApp::spawn().await;
    let s = quick_user(&app).await;
    let unrated = insert(&app, Img { alias: "fresh", ratings: (0, 0), ..Default::default() }).await;
    let rated = insert(&app, Img { alias: "liked", ratings: (4, 1), ..Default::default() }).await;
    let list = |q: &'static str| {
        let (app, token) = (&app, s.token.clone());
        async move {
            let r = app.get(&format!("{LIST}{q}"), Some(&token)).await;
            r.expect(200);
            ids(r.data())
        }
    };
    assert_eq!(list("?min_rating=1").await, vec![rated.clone()]);
    assert_eq!(list("?min_rating=0").await.len(), 2);
    assert_eq!(list("?max_rating=0").await, vec![unrated]);
}
