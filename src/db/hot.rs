//! A few dedicated connections for the per-request principal lookup.
//!
//! sqlx's pool pings every connection when it is released (one more round trip and a spawned
//! task per query). The one read every authenticated request makes (a user and one of its
//! sessions, or a token and its owner by the secret's hash) goes through these instead: each
//! connection is held behind a lock and reused as is; a broken one is reconnected on its next
//! use. Everything else uses the pool.

use std::{
    future::Future,
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::{postgres::PgConnectOptions, ConnectOptions, PgConnection};
use tokio::sync::Mutex;

use super::users::{self, SessionUser};
use crate::auth::tokens::{self, TokenWithUser};

pub struct HotConnections {
    opts: PgConnectOptions,
    slots: Vec<Mutex<Option<PgConnection>>>,
    next: AtomicUsize,
    wait: Duration,
}

impl HotConnections {
    pub fn new(opts: PgConnectOptions, size: usize, wait: Duration) -> Self {
        let opts = opts.disable_statement_logging();
        Self { opts, slots: (0..size.max(1)).map(|_| Mutex::new(None)).collect(), next: AtomicUsize::new(0), wait }
    }

    /// The user row by id with the liveness of one of its sessions, as `users::by_session`
    /// reads it (one query).
    pub async fn session_user(&self, user_id: &str, sid: &str) -> sqlx::Result<Option<SessionUser>> {
        let (id, sid) = (user_id.to_owned(), sid.to_owned());
        self.run(move |conn| Box::pin(async move { users::by_session(conn, &id, &sid).await })).await
    }

    /// An auth token and its owner by the presented secret.
    pub async fn token_by_secret(&self, secret: &str) -> sqlx::Result<Option<TokenWithUser>> {
        let secret = secret.to_owned();
        self.run(move |conn| Box::pin(async move { tokens::by_secret(conn, &secret).await })).await
    }

    /// Run one query on a free dedicated connection (or wait, bounded, for the next in turn).
    async fn run<'a, T>(
        &self,
        query: impl for<'c> FnOnce(&'c mut PgConnection) -> Pin<Box<dyn Future<Output = sqlx::Result<T>> + Send + 'c>> + 'a,
    ) -> sqlx::Result<T> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        let mut guard = match (0..n).find_map(|i| self.slots[(start + i) % n].try_lock().ok()) {
            Some(g) => g,
            None => tokio::time::timeout(self.wait, self.slots[start % n].lock())
                .await
                .map_err(|_| sqlx::Error::PoolTimedOut)?,
        };
        if guard.is_none() {
            let conn =
                tokio::time::timeout(self.wait, self.opts.connect()).await.map_err(|_| sqlx::Error::PoolTimedOut)??;
            *guard = Some(conn);
        }
        let Some(conn) = guard.as_mut() else { return Err(sqlx::Error::PoolTimedOut) };
        match tokio::time::timeout(self.wait, query(conn)).await {
            Ok(Ok(row)) => Ok(row),
            Ok(Err(e)) => {
                if !matches!(e, sqlx::Error::RowNotFound | sqlx::Error::Database(_)) {
                    // The connection may be broken or mid-message: start afresh next time.
                    *guard = None;
                }
                Err(e)
            }
            Err(_) => {
                *guard = None;
                Err(sqlx::Error::PoolTimedOut)
            }
        }
    }
}
