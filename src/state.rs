//! What every handler shares.

use std::{
    ops::Deref,
    sync::{atomic::AtomicBool, Arc},
};

use sqlx::PgPool;

use crate::{auth::jwt::JwtKeys, auth::password::Hasher, config::Config, mail::Mailer, metrics::Metrics};

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: PgPool,
    pub cfg: Config,
    pub jwt: JwtKeys,
    pub hasher: Hasher,
    pub mailer: Mailer,
    pub metrics: Metrics,
    /// Migrations applied: the database is usable.
    pub migrated: Arc<AtomicBool>,
    /// Set on SIGTERM: readiness fails at once while in-flight requests finish.
    pub draining: AtomicBool,
}

impl AppState {
    pub fn new(db: PgPool, cfg: Config, migrated: Arc<AtomicBool>) -> anyhow::Result<Self> {
        let jwt = JwtKeys::load(cfg.jwt_secret.as_deref(), &cfg.data_dir)?;
        let hasher = Hasher::new(cfg.hash_threads)?;
        let mailer = Mailer::new(&cfg)?;
        Ok(Self(Arc::new(Inner {
            db,
            cfg,
            jwt,
            hasher,
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
