//! The warm pool: per server and image, started instances kept ready so that a create can take
//! one instead of waiting for a launch (`hoody-api servers update <name> --warm-pool <image>=<n>`).
//!
//! A pool instance belongs to nobody until it is claimed: it is a `warm_instance` row, not a
//! container, so no list, count, quota, event or activity sees it; on its host it carries
//! [`WARM_KEY`] instead of the container labels (the reconciler does not see it either).
//!
//! - [`run`], the refill loop, every `HOODY_WARM_POOL_INTERVAL_MS` on the replica holding the
//!   `warm_pool` lease (see [`crate::lease`]; a long pass can outlive it, so two replicas' passes
//!   may overlap): per pool, under a transaction-scoped advisory lock,
//!   it counts ready + launching instances and records the missing ones as `launching`, or marks
//!   the extra ready ones `removing`; then it launches and removes them through the host-operation
//!   runner, a few at a time. Counting and recording under one lock means two replicas never
//!   overfill a pool. A failed launch removes what it made (or leaves the row `removing`, for a
//!   later pass) and backs the pool off; a launch whose process died is given up after the
//!   runner's lease. Each pass also reads each host's pool instances in one call: a ready one that
//!   is gone or stopped is replaced, and one no row knows (nor any container) is removed.
//! - [`claim`], from a create that may take one: in one transaction the caller's quota, one
//!   ready instance taken (`FOR UPDATE SKIP LOCKED`: never the same one twice) and the container
//!   recorded under the instance's id, `creating`; then [`ops::ClaimWarm`] gives the instance the
//!   caller's settings and the container is `running`. An instance never returns to a pool.

pub mod admin;

use std::collections::{BTreeSet, HashSet};

pub use super::ops::warm::WARM_KEY;
use super::{
    born,
    ops::{
        self,
        warm::{lxd_name, LaunchWarm, RemoveWarm},
    },
    Trigger,
};
use crate::{
    db::{containers, containers::NewContainer, new_id, warm_pool},
    error::ApiError,
    quota,
    shutdown::Stop,
    state::AppState,
};

/// Host work (launches and removals) one pass runs at once, over all pools: few, so that a
/// refill leaves the host's time to the claims and creates it serves meanwhile.
const PARALLEL: usize = 2;
/// Launches one pass plans per pool, at most.
const PER_PASS: i64 = 4 * PARALLEL as i64;

/// A pool may not hold more than this.
pub const MAX_SIZE: i32 = 1000;

/// Whether a create can be served from a pool: not a prespawned one (the caller's own hidden
/// spare), not one that asks for a fresh instance (`bypass_prespawn`), for `/dev/kvm` (a device
/// the instance is made with) or to build a cached image (an administrator's clean build).
pub fn may_serve(n: &NewContainer, bypass: bool, cache_image: bool) -> bool {
    !(n.prespawn || n.kvm || bypass || cache_image)
}

/// Serve the create `n` of `owner_id`'s from the pool of its server and image, if one is ready:
/// the container's id, running with the caller's settings; `None` when the pool has none (or
/// there is no pool). The caller's limits apply as to a fresh create.
pub async fn claim(st: &AppState, owner_id: &str, n: &NewContainer, by: &Trigger) -> Result<Option<String>, ApiError> {
    let started = std::time::Instant::now();
    if !warm_pool::any_ready(&st.db, &n.server_id, &n.container_image).await? {
        return Ok(None);
    }
    let mut tx = st.db.begin().await?;
    quota::check(&mut tx, &st.cfg, owner_id, n, 0).await?;
    quota::server_room(&mut tx, &n.server_id, owner_id).await?;
    let Some(id) = warm_pool::take_ready(&mut tx, &n.server_id, &n.container_image).await? else {
        return Ok(None);
    };
    let mut mine = n.clone();
    mine.container_id = id.clone();
    mine.status = super::status::CREATING;
    containers::insert(&mut *tx, &mine).await?;
    let row = containers::by_id(&mut *tx, &id).await?.ok_or(sqlx::Error::RowNotFound)?;
    born(&mut tx, &row, by).await?;
    tx.commit().await?;
    let recorded = started.elapsed();
    super::run(st, ops::ClaimWarm::new(row, by.clone())).await?;
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    tracing::debug!(container = %id, recorded_ms = ms(recorded), total_ms = ms(started.elapsed()), "claimed from the warm pool");
    Ok(Some(id))
}

/// The refill loop (see the module): a pass every `warm_pool_interval` on the replica holding
/// the `warm_pool` lease, until `stop`.
pub async fn run(st: AppState, stop: Stop) {
    // A database or host that stays down is worth a line every 10 s, not every pass.
    let warned = std::sync::Arc::new(std::sync::Mutex::new(None::<std::time::Instant>));
    let period = st.cfg.warm_pool_interval;
    crate::lease::every(st, stop, "warm_pool", period, move |st| {
        let warned = warned.clone();
        async move {
            if !st.migrated.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            if let Err(e) = pass(&st).await {
                let mut at = warned.lock().unwrap_or_else(|p| p.into_inner());
                if at.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(10)) {
                    tracing::warn!(error = %e, "warm pool pass failed");
                    *at = Some(std::time::Instant::now());
                }
            }
        }
    })
    .await
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub launched: usize,
    pub launch_failed: usize,
    pub removed: usize,
}

enum Job {
    Launch(LaunchWarm),
    Remove(RemoveWarm),
}

