//! The database: pool, migrations, the embedded cluster, ids and timestamps.

pub mod activity;
pub mod auth_codes;
pub mod auth_tokens;
pub mod containers;
pub mod device;
pub mod documents;
pub mod email_tokens;
pub mod embedded;
pub mod events;
pub mod firewall;
pub mod free_tier;
pub mod github_bonus;
pub mod host_ops;
pub mod hot;
pub mod idempotency;
pub mod image_publish;
pub mod images;
pub mod invites;
pub mod invoices;
pub mod leases;
pub mod ledger;
pub mod mail;
pub mod notifications;
pub mod oauth;
pub mod payment_intents;
pub mod payment_methods;
pub mod permissions;
pub mod pools;
pub mod projects;
pub mod proxy_aliases;
pub mod proxy_file;
pub mod quotas;
pub mod rate_limits;
pub mod realms;
pub mod regions;
pub mod rentals;
pub mod security_events;
pub mod server_commands;
pub mod servers;
pub mod sessions;
pub mod snapshots;
pub mod status_log;
pub mod storage_shares;
pub mod two_factor;
pub mod users;
pub mod vault;
pub mod waitlist;
pub mod warm_pool;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use chrono::{DateTime, SecondsFormat, Utc};
use rand::RngCore;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use crate::config::Config;

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A lazily connecting pool: the server starts (and answers `/healthz`) while the database is away.
pub fn pool(cfg: &Config, opts: PgConnectOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(cfg.db_max_connections)
        .min_connections(0)
        .acquire_timeout(cfg.db_acquire_timeout)
        // A ping before every checkout would double the round trips of the hot path; a broken
        // connection surfaces as an error (503) and is dropped instead.
        .test_before_acquire(false)
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(opts)
}

/// Apply migrations, retrying while the database is unreachable. One log line per 10 s at most.
pub async fn migrate_with_retry(pool: &PgPool, ready: Arc<AtomicBool>) {
    let mut last_log: Option<tokio::time::Instant> = None;
    loop {
        match MIGRATOR.run(pool).await {
            Ok(()) => {
                ready.store(true, Ordering::SeqCst);
                tracing::info!("database migrations applied");
                return;
            }
            Err(e) => {
                if last_log.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "database not ready; retrying migrations");
                    last_log = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A new public id: 24 lowercase hex characters from 12 CSPRNG bytes.
pub fn new_id() -> String {
    let mut b = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// True for a well-formed public id.
pub fn is_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// RFC 3339 UTC with milliseconds: `2026-11-26T18:00:00.000Z`.
pub fn ts(dt: DateTime<Utc>) -> String {
    dt.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A duration as an `interval` parameter (the type `query!` checks for one).
pub fn interval<D>(d: D) -> sqlx::Result<sqlx::postgres::types::PgInterval>
where
    sqlx::postgres::types::PgInterval: TryFrom<D, Error = sqlx::error::BoxDynError>,
{
    sqlx::postgres::types::PgInterval::try_from(d).map_err(sqlx::Error::Encode)
}

/// One round trip to the database (readiness).
pub async fn ping(db: impl sqlx::PgExecutor<'_>) -> sqlx::Result<()> {
    sqlx::query_scalar!(r#"select 1 as "one!""#).fetch_one(db).await?;
    Ok(())
}
