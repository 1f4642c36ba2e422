//! One integration binary: the app on a random port, a fresh database per test.
//!
//! Every test that drives LXD runs on a multi-threaded runtime (two workers): the app runs on the test's own
//! runtime, and a test that calls `lxc` synchronously must not freeze it. On one thread, a
//! background host call of the app that had just connected to LXD's unix socket would never
//! send its request; LXD 5.0.2 reads the first bytes of each new connection inside its accept
//! loop (its STARTTLS listener's Peek, with no deadline), so every other client, the test's
//! `lxc` among them, waited behind it: the LXD stalls of minutes seen before (shown by a
//! goroutine dump, `ss -xp` naming the test process as the silent peer).

// Tests may unwrap: a panic is the failure report (STYLE.md 3.8 exempts tests).
#![allow(clippy::unwrap_used)]
// Tests build stand-in servers (OAuth providers, tiny routers) with axum's own extractors.
#![allow(clippy::disallowed_types)]

mod firewall;
mod fixtures;
mod harness;

mod activity;
mod ai;
mod aliases;
mod auth_device;
mod auth_intent;
mod auth_launch;
mod auth_login;
mod auth_oauth;
mod auth_password;
mod auth_pkce_code;
mod auth_session;
mod auth_signup;
mod auth_verify;
mod bad_input;
mod bench_reconcile;
mod cli_shapes;
mod containers;
mod contract_shapes;
mod docs_browser;
mod documents;
mod embedded_postgres;
mod errors;
mod events;
mod free_tier;
mod hardening;
mod host_lxd;
mod http_basics;
mod idempotency;
mod images;
mod invites;
mod leases;
mod logs;
mod mail_addresses;
mod mail_smtp;
mod meta;
mod metrics;
mod network_targets;
mod notifications;
mod openapi_doc;
mod outage;
mod permissions;
mod placement;
mod pools;
mod projects;
mod proxy;
mod quotas;
mod reliability;
mod rentals;
mod replicas;
mod server_commands;
mod servers;
mod shares;
mod tfa;
mod tokens;
mod users;
mod users_cli;
mod users_me;
mod utilities_ip;
mod vault;
mod waitlist;
mod wallet;
