//! The `/metrics` page: every family this process exports, read from where it is kept. Nothing
//! here touches the database or a host; a scrape costs a few locks.

use std::{collections::BTreeMap, fmt::Write, sync::atomic::Ordering};

use super::{escape, family, unix_now, Histogram, SLOW_BUCKETS};
use crate::{host::stats::Outcome, state::AppState};

pub fn render(st: &AppState) -> String {
    let mut out = String::with_capacity(16 * 1024);
    family(&mut out, "hoody_process_start_time_seconds", "gauge", "Unix time this process started.");
    let _ = writeln!(out, "hoody_process_start_time_seconds {}", st.started_at.timestamp());
    st.metrics.write_http(&mut out);
    pool(&mut out, st);
    st.metrics.write_db(&mut out);
    hosts(&mut out, st);
    mail(&mut out, st);
    writeback(&mut out, st);
    st.metrics.write_reconciler(&mut out);
    stream(&mut out, st);
    out
}

fn pool(out: &mut String, st: &AppState) {
    let size = st.db.size();
    let idle = st.db.num_idle() as u32;
    family(out, "hoody_db_pool_connections", "gauge", "Database pool connections by state.");
    let _ = writeln!(out, "hoody_db_pool_connections{{state=\"idle\"}} {idle}");
    let _ = writeln!(out, "hoody_db_pool_connections{{state=\"in_use\"}} {}", size.saturating_sub(idle));
    family(out, "hoody_db_pool_max_connections", "gauge", "Configured pool size.");
    let _ = writeln!(out, "hoody_db_pool_max_connections {}", st.cfg.db_max_connections);
}

/// One host name's figures (several servers may share a name: they are added up).
struct HostAgg {
    calls: [u64; 8],
    duration: Histogram,
    in_flight: usize,
    breaker: u8,
    opened: u64,
}

fn hosts(out: &mut String, st: &AppState) {
    let mut by_name: BTreeMap<String, HostAgg> = BTreeMap::new();
    for h in st.hosts.all() {
        let agg = by_name.entry(h.name.clone()).or_insert_with(|| HostAgg {
            calls: [0; 8],
            duration: Histogram::new(SLOW_BUCKETS),
            in_flight: 0,
            breaker: 0,
            opened: 0,
        });
        for (i, (_, n)) in h.stats().calls().iter().enumerate() {
            agg.calls[i] += n;
        }
        agg.duration.merge(&h.stats().duration.snapshot());
        agg.in_flight += h.in_flight();
        agg.breaker = agg.breaker.max(h.breaker_state() as u8);
        agg.opened += h.stats().times_opened();
    }
    family(
        out,
        "hoody_host_calls_total",
        "counter",
        "Calls to container hosts by host and outcome (ok, not_found, refused, failed, timeout, unavailable; \
         breaker_open and saturated were never sent).",
    );
    for (name, a) in &by_name {
        for (i, o) in Outcome::ALL.iter().enumerate() {
            let _ = writeln!(
                out,
                "hoody_host_calls_total{{host=\"{}\",outcome=\"{}\"}} {}",
                escape(name),
                o.word(),
                a.calls[i]
            );
        }
    }
    family(out, "hoody_host_call_duration_seconds", "histogram", "Duration of the calls that reached a host.");
    for (name, a) in &by_name {
        a.duration.write(out, "hoody_host_call_duration_seconds", &format!("host=\"{}\"", escape(name)));
    }
    family(out, "hoody_host_calls_in_flight", "gauge", "Calls to a host in flight now.");
    for (name, a) in &by_name {
        let _ = writeln!(out, "hoody_host_calls_in_flight{{host=\"{}\"}} {}", escape(name), a.in_flight);
    }
    family(
        out,
        "hoody_host_breaker_state",
        "gauge",
        "A host's circuit breaker: 0 closed, 1 open (calls fail at once), 2 half-open (one probe in flight).",
    );
    for (name, a) in &by_name {
        let _ = writeln!(out, "hoody_host_breaker_state{{host=\"{}\"}} {}", escape(name), a.breaker);
    }
    family(out, "hoody_host_breaker_opened_total", "counter", "Times a host's breaker opened.");
    for (name, a) in &by_name {
        let _ = writeln!(out, "hoody_host_breaker_opened_total{{host=\"{}\"}} {}", escape(name), a.opened);
    }
}

fn mail(out: &mut String, st: &AppState) {
    let m = &st.mailer;
    family(
        out,
        "hoody_mail_total",
        "counter",
        "Outbox mail by outcome in this process: delivered, failed attempts, dead-lettered.",
    );
    for (outcome, n) in
        [("delivered", &m.delivered), ("failed_attempt", &m.failed_attempts), ("dead_letter", &m.dead_letters)]
    {
        let _ = writeln!(out, "hoody_mail_total{{outcome=\"{outcome}\"}} {}", n.load(Ordering::Relaxed));
    }
    family(
        out,
        "hoody_mail_outbox_pending",
        "gauge",
        "Mail in the outbox neither delivered nor dead-lettered, as the worker last read it (every 2 s).",
    );
    let _ = writeln!(out, "hoody_mail_outbox_pending {}", m.pending.load(Ordering::Relaxed));
    family(
        out,
        "hoody_mail_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending mail the worker last saw (0: none); it grows while the worker is stuck.",
    );
    let oldest = m.oldest_pending_unix.load(Ordering::Relaxed);
    let age = if oldest > 0 { (unix_now() - oldest as f64).max(0.0) } else { 0.0 };
    let _ = writeln!(out, "hoody_mail_outbox_oldest_pending_age_seconds {age:.0}");
}

fn writeback(out: &mut String, st: &AppState) {
    family(
        out,
        "hoody_writeback_dropped_total",
        "counter",
        "Records lost by a write-behind queue: it was full, the rows held while the database was away passed \
         their bound, or the database refused them.",
    );
    let _ = writeln!(out, "hoody_writeback_dropped_total{{queue=\"activity\"}} {}", st.activity.dropped());
    let _ = writeln!(out, "hoody_writeback_dropped_total{{queue=\"token_use\"}} {}", st.token_use.dropped());
    family(out, "hoody_writeback_held", "gauge", "Records held for the database to come back.");
    let _ = writeln!(out, "hoody_writeback_held{{queue=\"activity\"}} {}", st.activity.held());
    let _ = writeln!(out, "hoody_writeback_held{{queue=\"token_use\"}} {}", st.token_use.held());
}

fn stream(out: &mut String, st: &AppState) {
    let hub = &st.stream;
    family(out, "hoody_event_stream_sockets", "gauge", "Event stream (socket.io) sockets connected to this process.");
    let _ = writeln!(out, "hoody_event_stream_sockets {}", hub.connected());
    family(out, "hoody_events_delivered_total", "counter", "Events given to event stream sockets.");
    let _ = writeln!(out, "hoody_events_delivered_total {}", hub.delivered.load(Ordering::Relaxed));
    family(
        out,
        "hoody_event_delivery_lag_seconds",
        "histogram",
        "From an event's created_at to the dispatcher having given it to its sockets (live events only).",
    );
    hub.lag.snapshot().write(out, "hoody_event_delivery_lag_seconds", "");
}