/// One pass over every pool (and every server and image with instances left).
pub async fn pass(st: &AppState) -> Result<Pass, ApiError> {
    // Without a pool or an instance left this is the only statement a pass runs.
    let groups = warm_pool::groups(&st.db).await?;
    if groups.is_empty() {
        return Ok(Pass::default());
    }
    let stuck_secs = (st.cfg.host_lock_wait + st.cfg.host_op_deadline).as_secs() as i64 + 30;
    let expired = warm_pool::expire_launching(&st.db, stuck_secs).await?;
    if expired > 0 {
        tracing::warn!(expired, "warm pool launches whose process died are given up");
    }
    let mut jobs = Vec::new();
    let servers: BTreeSet<&str> = groups.iter().map(|g| g.server_id.as_str()).collect();
    for server_id in servers {
        match sweep(st, server_id).await {
            Ok(strays) => {
                jobs.extend(strays.into_iter().map(|id| Job::Remove(RemoveWarm::stray(id, server_id.into()))))
            }
            Err(e) => tracing::warn!(server = %server_id, error = %e, "warm pool could not read its host"),
        }
    }
    for g in &groups {
        match plan(st, g).await {
            Ok(ids) => jobs.extend(
                ids.into_iter().map(|id| Job::Launch(LaunchWarm::new(id, g.server_id.clone(), g.image.clone()))),
            ),
            Err(e) => tracing::warn!(server = %g.server_id, image = %g.image, error = %e, "warm pool refill failed"),
        }
    }
    for (id, server_id) in warm_pool::removing(&st.db).await? {
        jobs.push(Job::Remove(RemoveWarm::recorded(id, server_id)));
    }
    let mut running = tokio::task::JoinSet::new();
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        if running.len() >= PARALLEL {
            outcomes.extend(running.join_next().await.and_then(Result::ok));
        }
        let st = st.clone();
        running.spawn(async move {
            match job {
                Job::Launch(op) => (true, log_outcome("launch", super::run(&st, op).await)),
                Job::Remove(op) => (false, log_outcome("remove", super::run(&st, op).await)),
            }
        });
    }
    while let Some(done) = running.join_next().await {
        outcomes.extend(done.ok());
    }
    let mut p = Pass::default();
    for (launch, ok) in outcomes {
        match (launch, ok) {
            (true, true) => p.launched += 1,
            (true, false) => p.launch_failed += 1,
            (false, true) => p.removed += 1,
            (false, false) => {}
        }
    }
    Ok(p)
}

fn log_outcome(what: &str, r: Result<(), ApiError>) -> bool {
    match r {
        Ok(()) => true,
        // Someone else's pass or a claim got there first.
        Err(ApiError::Conflict { code: "warm_instance_gone", .. }) => false,
        Err(e) => {
            tracing::warn!(error = %e, "warm pool {what} failed");
            false
        }
    }
}

/// Under the pool's lock: record the instances it lacks as `launching` (their ids returned), or
/// mark the ready ones it has too many of `removing`. A pool another replica holds now is left
/// to it.
async fn plan(st: &AppState, g: &warm_pool::Group) -> Result<Vec<String>, ApiError> {
    let mut tx = st.db.begin().await?;
    if !warm_pool::try_lock_group(&mut tx, &g.server_id, &g.image).await? {
        return Ok(Vec::new());
    }
    let (size, ready, launching) = warm_pool::counts(&mut tx, &g.server_id, &g.image).await?;
    let mut ids = Vec::new();
    if ready + launching < size && g.may_launch {
        // What one pass launches at most: a big pool fills over a few passes, and no row waits
        // long in one replica's queue.
        let n = (size - ready - launching).min(PER_PASS);
        ids = (0..n).map(|_| new_id()).collect();
        warm_pool::insert_launching(&mut tx, &ids, &g.server_id, &g.image).await?;
    } else if ready + launching > size && ready > 0 {
        let extra = (ready + launching - size).min(ready);
        warm_pool::trim(&mut tx, &g.server_id, &g.image, extra).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// One server's pool instances as its host lists them (one call), against the rows: a ready
/// instance gone or not running is marked `removing` (and so replaced); instances marked for
/// this server that neither a row nor a container knows are returned (to be removed).
async fn sweep(st: &AppState, server_id: &str) -> Result<Vec<String>, ApiError> {
    let Some(server) = crate::servers::by_id(&st.db, server_id).await? else { return Ok(Vec::new()) };
    let host = st.hosts.for_server(&server, &st.sealer)?;
    let before = warm_pool::now(&st.db).await?;
    let listing = host.call("statuses_with", |d| d.statuses_with(WARM_KEY, server_id)).await?;
    // Read after the listing: every instance made before it has its row by now (a row is
    // recorded before its instance is made, and goes only after it is removed or claimed).
    let rows = warm_pool::of_server(&st.db, server_id).await?;
    for (id, state, since) in &rows {
        // Only rows ready since before the listing: a launch finishing meanwhile is not judged
        // on a listing taken while it was starting.
        let running = listing.get(&lxd_name(id)).is_some_and(|s| s == "Running");
        if state == "ready" && *since < before && !running {
            tracing::warn!(instance = %id, server = %server_id, "a ready pool instance is gone or stopped; replacing it");
            warm_pool::set_state(&st.db, id, "ready", "removing").await?;
        }
    }
    let known: HashSet<&str> = rows.iter().map(|(id, _, _)| id.as_str()).collect();
    let unknown: Vec<String> = listing
        .keys()
        .filter_map(|n| n.strip_prefix("c-"))
        .filter(|id| crate::db::is_id(id) && !known.contains(id))
        .map(str::to_owned)
        .collect();
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let owned: HashSet<String> = containers::existing(&st.db, &unknown).await?.into_iter().collect();
    Ok(unknown.into_iter().filter(|id| !owned.contains(id)).collect())
}
