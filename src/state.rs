//! What every handler shares.

use std::{
    ops::Deref,
    sync::{atomic::AtomicBool, Arc},
};

use sqlx::PgPool;

use crate::{
    auth::crypto::SecretBox, auth::jwt::JwtKeys, auth::password::Hasher, config::Config, db::hot::HotConnections,
    mail::Mailer, metrics::Metrics,
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
    /// Encrypts secrets at rest (TOTP secrets).
    pub sealer: SecretBox,
    pub mailer: Mailer,
    pub metrics: Metrics,
    /// Migrations applied: the database is usable.
    pub migrated: Arc<AtomicBool>,
    /// Set on SIGTERM: readiness fails at once while in-flight requests finish.
    pub draining: AtomicBool,
}

impl AppState {
    pub fn new(db: PgPool, cfg: Config, migrated: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let hot =
            HotConnections::new(db.connect_options().as_ref().clone(), cfg.db_hot_connections, cfg.db_acquire_timeout);
        let jwt = JwtKeys::load(cfg.jwt_secret.as_deref(), &cfg.data_dir)?;
        let hasher = Hasher::new(cfg.hash_threads)?;
        let sealer = SecretBox::load(cfg.secret_key.as_deref(), &cfg.data_dir)?;
        let mailer = Mailer::new(&cfg)?;
        Ok(Self(Arc::new(Inner {
            db,
            hot,
            cfg,
            jwt,
            hasher,
            sealer,
            mailer,
            metrics: Metrics::default(),
            migrated,
            draining: AtomicBool::new(false),
        })))
    }
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
