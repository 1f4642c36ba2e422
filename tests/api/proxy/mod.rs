//! The `proxyPermissionsContainer` and `proxyPermissionsProject` tags: `documents` (the walk
//! through every route of either scope, versions, deletes, kept versions), `groups` (every bad
//! field named with nothing stored, PEM keys, removing what is not there), `if_match` (the 24
//! document writes and the 6 hook and settings writes without, with a stale and with a
//! malformed `if-match`), `access` (other users, read grantees, tokens by leaf, secrets),
//! `concurrency` (one winner of ten writers on one version, 8 writers retrying on 412 losing
//! nothing) and `secrets` (never in events nor stored in clear); on the real LXD: `hooks` (the
//! hooks and discovery routes), `instance` (the merged file in the instance, kept by the
//! reconciler, and `explain`) and `gone` (documents deleted with their container and project).
//!
//! The documents need only container rows (the edge proxy reads them; no host work), so the
//! container is inserted directly on a registered server row, with the reconciler held off.

mod access;
mod concurrency;
mod documents;
mod gone;
mod groups;
mod hooks;
mod if_match;
mod instance;
mod secrets;

use std::time::Duration;

use hoody_api::db::containers::{insert, NewContainer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, Session, TestApp, PASSWORD};

/// An RSA (2048) public key, for RS256 groups.
pub const RSA_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAoi5gAX/jLnequ75yO/d7
fyq9HeUBwYsLV9T0nTBJcxFvZlb3zhX4iHW5vplnbZYhoXPhJ751FYxwMyW54zN1
Fg8RZeejOZ9YrlaE6B7b5GJjn1744Bj5hKSjkeG5x+iaO71VXu5RiJwAKrUEFlNx
k5Yx9Za6vOeCDDxoA2pGHoSPbR09uoqQdgxNksVWtuGRwBzW8hqftqxaxQEt8rOI
peMJsVhYRQ1BLTF/APIi9b8YAdCg0DhyU4J0uWO0WkcBJfy+4/dFfcfhv7z/Oc25
JdorMVp2Reeb8QsaB7NDx3BYidNwRsShIliFV2O8Vr188Q9mG0Whb27nOH5BTDq4
FwIDAQAB
-----END PUBLIC KEY-----
";

/// An EC P-256 public key, for ES256 groups.
pub const EC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEunoepH9LtmJtZ/KuFXLDOIpZc+R9
V12zgkBB4LMmlJdN6r6AXb7tvrb19ZnOPqRCJPo4ZsF0EgjDIzKRidvEew==
-----END PUBLIC KEY-----
";

/// One permission document: the container's or the project's.
#[derive(Clone, Debug)]
pub struct Doc {
    /// `/api/v1/containers/{id}/proxy/permissions` or `/api/v1/projects/{id}/proxy/permissions`.
    pub base: String,
    /// `document.kind`.
    pub kind: &'static str,
    /// `document.owner_key`.
    pub key: String,
    pub project: String,
    pub container: Option<String>,
}

impl Doc {
    pub fn container(project: &str, container: &str) -> Self {
        Self {
            base: format!("/api/v1/containers/{container}/proxy/permissions"),
            kind: "proxy.container",
            key: container.to_owned(),
            project: project.to_owned(),
            container: Some(container.to_owned()),
        }
    }

    pub fn project(project: &str) -> Self {
        Self {
            base: format!("/api/v1/projects/{project}/proxy/permissions"),
            kind: "proxy.project",
            key: project.to_owned(),
            project: project.to_owned(),
            container: None,
        }
    }

    /// The path `suffix` under the document (`""`, `/default`, `/groups/a/ip`…).
    pub fn at(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.base)
    }

    /// A whole-document body with this document's ids and `extra` merged in.
    pub fn whole(&self, extra: Value) -> Value {
        let mut b = json!({"project": self.project, "groups": {}, "permissions": {}});
        if let Some(c) = &self.container {
            b["container"] = json!(c);
        }
        for (k, v) in extra.as_object().unwrap() {
            b[k] = v.clone();
        }
        b
    }

    /// Every write route of the document (12; with GET the scope's 13), each with a valid body.
    pub fn writes(&self) -> Vec<(Method, String, Option<Value>)> {
        vec![
            (Method::PUT, self.at(""), Some(self.whole(json!({"default": "allow"})))),
            (Method::DELETE, self.at(""), None),
            (Method::DELETE, self.at("/groups/g1"), None),
            (Method::PUT, self.at("/groups/g1/password"), Some(json!({"username": "u", "password": "p", "salt": "s"}))),
            (Method::PUT, self.at("/groups/g1/token"), Some(json!({"header": "X-Key", "value": "v"}))),
            (
                Method::PUT,
                self.at("/groups/g1/jwt"),
                Some(json!({"secret": "k", "algorithm": "HS256", "sources": ["header:Authorization"]})),
            ),
            (Method::PUT, self.at("/groups/g1/ip"), Some(json!({"range": "10.0.0.0/8"}))),
            (Method::PUT, self.at("/permissions/g1"), Some(json!({"program": "http", "access": true}))),
            (Method::DELETE, self.at("/permissions/g1"), None),
            (Method::DELETE, self.at("/permissions/g1/http"), None),
            (Method::PATCH, self.at("/default"), Some(json!({"default": "deny"}))),
            (Method::PATCH, self.at("/state"), Some(json!({"enable_proxy": false}))),
        ]
    }
}

