//! The user vault: the six routes, bad input, access, the limit under concurrency, versions and
//! if-match, and the encryption's ground truth (a database dump, moved ciphertext, rekey).

mod access;
mod at_rest;
mod limits;
mod logs;
mod routes;

use reqwest::Method;
use serde_json::Value;

use crate::harness::{Resp, TestApp};

pub const KEYS: &str = "/api/v1/vault/keys";
pub const STATS: &str = "/api/v1/vault/stats";
pub const VAULT: &str = "/api/v1/vault";

/// `path` with `?realm_id=<realm>` when a realm is given.
pub fn in_realm(path: &str, realm: Option<&str>) -> String {
    match realm {
        Some(r) => format!("{path}?realm_id={r}"),
        None => path.to_owned(),
    }
}

pub fn key_path(key: &str, realm: Option<&str>) -> String {
    in_realm(&format!("{KEYS}/{key}"), realm)
}

pub async fn put(app: &TestApp, token: &str, key: &str, realm: Option<&str>, body: Value) -> Resp {
    app.request(Method::PUT, &key_path(key, realm), Some(token), Some(body)).await
}

pub async fn get(app: &TestApp, token: &str, key: &str, realm: Option<&str>) -> Resp {
    app.get(&key_path(key, realm), Some(token)).await
}

/// The `ETag` a response carries.
pub fn etag(r: &Resp) -> String {
    r.headers.get("etag").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

/// The account's stored keys, ground truth: (realm, key, version, size_bytes), ordered.
pub async fn stored(app: &TestApp, user_id: &str) -> Vec<(String, String, i64, i64)> {
    sqlx::query_as(
        "select realm_id, key, version, size_bytes from vault_entry where user_id = $1 order by realm_id, key",
    )
    .bind(user_id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

pub async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.db).await.unwrap()
}

/// The `details.fields[0].path` of an error.
pub fn field(r: &Resp) -> &str {
    r.body["details"]["fields"][0]["path"].as_str().unwrap_or("")
}
