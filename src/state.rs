//! What every handler shares.

use std::{
    ops::Deref,
    sync::{atomic::AtomicBool, Arc},
};

use sqlx::PgPool;

use crate::{
    auth::crypto::SecretBox,
    auth::jwt::JwtKeys,
    auth::password::Hasher,
    auth::signing::Signer,
    config::Config,
    db::hot::HotConnections,
    mail::Mailer,
    metrics::Metrics,
    writeback::{activity::ActivityQueue, token_use::TokenUseQueue, Queue},
};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    /// Dedicated connections for the principal lookup on every authenticated request.
    pub hot: HotConnections,
    pub cfg: Config,
    pub jwt: JwtKeys,
    pub hasher: Hasher,
    /// Encrypts secrets at rest (TOTP secrets, host client keys, vault values).
    pub sealer: SecretBox,
    pub mailer: Mailer,
    /// The Ed25519 key behind response signatures and identity claims.
    pub signer: Signer,
    /// Auth token last use, written behind the request.
    pub token_use: TokenUseQueue,
    /// One record per authenticated request, written behind it.
    pub activity: ActivityQueue,
    pub metrics: Metrics,
    /// The container hosts, built from the servers registry on first use.
    pub hosts: crate::host::registry::Hosts,
    /// The principals recent requests authenticated as (`auth::cache`).
    pub principals: crate::auth::cache::PrincipalCache,
    /// Who holds which resource's host work (the runner's locks).
    pub host_locks: crate::lifecycle::runner::HostLocks,
    /// Container states read from hosts, kept 2 s (`?runtime=`).
    pub runtime_cache: crate::lifecycle::RuntimeCache,
    /// Migrations applied: the database is usable.
    pub migrated: Arc<AtomicBool>,
    /// When this process started.
    pub started_at: chrono::DateTime<chrono::Utc>,
    /// Set on SIGTERM: readiness fails at once while in-flight requests finish.
    pub draining: AtomicBool,
    /// Resolves the host names the address rules check (proxy targets); the system's by default.
    pub resolver: Arc<dyn crate::resolver::Resolver>,
    /// The event stream's sockets in this process (`crate::stream`).
    pub stream: Arc<crate::stream::Hub>,
    /// This replica's name in worker leases (`crate::lease`): new each start.
    pub replica_id: String,
}

impl AppState {
    pub fn new(db: PgPool, cfg: Config, migrated: Arc<AtomicBool>) -> anyhow::Result<Self> {
        Self::with_resolver(db, cfg, migrated, Arc::new(crate::resolver::SystemResolver::default()))
    }

    /// As [`AppState::new`], with another resolver (tests use a fixed map: these machines have no DNS).
    pub fn with_resolver(
        db: PgPool,
        cfg: Config,
        migrated: Arc<AtomicBool>,
        resolver: Arc<dyn crate::resolver::Resolver>,
    ) -> anyhow::Result<Self> {
        let hot =
            HotConnections::new(db.connect_options().as_ref().clone(), cfg.db_hot_connections, cfg.db_acquire_timeout);
        let jwt = JwtKeys::load(cfg.jwt_secret.as_ref().map(crate::secret::Secret::as_str), &cfg.data_dir)?;
        let hasher = Hasher::new(cfg.hash_threads)?;
        let sealer = SecretBox::load(cfg.secret_key.as_ref().map(crate::secret::Secret::as_str), &cfg.data_dir)?
            .with_previous(&cfg.secret_key_previous)?;
        let mailer = Mailer::new(&cfg)?;
        let signer = Signer::load(cfg.signing_key.as_ref().map(crate::secret::Secret::as_str), &cfg.data_dir)?;
        let hosts = crate::host::registry::Hosts::new(cfg.host_limits);
        let hold = cfg.writeback_hold_rows;
        let cfg_principal_ttl = cfg.principal_cache_ttl;
        let cfg_runtime_ttl = cfg.runtime_cache_ttl;
        Ok(Self(Arc::new(Inner {
            db,
            hot,
            cfg,
            jwt,
            hasher,
            sealer,
            mailer,
            signer,
            token_use: Queue::new(10_000, hold),
            activity: Queue::new(10_000, hold),
            metrics: Metrics::default(),
            hosts,
            principals: crate::auth::cache::PrincipalCache::new(cfg_principal_ttl),
            host_locks: Default::default(),
            runtime_cache: crate::lifecycle::RuntimeCache::new(cfg_runtime_ttl),
            migrated,
            started_at: chrono::Utc::now(),
            draining: AtomicBool::new(false),
            resolver,
            stream: Default::default(),
            replica_id: crate::db::new_id(),
        })))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
