//! The `proxyAliases` tag: `create` (names, defaults, every bad field with nothing stored,
//! uniqueness, the account cap, concurrent creates), `read` (the list's filters and shape, one
//! alias, expiry), `change` (partial updates, enable/disable, reserved names, claims, delete),
//! `access` (tokens by leaf, grantees by level, other users 404, realms, a container's deletion)
//! and `domains` (`include_proxy_domains` on the container reads).
//!
//! Aliases need only container rows (the edge proxy reads them; no host work), so containers are
//! inserted directly on a registered server row, with the reconciler held off.

mod access;
mod change;
mod create;
mod domains;
mod read;

use std::time::Duration;

use hoody_api::{
    config::Config,
    db::containers::{insert, NewContainer},
};
use reqwest::Method;
use serde_json::{json, Value};

use crate::harness::{Resp, Session, TestApp, PASSWORD};

pub const BASE: &str = "/api/v1/proxy/aliases";
pub const SERVER: &str = "edge-node-1";

pub struct Fx {
    pub app: TestApp,
    pub server_id: String,
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

/// The app (reconciler held off, `adjust` applied), a registered server, a user with one
/// project holding one running container.
pub async fn fx_with(adjust: impl FnOnce(&mut Config)) -> Fx {
    let app = TestApp::spawn_with(|c| {
        c.reconcile_interval = Duration::from_secs(3600);
        c.containers_domain = "containers.test.example".into();
        adjust(c)
    })
    .await;
    let server_id = hoody_api::db::new_id();
    hoody_api::db::servers::insert(&app.db, &server_id, SERVER, "test").await.unwrap();
    let owner = user(&app, "owner").await;
    let project = project(&app, &owner.token, "Aliases", json!([])).await;
    let mut fx = Fx { app, server_id, owner, project, container: String::new() };
    fx.container = fx.seed(&fx.project.clone(), "web-1", "running", |_| {}).await;
    fx
}

pub async fn fx() -> Fx {
    fx_with(|_| {}).await
}

/// A verified user inserted directly (no signup mail, no rate limit).
pub async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

pub async fn project(app: &TestApp, token: &str, alias: &str, realms: Value) -> String {
    let r = app.post_auth("/api/v1/projects/", token, Some(json!({"alias": alias, "realm_ids": realms}))).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

impl Fx {
    /// A container row without an instance.
    pub async fn seed(
        &self,
        project: &str,
        name: &str,
        status: &'static str,
        f: impl FnOnce(&mut NewContainer),
    ) -> String {
        let mut n = NewContainer::new(project, &self.server_id, name.to_owned(), "hoody-busybox".to_owned());
        n.status = status;
        f(&mut n);
        insert(&self.db, &n).await.unwrap();
        n.container_id
    }

    pub async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(method, path, Some(token), body).await
    }

    /// PATCH alias `id` with `body`.
    pub async fn patch(&self, id: &str, token: &str, body: Value) -> Resp {
        self.call(Method::PATCH, &at(id), token, Some(body)).await
    }

    /// PATCH alias `id`'s state.
    pub async fn state(&self, id: &str, token: &str, enabled: bool) -> Resp {
        self.call(Method::PATCH, &format!("{}/state", at(id)), token, Some(json!({"enabled": enabled}))).await
    }

    /// POST an alias on `container` with `extra` merged into a valid body.
    pub async fn create_on(&self, token: &str, container: &str, extra: Value) -> Resp {
        let mut body = json!({"container_id": container, "program": "exec"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        self.post_auth(BASE, token, Some(body)).await
    }

    /// Create an alias on the fixture's container as its owner; returns its id.
    pub async fn alias(&self, extra: Value) -> String {
        let r = self.create_on(&self.owner.token, &self.container, extra).await;
        r.expect(201);
        r.data()["id"].as_str().unwrap().to_owned()
    }
}

pub fn at(id: &str) -> String {
    format!("{BASE}/{id}")
}

/// Every alias row, as `(alias, program, index, target_path, allow_path_override, enabled)`.
pub async fn rows(app: &TestApp) -> Vec<(String, String, i32, Option<String>, bool, bool)> {
    sqlx::query_as(
        "select alias, program, program_index, target_path, allow_path_override, enabled from proxy_alias order by alias",
    )
    .fetch_all(&app.db)
    .await
    .unwrap()
}

pub async fn count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from proxy_alias").fetch_one(&app.db).await.unwrap()
}

/// The event types written about alias `id`, oldest first.
pub async fn events(app: &TestApp, id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "select event_type from event where resource_type = 'proxy_alias' and resource_id = $1 order by id",
    )
    .bind(id)
    .fetch_all(&app.db)
    .await
    .unwrap()
}

/// The aliases' names in a list answer, in order.
pub fn names(r: &Resp) -> Vec<String> {
    r.data()["aliases"].as_array().unwrap().iter().map(|a| a["alias"].as_str().unwrap().to_owned()).collect()
}

/// The path and message of the first failing field of an error answer.
pub fn field(r: &Resp) -> String {
    r.body["details"]["fields"][0]["path"].as_str().unwrap_or_default().to_owned()
}
