//! One integration binary: the app on a random port, a fresh database per test.

// Tests may unwrap: a panic is the failure report (STYLE.md 3.8 exempts tests).
#![allow(clippy::unwrap_used)]

mod fixtures;
mod harness;

mod activity;
mod auth_intent;
mod auth_launch;
mod auth_login;
mod auth_oauth;
mod auth_password;
mod auth_session;
mod auth_signup;
mod auth_verify;
mod bad_input;
mod containers_api;
mod containers_faults;
mod containers_lifecycle;
mod embedded_postgres;
mod free_tier;
mod hardening;
mod host_lxd;
mod http_basics;
mod idempotency;
mod logs;
mod mail_addresses;
mod mail_smtp;
mod meta;
mod network_targets;
mod openapi_doc;
mod outage;
mod permissions;
mod projects;
mod reliability;
mod servers;
mod tfa;
mod tokens;
mod users;
mod users_cli;
mod utilities_ip;
