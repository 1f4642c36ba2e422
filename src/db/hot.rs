//! A few dedicated connections for the per-request principal lookup.
//!
//! sqlx's pool pings every connection when it is released (one more round trip and a spawned
//! task per query). The one read every authenticated request makes goes through these instead:
//! each connection is held behind a lock and reused as is; a broken one is reconnected on its
//! next use. Everything else uses the pool.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use sqlx::{postgres::PgConnectOptions, ConnectOptions, PgConnection};
use tokio::sync::Mutex;

use super::users::{self, UserRow};

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

    /// The user row by id, as `users::by_id` reads it.
    pub async fn user_by_id(&self, user_id: &str) -> sqlx::Result<Option<UserRow>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        // A free connection if there is one, else wait (bounded) for the next in turn.
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
        match tokio::time::timeout(self.wait, users::by_id(&mut *conn, user_id)).await {
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
