//! `GET/PUT /users/{id}`: yourself, or anyone as an administrator; admin-only fields.

use reqwest::Method;
use serde_json::json;

use crate::harness::{TestApp, PASSWORD};

async fn make_admin(app: &TestApp, user_id: &str) {
    sqlx::query("update app_user set is_admin = true where user_id = $1").bind(user_id).execute(&app.db).await.unwrap();
    app.forget_cached();
}

#[tokio::test]
async fn users_read_themselves_and_only_admins_read_others() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("ua@example.com").await;
    let b = app.verified_user("ub@example.com").await;
    let r = app.get(&format!("/api/v1/users/{}", a.user_id), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["email"], "ua@example.com");
    assert!(!r.text.contains("password_hash") && !r.text.contains("argon2"));
    let cross = app.get(&format!("/api/v1/users/{}", b.user_id), Some(&a.token)).await;
    cross.expect(404);
    let missing = app.get(&format!("/api/v1/users/{}", hoody_api::db::new_id()), Some(&a.token)).await;
    assert_eq!((cross.code(), &cross.body["message"]), (missing.code(), &missing.body["message"]));
    app.get(&format!("/api/v1/users/{}", a.user_id), None).await.expect(401);
    make_admin(&app, &a.user_id).await;
    let r = app.get(&format!("/api/v1/users/{}", b.user_id), Some(&a.token)).await;
    r.expect(200);
    assert_eq!(r.data()["email"], "ub@example.com");
    app.get("/api/v1/users/nope", Some(&a.token)).await.expect(404);
}

#[tokio::test]
async fn profile_fields_update_and_bad_input_changes_nothing() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("prof@example.com").await;
    let path = format!("/api/v1/users/{}", a.user_id);
    let key = "AB".repeat(32);
    let r = app
        .request(
            Method::PUT,
            &path,
            Some(&a.token),
            Some(json!({"alias": "Ada", "public_key": key, "metadata": {"theme": {"dark": true}}})),
        )
        .await;
    r.expect(200);
    assert_eq!(r.data()["alias"], "Ada");
    assert_eq!(r.data()["public_key"], "ab".repeat(32));
    assert_eq!(r.data()["metadata"]["theme"]["dark"], true);
    for (body, status) in [
        (json!({"alias": ""}), 422),
        (json!({"public_key": "xyz"}), 422),
        (json!({"metadata": [1]}), 422),
        (json!({"metadata": {"x": "z".repeat(70 * 1024)}}), 422),
        (json!({"alias": 5}), 400),
        (json!({"role": "owner"}), 422),
    ] {
        app.request(Method::PUT, &path, Some(&a.token), Some(body)).await.expect(status);
    }
    let alias: String = sqlx::query_scalar("select alias from app_user where user_id = $1")
        .bind(&a.user_id)
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert_eq!(alias, "Ada");
    let b = app.verified_user("prof2@example.com").await;
    app.request(Method::PUT, &path, Some(&b.token), Some(json!({"alias": "Mallory"}))).await.expect(404);
}

#[tokio::test]
async fn admin_fields_are_for_admins_only_and_a_ban_takes_effect() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("self@example.com").await;
    let path = format!("/api/v1/users/{}", a.user_id);
    for body in [json!({"is_admin": true}), json!({"is_banned": false}), json!({"is_admin": true, "alias": "x"})] {
        let r = app.request(Method::PUT, &path, Some(&a.token), Some(body)).await;
        r.expect(403);
        assert_eq!(r.code(), "admin_only_field");
    }
    let (is_admin, alias): (bool, Option<String>) =
        sqlx::query_as("select is_admin, alias from app_user where user_id = $1")
            .bind(&a.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
    assert!(!is_admin && alias.is_none(), "nothing changed");

    let root = app.verified_user("admin@example.com").await;
    make_admin(&app, &root.user_id).await;
    let (token, _) = app.new_token(&a.token, json!({"permission_template": "read_only"})).await;
    let r = app.request(Method::PUT, &path, Some(&root.token), Some(json!({"is_banned": true}))).await;
    r.expect(200);
    assert_eq!(r.data()["is_banned"], true);
    app.get("/api/v1/users/auth/me", Some(&a.token)).await.expect(403);
    app.get("/api/v1/users/auth/me", Some(&token)).await.expect(403);
    let root_path = format!("/api/v1/users/{}", root.user_id);
    let r = app.request(Method::PUT, &root_path, Some(&root.token), Some(json!({"is_banned": true}))).await;
    r.expect(422);
    app.request(Method::PUT, &path, Some(&root.token), Some(json!({"is_banned": false}))).await.expect(200);
    app.get("/api/v1/users/auth/me", Some(&a.token)).await.expect(200);
}

#[tokio::test]
async fn password_change_needs_the_current_password_and_signs_out_sessions() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("pw@example.com").await;
    let path = format!("/api/v1/users/{}", a.user_id);
    let new = "Brand-new-passphrase-77";
    let put = |body: serde_json::Value| {
        let (app, path, token) = (&app, path.clone(), a.token.clone());
        async move { app.request(Method::PUT, &path, Some(&token), Some(body)).await }
    };
    put(json!({"password": new})).await.expect(422);
    put(json!({"password": "short", "current_password": PASSWORD})).await.expect(422);
    put(json!({"password": "alllowercaseletters", "current_password": PASSWORD})).await.expect(422);
    put(json!({"password": new, "current_password": "Wrong-password-123"})).await.expect(401);
    // Three of four classes is enough here.
    put(json!({"password": new, "current_password": PASSWORD})).await.expect(200);
    app.get("/api/v1/users/auth/me", Some(&a.token)).await.expect(401);
    app.post("/api/v1/users/auth/login", json!({"email": "pw@example.com", "password": PASSWORD})).await.expect(401);
    app.login("pw@example.com", new).await;
}

#[tokio::test]
async fn password_change_refuses_a_common_password_in_any_case() {
    let app = TestApp::spawn().await;
    let a = app.verified_user("cpw@example.com").await;
    let path = format!("/api/v1/users/{}", a.user_id);
    let hash = || async {
        let h: String = sqlx::query_scalar("select password_hash from app_user where user_id = $1")
            .bind(&a.user_id)
            .fetch_one(&app.db)
            .await
            .unwrap();
        h
    };
    let before = hash().await;
    // Upper, lower and digit in 12 characters pass the length and three-of-four rules: only the
    // list refuses them (`qwerty123456` and `1qaz2wsx3edc` are on it).
    for common in ["Qwerty123456", "qWERTY123456", "1Qaz2wsx3edC"] {
        let r = app
            .request(
                Method::PUT,
                &path,
                Some(&a.token),
                Some(json!({"password": common, "current_password": PASSWORD})),
            )
            .await;
        r.expect(422);
        let fields = r.body["details"]["fields"].as_array().expect("fields");
        assert_eq!(fields.len(), 1, "{}", r.text);
        assert_eq!(fields[0]["path"], "password");
        assert!(fields[0]["message"].as_str().unwrap().contains("most common"), "{}", r.text);
    }
    assert_eq!(hash().await, before, "nothing stored");
    app.get("/api/v1/users/auth/me", Some(&a.token)).await.expect(200);
    app.request(
        Method::PUT,
        &path,
        Some(&a.token),
        Some(json!({"password": "Strong-Passphrase-58", "current_password": PASSWORD})),
    )
    .await
    .expect(200);
    app.login("cpw@example.com", "Strong-Passphrase-58").await;
}
