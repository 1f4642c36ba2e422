//! Background work done once per cluster, not once per replica. Replicas share one database, so
//! a loop that every replica runs (the janitor, the sweepers, the reconciler's pass over a host)
//! first takes a named lease there (`worker_lease`) and does the work only while it holds it:
//!
//! - a lease lasts one period of its loop and its holder renews it every half period (so it
//!   never lapses between two renewals of a live holder), and does the work once a period: one
//!   replica keeps doing that work;
//! - a replica that dies (killed, cut off) loses its leases within one period, and the next
//!   replica to tick takes them over;
//! - a replica that stops cleanly gives its leases back at once (`release_all`).
//!
//! Work that a lease guards must still be safe twice (a lease that lapsed while its holder was
//! slow may be taken while it finishes): the host-operation locks and `FOR UPDATE SKIP LOCKED`
//! claims keep that true; the lease is what keeps N replicas from doing the work N times.

use std::{future::Future, time::Duration};

use crate::{shutdown::Stop, state::AppState};

/// Whether this replica holds (took or renewed) the lease `name` for `ttl` from now. A database
/// that cannot be asked means no: the work waits for the next period.
pub async fn holds(st: &AppState, name: &str, ttl: Duration) -> bool {
    !holds_many(st, &[name.to_owned()], ttl).await.is_empty()
}

/// Every `period` (the first after one period), until `stop`: do `work` if this replica holds
/// the lease `name`, renewed (or taken) every half period. With one period's lease, a dead
/// holder's work moves within a period and a half.
pub async fn every<F, Fut>(st: AppState, stop: Stop, name: &'static str, period: Duration, mut work: F)
where
    F: FnMut(AppState) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut ticks = ticker(period / 2);
    let mut last: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait() => return,
        }
        // Once a period: a tick a little early (a quarter period) still counts.
        let due = last.is_none_or(|t| t.elapsed() + period / 4 >= period);
        if holds(&st, name, period).await && due {
            last = Some(std::time::Instant::now());
            work(st.clone()).await;
        }
    }
}

/// [`holds`] for several leases: those of `names` this replica holds now.
pub async fn holds_many(st: &AppState, names: &[String], ttl: Duration) -> Vec<String> {
    match crate::db::leases::hold_many(&st.db, names, &st.replica_id, ttl.as_secs_f64()).await {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "could not take worker leases; their work waits");
            Vec::new()
        }
    }
}

/// A ticker whose first tick comes after one `period`, and which does not catch up on ticks a
/// slow round missed.
pub fn ticker(period: Duration) -> tokio::time::Interval {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks
}

/// Give back this replica's leases (it is stopping): the others take the work over at their
/// next tick instead of one period later.
pub async fn release_all(st: &AppState) {
    match crate::db::leases::release_all(&st.db, &st.replica_id).await {
        Ok(n) if n > 0 => tracing::info!(leases = n, "worker leases given back"),
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not give back worker leases; they lapse on their own"),
    }
}
