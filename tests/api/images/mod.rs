//! The `images` namespace: the public catalogue and its filters, icons, importing, buying,
//! rating (concurrent raters included), creating containers from a held image, and the operator
//! CLI (`hoody-api images publish|unpublish|list`) against the real LXD.

mod catalogue;
mod cli;
mod holdings;
mod rate;

use hoody_api::db::new_id;
use serde_json::Value;

use crate::harness::{Session, TestApp};

/// A catalogue row inserted straight into the database (the CLI is tested in `cli`).
pub struct Img<'a> {
    pub alias: &'a str,
    pub description: &'a str,
    pub os: &'a str,
    pub architecture: &'a str,
    pub tags: &'a [&'a str],
    pub price_cents: i64,
    pub public: bool,
    /// (sum, count) of ratings.
    pub ratings: (i64, i64),
    pub icon: Option<(&'a [u8], &'a str)>,
    /// Days ago it was added.
    pub age_days: i32,
}

impl Default for Img<'_> {
    fn default() -> Self {
        Self {
            alias: "plain",
            description: "",
            os: "debian",
            architecture: "amd64",
            tags: &[],
            price_cents: 0,
            public: true,
            ratings: (0, 0),
            icon: None,
            age_days: 0,
        }
    }
}

pub async fn insert(app: &TestApp, i: Img<'_>) -> String {
    let id = new_id();
    let tags: Vec<String> = i.tags.iter().map(|t| t.to_string()).collect();
    sqlx::query(
        "insert into image (image_id, alias, description, os, release, architecture, tags, price_cents, is_public, \
             lxd_alias, fingerprint, rating_sum, rating_count, icon, icon_content_type, icon_etag, added_at) \
         values ($1, $2, $3, $4, '13', $5, $6, $7, $8, $9, 'ab', $10, $11, $12, $13, $14, \
             now() - make_interval(days => $15))",
    )
    .bind(&id)
    .bind(i.alias)
    .bind(i.description)
    .bind(i.os)
    .bind(i.architecture)
    .bind(&tags)
    .bind(i.price_cents)
    .bind(i.public)
    .bind(format!("hoody-image-{}", new_id()))
    .bind(i.ratings.0)
    .bind(i.ratings.1)
    .bind(i.icon.map(|x| x.0.to_vec()))
    .bind(i.icon.map(|x| x.1))
    .bind(i.icon.map(|_| format!("\"{}\"", &new_id()[..16])))
    .bind(i.age_days)
    .execute(&app.db)
    .await
    .unwrap();
    id
}

/// Users that only need a session (no password, no mail): inserted, then a session opened.
pub async fn quick_user(app: &TestApp) -> Session {
    let id = new_id();
    sqlx::query(
        "insert into app_user (user_id, username, email, password_hash, email_verified) values ($1, $2, $3, 'x', true)",
    )
    .bind(&id)
    .bind(format!("u{id}"))
    .bind(format!("{id}@example.com"))
    .execute(&app.db)
    .await
    .unwrap();
    let mut conn = app.db.acquire().await.unwrap();
    let pair = hoody_api::auth::sessions::start(&app.state, &mut conn, &id, 0).await.unwrap();
    Session { token: pair.token, refresh: pair.refresh_token, user_id: id }
}

/// The ids of a list's images, in order.
pub fn ids(data: &Value) -> Vec<String> {
    data["images"].as_array().unwrap().iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

pub async fn held(app: &TestApp, user_id: &str) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "select image_id, acquired_by, price_paid_cents from user_image where user_id = $1 order by image_id",
    )
    .bind(user_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}
