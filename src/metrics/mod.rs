//! Prometheus text-format metrics, kept in process (each replica is scraped on its own).
//!
//! Each figure is kept by the code that does the work: requests by the middleware, host calls
//! and breakers by `host::Host`, the outbox by the mail worker, the reconciler by its pass, the
//! event stream by its dispatcher, the database's availability by its probe. [`page::render`]
//! writes them all for `GET /metrics`. Labels are bounded: route templates (or `unmatched`),
//! registered host names and fixed outcome words.

pub mod page;

use std::{
    collections::HashMap,
    fmt::Write,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

/// Request latency buckets (seconds).
pub const HTTP_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];
/// Buckets for work that may take from milliseconds to a minute: host calls, reconciler passes,
/// event delivery, pool waits.
pub const SLOW_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// A cumulative histogram: `counts[i]` holds the observations `<= bounds[i]`.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    count: u64,
    sum: f64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: vec![0; bounds.len()], count: 0, sum: 0.0 }
    }

    pub fn observe(&mut self, secs: f64) {
        let secs = if secs.is_finite() { secs.max(0.0) } else { 0.0 };
        self.count += 1;
        self.sum += secs;
        for (i, le) in self.bounds.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Add another histogram of the same buckets (several hosts of one name).
    fn merge(&mut self, other: &Histogram) {
        if self.bounds != other.bounds {
            return;
        }
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.count += other.count;
        self.sum += other.sum;
    }

    /// The `_bucket`, `_sum` and `_count` lines of `name` with `labels` (`k="v",…` or empty).
    pub fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (i, le) in self.bounds.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {}", self.counts[i]);
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// A histogram shared between tasks.
#[derive(Debug)]
pub struct SharedHistogram(Mutex<Histogram>);

/// [`SLOW_BUCKETS`].
impl Default for SharedHistogram {
    fn default() -> Self {
        Self::new(SLOW_BUCKETS)
    }
}

impl SharedHistogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Self(Mutex::new(Histogram::new(bounds)))
    }

    pub fn observe(&self, elapsed: Duration) {
        self.observe_secs(elapsed.as_secs_f64());
    }

    pub fn observe_secs(&self, secs: f64) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).observe(secs);
    }

    pub fn snapshot(&self) -> Histogram {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// `# HELP` and `# TYPE` of a family.
pub fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
pub fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Seconds since the epoch, now.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

pub struct Metrics {
    inner: Mutex<Inner>,
    /// What the database probe found last (`db_up`) and how long it waited for a connection.
    pub db: DbStats,
    /// The reconciler's passes.
    pub reconciler: ReconcilerStats,
}

impl Default for Metrics {
    fn default() -> Self {
        Self { inner: Mutex::new(Inner::default()), db: DbStats::default(), reconciler: ReconcilerStats::default() }
    }
}

#[derive(Default)]
struct Inner {
    requests: HashMap<(String, String, u16), u64>,
    latency: HashMap<(String, String), Histogram>,
}

/// The database as this process last found it.
pub struct DbStats {
    /// 1 when the last probe (background, every few seconds, and each `/readyz`) got a connection
    /// and an answer within the acquire timeout; 0 otherwise.
    up: AtomicI64,
    probes_failed: AtomicU64,
    /// How long a probe waited for a pool connection (a sample of what a request waits).
    pub acquire: SharedHistogram,
}

impl Default for DbStats {
    fn default() -> Self {
        Self { up: AtomicI64::new(0), probes_failed: AtomicU64::new(0), acquire: SharedHistogram::new(SLOW_BUCKETS) }
    }
}

impl DbStats {
    pub fn probed(&self, up: bool) {
        self.up.store(i64::from(up), Ordering::Relaxed);
        if !up {
            self.probes_failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed) == 1
    }
}

/// The reconciler's passes in this process.
pub struct ReconcilerStats {
    passes_ok: AtomicU64,
    passes_failed: AtomicU64,
    /// Containers (and firewalls, proxy files) a pass changed.
    changes: AtomicU64,
    /// Servers a pass could not check (their host, or their rows, unreadable).
    servers_skipped: AtomicU64,
    /// Servers this replica checked (it held their lease; other replicas check the rest).
    servers_checked: AtomicU64,
    /// Unix seconds of the last pass that ended without error (0: none yet).
    last_success: AtomicI64,
    pub duration: SharedHistogram,
}

impl Default for ReconcilerStats {
    fn default() -> Self {
        Self {
            passes_ok: AtomicU64::new(0),
            passes_failed: AtomicU64::new(0),
            changes: AtomicU64::new(0),
            servers_skipped: AtomicU64::new(0),
            servers_checked: AtomicU64::new(0),
            last_success: AtomicI64::new(0),
            duration: SharedHistogram::new(SLOW_BUCKETS),
        }
    }
}

impl ReconcilerStats {
    /// A pass ended: `changed` when it succeeded.
    pub fn pass(&self, changed: Option<usize>, took: Duration) {
        self.duration.observe(took);
        match changed {
            Some(n) => {
                self.passes_ok.fetch_add(1, Ordering::Relaxed);
                self.changes.fetch_add(n as u64, Ordering::Relaxed);
                self.last_success.store(unix_now() as i64, Ordering::Relaxed);
            }
            None => {
                self.passes_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn server_checked(&self) {
        self.servers_checked.fetch_add(1, Ordering::Relaxed);
    }

    pub fn server_skipped(&self) {
        self.servers_skipped.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        inner
            .latency
            .entry((method.to_owned(), route.to_owned()))
            .or_insert_with(|| Histogram::new(HTTP_BUCKETS))
            .observe(secs);
    }

    /// The request families: counts by method, route template and status, latency histograms.
    fn write_http(&self, out: &mut String) {
        family(out, "hoody_http_requests_total", "counter", "HTTP requests by method, route template and status.");
        let Ok(inner) = self.inner.lock() else { return };
        let mut rows: Vec<_> = inner.requests.iter().collect();
        rows.sort();
        for ((method, route, status), n) in rows {
            let _ = writeln!(
                out,
                "hoody_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                escape(route)
            );
        }
        family(
            out,
            "hoody_http_request_duration_seconds",
            "histogram",
            "Request latency by method and route template.",
        );
        let mut hists: Vec<_> = inner.latency.iter().collect();
        hists.sort_by(|a, b| a.0.cmp(b.0));
        for ((method, route), h) in hists {
            h.write(
                out,
                "hoody_http_request_duration_seconds",
                &format!("method=\"{method}\",route=\"{}\"", escape(route)),
            );
        }
    }

    fn write_db(&self, out: &mut String) {
        family(
            out,
            "hoody_db_up",
            "gauge",
            "1 when the last database probe (every 5 s and on /readyz) got a connection and an answer in time.",
        );
        let _ = writeln!(out, "hoody_db_up {}", self.db.up.load(Ordering::Relaxed));
        family(out, "hoody_db_probe_failures_total", "counter", "Database probes that failed or timed out.");
        let _ = writeln!(out, "hoody_db_probe_failures_total {}", self.db.probes_failed.load(Ordering::Relaxed));
        family(
            out,
            "hoody_db_pool_acquire_seconds",
            "histogram",
            "How long the database probe waited for a pool connection (sampled every 5 s and on /readyz).",
        );
        self.db.acquire.snapshot().write(out, "hoody_db_pool_acquire_seconds", "");
    }

    fn write_reconciler(&self, out: &mut String) {
        let r = &self.reconciler;
        family(out, "hoody_reconciler_passes_total", "counter", "Reconciler passes by outcome (ok, failed).");
        let _ =
            writeln!(out, "hoody_reconciler_passes_total{{outcome=\"ok\"}} {}", r.passes_ok.load(Ordering::Relaxed));
        let _ = writeln!(
            out,
            "hoody_reconciler_passes_total{{outcome=\"failed\"}} {}",
            r.passes_failed.load(Ordering::Relaxed)
        );
        family(
            out,
            "hoody_reconciler_changes_total",
            "counter",
            "What reconciler passes changed: container states taken over, firewalls and proxy files applied again.",
        );
        let _ = writeln!(out, "hoody_reconciler_changes_total {}", r.changes.load(Ordering::Relaxed));
        family(
            out,
            "hoody_reconciler_servers_skipped_total",
            "counter",
            "Servers a reconciler pass could not check (host or registry unreadable).",
        );
        let _ = writeln!(out, "hoody_reconciler_servers_skipped_total {}", r.servers_skipped.load(Ordering::Relaxed));
        family(
            out,
            "hoody_reconciler_servers_checked_total",
            "counter",
            "Servers this replica's reconciler checked: it held their lease (each server is checked by one replica per interval).",
        );
        let _ = writeln!(out, "hoody_reconciler_servers_checked_total {}", r.servers_checked.load(Ordering::Relaxed));
        family(
            out,
            "hoody_reconciler_last_success_timestamp_seconds",
            "gauge",
            "Unix time of the last reconciler pass that ended without error (0: none yet).",
        );
        let _ =
            writeln!(out, "hoody_reconciler_last_success_timestamp_seconds {}", r.last_success.load(Ordering::Relaxed));
        family(out, "hoody_reconciler_pass_duration_seconds", "histogram", "How long reconciler passes took.");
        r.duration.snapshot().write(out, "hoody_reconciler_pass_duration_seconds", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_cumulative_and_ends_with_inf_sum_and_count() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.25);
        h.observe(0.5);
        h.observe(4.0);
        let mut out = String::new();
        h.write(&mut out, "x_seconds", "host=\"a\"");
        assert_eq!(
            out,
            "x_seconds_bucket{host=\"a\",le=\"0.1\"} 0\nx_seconds_bucket{host=\"a\",le=\"1\"} 2\n\
             x_seconds_bucket{host=\"a\",le=\"+Inf\"} 3\nx_seconds_sum{host=\"a\"} 4.75\nx_seconds_count{host=\"a\"} 3\n"
        );
        let mut bare = String::new();
        Histogram::new(&[1.0]).write(&mut bare, "y", "");
        assert!(bare.contains("y_bucket{le=\"1\"} 0\n") && bare.contains("y_sum 0\n"), "{bare}");
    }
}
