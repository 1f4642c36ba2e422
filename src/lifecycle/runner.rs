//! The host-operation runner: the one place that does "record the intent → call the host with no
//! transaction open → record the result, its status log and its events".
//!
//! A piece of host work is a [`HostOp`]: what it locks, what it records first, what it does on
//! the host, and what it records after. [`run`] does the rest, in this order, inside a task of
//! its own (a client that hangs up, or the request timeout, cannot cut it short):
//!
//! 1. take the op's locks: host changes to one resource never overlap (several resources are
//!    locked in key order). Within a replica waiters queue in order; across replicas a lease row
//!    per key (`host_lock`) decides. Waiting longer than `HOODY_HOST_LOCK_WAIT_SECS` is a 409
//!    `container_busy` with Retry-After, and nothing is done;
//! 2. one transaction: the journal row (`host_op`, `running`) and the op's [`HostOp::intent`]
//!    (e.g. the status change to `deleting`); an error here stops everything, nothing was done;
//! 3. [`HostOp::work`] against the host, no transaction open, within `HOODY_HOST_OP_DEADLINE_SECS`;
//! 4. one transaction: [`HostOp::done`] or [`HostOp::failed`] (rows, status log, events) and the
//!    journal row's outcome;
//! 5. the locks go.
//!
//! A process that dies mid-way leaves a `running` journal row and leases that lapse; the
//! reconciler takes the resource over from there.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::OwnedMutexGuard;
use tracing::Instrument;

use super::{detached, Trigger};
use crate::{
    db::{host_ops, new_id},
    error::ApiError,
    events::Tx,
    state::AppState,
};

type Result<T, E = ApiError> = std::result::Result<T, E>;

/// A resource whose host changes are serialised: `container:<id>` and, as they come, networks,
/// shares, images.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockKey(String);

impl LockKey {
    pub fn container(id: &str) -> Self {
        Self(format!("container:{id}"))
    }

    pub fn new(kind: &str, id: &str) -> Self {
        Self(format!("{kind}:{id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One piece of host work. Only [`HostOp::work`] talks to a host; the other steps get a
/// transaction and must not.
pub trait HostOp: Send + 'static {
    /// What `work` hands back to the caller.
    type Out: Send + 'static;

    /// A short name for the journal and the logs (`container.start`).
    fn kind(&self) -> &'static str;

    /// The resources this work must not overlap with on the host.
    fn locks(&self) -> Vec<LockKey>;

    fn trigger(&self) -> &Trigger;

    /// Under the locks, before the host is called: check what the database says now and record
    /// the intent. An error stops the op here: nothing happens on the host.
    fn intent(&mut self, st: &AppState, tx: &mut Tx) -> impl Future<Output = Result<()>> + Send {
        let _ = (st, tx);
        async { Ok(()) }
    }

    /// The host work itself, with no transaction open.
    fn work(&mut self, st: &AppState) -> impl Future<Output = Result<Self::Out>> + Send;

    /// Record what the work did: rows, status log and events, in one transaction.
    fn done(&mut self, st: &AppState, tx: &mut Tx, out: &Self::Out) -> impl Future<Output = Result<()>> + Send {
        let _ = (st, tx, out);
        async { Ok(()) }
    }

    /// Record that the work failed (or ran out of time), in one transaction.
    fn failed(&mut self, st: &AppState, tx: &mut Tx, e: &ApiError) -> impl Future<Output = Result<()>> + Send {
        let _ = (st, tx, e);
        async { Ok(()) }
    }
}

/// Run `op` as the module says and hand back what its work returned (or why not).
pub async fn run<O: HostOp>(st: &AppState, mut op: O) -> Result<O::Out> {
    let st = st.clone();
    let keys = sorted_keys(op.locks());
    let span =
        tracing::info_span!("host_op", kind = op.kind(), keys = ?keys.iter().map(LockKey::as_str).collect::<Vec<_>>());
    detached(
        async move {
            let op_id = new_id();
            let held = st.host_locks.acquire(&st, &keys, &op_id, st.cfg.host_lock_wait).await?;
            let outcome = steps(&st, &mut op, &keys, &op_id).await;
            held.release(&st).await;
            outcome
        }
        .instrument(span),
    )
    .await
}

async fn steps<O: HostOp>(st: &AppState, op: &mut O, keys: &[LockKey], op_id: &str) -> Result<O::Out> {
    let mut tx = st.db.begin().await?;
    let names: Vec<&str> = keys.iter().map(LockKey::as_str).collect();
    host_ops::begin(&mut *tx, op_id, op.kind(), &names, &op.trigger().0).await?;
    op.intent(st, &mut tx).await?;
    tx.commit().await?;

    let out = match tokio::time::timeout(st.cfg.host_op_deadline, op.work(st)).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!(op = %op_id, "host work ran past its deadline");
            Err(ApiError::HostTimeout)
        }
    };

    let mut tx = st.db.begin().await?;
    let (state, reason) = match &out {
        Ok(o) => {
            op.done(st, &mut tx, o).await?;
            ("done", None)
        }
        Err(e) => {
            op.failed(st, &mut tx, e).await?;
            ("failed", Some(super::reason_of(e)["reason"].as_str().unwrap_or("failed").to_owned()))
        }
    };
    host_ops::finish(&mut *tx, op_id, state, reason.as_deref()).await?;
    // Whatever the op did or failed to do, a container's host state read before it is stale,
    // here and on every other replica.
    for id in keys.iter().filter_map(|k| k.as_str().strip_prefix("container:")) {
        crate::invalidate::runtime_changed(&mut tx, id).await?;
    }
    tx.commit().await?;
    for id in keys.iter().filter_map(|k| k.as_str().strip_prefix("container:")) {
        st.runtime_cache.forget(id);
    }
    out
}

fn sorted_keys(mut keys: Vec<LockKey>) -> Vec<LockKey> {
    keys.sort();
    keys.dedup();
    keys
}

/// The locks of every op in this process (an ordered queue per key), backed by lease rows that
/// hold across replicas.
#[derive(Default)]
pub struct HostLocks {
    local: Mutex<HashMap<LockKey, Arc<tokio::sync::Mutex<()>>>>,
}

/// Locks held by one op; [`Held::release`] gives them back (a drop without it frees the local
/// ones, and the lease rows lapse).
pub struct Held {
    op_id: String,
    local: Vec<OwnedMutexGuard<()>>,
    leased: bool,
}

impl Held {
    pub async fn release(mut self, st: &AppState) {
        if self.leased {
            if let Err(e) = host_ops::release(&st.db, &self.op_id).await {
                tracing::warn!(error = %e, "host locks not released; they lapse with their lease");
            }
            self.leased = false;
        }
        self.local.clear();
        st.host_locks.forget_idle();
    }
}

fn busy() -> ApiError {
    ApiError::Busy {
        code: "container_busy",
        message: "Another change to this container is running on its host; try again shortly".into(),
        retry_after_secs: 2,
    }
}

impl HostLocks {
    fn slot(&self, key: &LockKey) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(map.entry(key.clone()).or_default())
    }

