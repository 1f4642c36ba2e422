//! The `containers` and `env` tags, one file per route or verb: `create` (refusals, generated
//! names, uniqueness, quota, prespawned containers and their claim), `read` (the lists: paging,
//! sorting, filters, realms), `update`, `delete`, `env`, `network` (the settings as LXD holds
//! them), `copy`, `authorize` (the signed access claim), `kvm`; `access` (who may reach a
//! container: owner, grantees by level, tokens by leaf, everyone else 404); `lifecycle` (a
//! container's whole life, checked with what LXD reports); `runner` (the host-operation runner);
//! `faults` (a misbehaving host) and `reconciler` (what LXD reports becomes the status); `warm_pool`
//! (instances kept ready per server and image, claimed by creates).
//!
//! Real instances are made only where the host must act; rows that only the API reads are
//! inserted directly (with the reconciler held off so it leaves them alone).

mod access;
mod authorize;
mod copy;
mod create;
mod delete;
mod env;
mod faults;
mod kvm;
mod lifecycle;
mod network;
mod read;
mod reconciler;
mod runner;
mod update;
mod warm_pool;

use std::time::Duration;

use hoody_api::db::containers::{insert, NewContainer};
use serde_json::Value;

use crate::{
    fixtures::LxdApp,
    harness::{Resp, Session, TestApp, PASSWORD},
};

const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@host";

const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@host";

const KEY_C: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICcccccccccccccccccccccccccccccccccccccccccccc c@host";

/// The app on the local LXD with the reconciler held off (inserted rows have no instance).
async fn spawn() -> LxdApp {
    LxdApp::spawn_with(|c| c.reconcile_interval = Duration::from_secs(3600)).await
}

/// A second, verified user (inserted directly: no signup mail, no rate limit).
async fn user(app: &TestApp, tag: &str) -> Session {
    let email = format!("{tag}@example.com");
    app.seed_user(&email, tag, PASSWORD).await;
    app.login(&email, PASSWORD).await
}

/// A container row without an instance, for routes that only read or refuse.
async fn seed(
    app: &LxdApp,
    project: &str,
    name: &str,
    status: &'static str,
    f: impl FnOnce(&mut NewContainer),
) -> String {
    let mut n = NewContainer::new(project, &app.server_id, name.to_owned(), "hoody-busybox".to_owned());
    n.status = status;
    f(&mut n);
    insert(&app.db, &n).await.unwrap();
    n.container_id
}

async fn count(app: &TestApp) -> i64 {
    sqlx::query_scalar("select count(*) from container").fetch_one(&app.db).await.unwrap()
}

async fn new_project(app: &TestApp, token: &str, body: Value) -> String {
    let r = app.post_auth("/api/v1/projects/", token, Some(body)).await;
    r.expect(201);
    r.data()["id"].as_str().unwrap().to_owned()
}

fn names(r: &Resp) -> Vec<String> {
    r.data()["containers"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect()
}

fn ids(r: &Resp) -> Vec<String> {
    r.data()["containers"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}