pub struct Fx {
    pub app: TestApp,
    pub owner: Session,
    pub project: String,
    pub container: String,
}

impl std::ops::Deref for Fx {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.app
    }
}

/// The app (reconciler held off), a registered server, a user with one project holding one
/// running container (a row, no instance).
pub async fn fx() -> Fx {
    let app = TestApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
    })
    .await;
    let server_id = hoody_api::db::new_id();
    hoody_api::db::servers::insert(&app.db, &server_id, "edge-node-1", "test").await.unwrap();
    let owner = user(&app, "owner").await;
    let project = project(&app, &owner.token, "Proxy").await;
    let container = seed_container(&app, &server_id, &project, "web-1").await;
    Fx { app, owner, project, container }
}

impl Fx {
    pub fn cdoc(&self) -> Doc {
        Doc::container(&self.project, &self.container)
    }

    pub fn pdoc(&self) -> Doc {
        Doc::project(&self.project)
    }
}

/// A verified user inserted directly (no signup mail, no rate limit).
pub async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

pub async fn project(app: &TestApp, token: &str, alias: &str) -> String {
    let r = app.post_auth("/api/v1/projects/", token, Some(json!({"alias": alias}))).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

/// A running container row without an instance.
pub async fn seed_container(app: &TestApp, server_id: &str, project: &str, name: &str) -> String {
    let mut n = NewContainer::new(project, server_id, name.to_owned(), "hoody-busybox".to_owned());
    n.status = "running";
    insert(&app.db, &n).await.unwrap();
    n.container_id
}

/// A request with `if-match` (when given) and a bearer token.
pub async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    if_match: Option<&str>,
    body: Option<Value>,
) -> Resp {
    match if_match {
        Some(m) => app.request_with(method, path, Some(token), &[("if-match", m)], body).await,
        None => app.request(method, path, Some(token), body).await,
    }
}

/// A write at version `v` (`if-match: file:v<v>`).
pub async fn write_at(app: &TestApp, method: Method, path: &str, token: &str, v: i64, body: Option<Value>) -> Resp {
    send(app, method, path, token, Some(&format!("file:v{v}")), body).await
}

/// The document's current version and body as stored (`(0, None)`: no row).
pub async fn stored(app: &TestApp, doc: &Doc) -> (i64, Option<Value>) {
    let row: Option<(i64, Option<Value>)> =
        sqlx::query_as("select version, body from document where kind = $1 and owner_key = $2")
            .bind(doc.kind)
            .bind(&doc.key)
            .fetch_optional(&app.db)
            .await
            .unwrap();
    row.unwrap_or((0, None))
}

/// The versions kept in `document_version`, oldest first.
pub async fn kept(app: &TestApp, doc: &Doc) -> Vec<i64> {
    sqlx::query_scalar("select version from document_version where kind = $1 and owner_key = $2 order by version")
        .bind(doc.kind)
        .bind(&doc.key)
        .fetch_all(&app.db)
        .await
        .unwrap()
}

/// The events written about the document, as `(event_type, data)` in version order.
pub async fn events(app: &TestApp, doc: &Doc) -> Vec<(String, Value)> {
    sqlx::query_as(
        "select event_type, data from event where resource_type = 'proxy_permissions' and resource_id = $1 \
         order by (data->>'file_version')::bigint",
    )
    .bind(&doc.key)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The paths of the failing fields of an error answer.
pub fn fields(r: &Resp) -> Vec<String> {
    r.body["details"]["fields"]
        .as_array()
        .map(|a| a.iter().map(|f| f["path"].as_str().unwrap_or_default().to_owned()).collect())
        .unwrap_or_default()
}

/// A 422 naming `field`.
#[track_caller]
pub fn names(r: &Resp, field: &str, what: &str) {
    assert_eq!(r.status.as_u16(), 422, "{what}: expected 422 naming {field}: {}", r.text);
    r.expect(422);
    assert_eq!(r.code(), "validation_failed", "{what}: {}", r.text);
    assert!(fields(r).iter().any(|f| f == field), "{what}: expected {field} among {:?}: {}", fields(r), r.text);
}

/// The message of the failing field `field` (empty when it is not named).
pub fn message(r: &Resp, field: &str) -> String {
    r.body["details"]["fields"]
        .as_array()
        .and_then(|a| a.iter().find(|f| f["path"] == field))
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// sha256(salt + password) as lowercase hex.
pub fn hash(salt: &str, password: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    h.update(salt.as_bytes());
    h.update(password.as_bytes());
    hex::encode(h.finalize())
}