    /// Drop the queues nobody holds or waits on.
    fn forget_idle(&self) {
        let mut map = self.local.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, m| Arc::strong_count(m) > 1);
    }

    /// Take every key (sorted), waiting up to `wait`; 409 `container_busy` after that.
    pub async fn acquire(&self, st: &AppState, keys: &[LockKey], op_id: &str, wait: Duration) -> Result<Held> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut held = Held { op_id: op_id.to_owned(), local: Vec::new(), leased: false };
        for key in keys {
            let slot = self.slot(key);
            match tokio::time::timeout_at(deadline, slot.lock_owned()).await {
                Ok(g) => held.local.push(g),
                Err(_) => {
                    held.release(st).await;
                    return Err(busy());
                }
            }
        }
        let mut pause = Duration::from_millis(20);
        loop {
            if lease(st, keys, op_id).await? {
                held.leased = true;
                return Ok(held);
            }
            if tokio::time::Instant::now() + pause >= deadline {
                held.release(st).await;
                return Err(busy());
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(500));
        }
    }

    /// Take every key now or not at all (the reconciler: a resource in someone's hands is
    /// skipped this pass).
    pub async fn try_acquire(&self, st: &AppState, keys: &[LockKey], op_id: &str) -> Result<Option<Held>> {
        let mut held = Held { op_id: op_id.to_owned(), local: Vec::new(), leased: false };
        for key in keys {
            match self.slot(key).try_lock_owned() {
                Ok(g) => held.local.push(g),
                Err(_) => {
                    held.release(st).await;
                    return Ok(None);
                }
            }
        }
        if lease(st, keys, op_id).await? {
            held.leased = true;
            Ok(Some(held))
        } else {
            held.release(st).await;
            Ok(None)
        }
    }
}

/// All keys' lease rows for `op_id`, or none: a key held by a live lease elsewhere makes this
/// give back what it took. Rows are taken in key order, so two takers cannot deadlock.
async fn lease(st: &AppState, keys: &[LockKey], op_id: &str) -> Result<bool> {
    let names: Vec<&str> = keys.iter().map(LockKey::as_str).collect();
    // Long enough for the wait, the work and the two transactions; a dead process's lapse.
    let secs = (st.cfg.host_lock_wait + st.cfg.host_op_deadline).as_secs_f64() + 30.0;
    let got = host_ops::lease(&st.db, &names, op_id, secs).await?;
    if got.len() == keys.len() {
        return Ok(true);
    }
    if !got.is_empty() {
        host_ops::release(&st.db, op_id).await?;
    }
    Ok(false)
}
