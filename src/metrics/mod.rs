//! Prometheus text-format metrics: requests by route template and status, latency histograms
//! and database pool use. Kept in process; each replica is scraped on its own.

use std::{collections::HashMap, fmt::Write, sync::Mutex, time::Duration};

use sqlx::PgPool;

const BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: HashMap<(String, String, u16), u64>,
    latency: HashMap<(String, String), Histogram>,
}

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Metrics {
    pub fn record(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        *inner.requests.entry((method.to_owned(), route.to_owned(), status)).or_default() += 1;
        let h = inner.latency.entry((method.to_owned(), route.to_owned())).or_default();
        h.count += 1;
        h.sum += secs;
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                h.counts[i] += 1;
            }
        }
    }

    pub fn render(&self, pool: &PgPool, max_connections: u32) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP hoody_http_requests_total HTTP requests by method, route template and status.\n");
        out.push_str("# TYPE hoody_http_requests_total counter\n");
        if let Ok(inner) = self.inner.lock() {
            let mut rows: Vec<_> = inner.requests.iter().collect();
            rows.sort();
            for ((method, route, status), n) in rows {
                let _ = writeln!(
                    out,
                    "hoody_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
            out.push_str("# HELP hoody_http_request_duration_seconds Request latency by method and route template.\n");
            out.push_str("# TYPE hoody_http_request_duration_seconds histogram\n");
            let mut hists: Vec<_> = inner.latency.iter().collect();
            hists.sort_by(|a, b| a.0.cmp(b.0));
            for ((method, route), h) in hists {
                let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
                for (i, le) in BUCKETS.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "hoody_http_request_duration_seconds_bucket{{{labels},le=\"{le}\"}} {}",
                        h.counts[i]
                    );
                }
                let _ = writeln!(out, "hoody_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", h.count);
                let _ = writeln!(out, "hoody_http_request_duration_seconds_sum{{{labels}}} {}", h.sum);
                let _ = writeln!(out, "hoody_http_request_duration_seconds_count{{{labels}}} {}", h.count);
            }
        }
        let size = pool.size();
        let idle = pool.num_idle() as u32;
        out.push_str("# HELP hoody_db_pool_connections Database pool connections by state.\n");
        out.push_str("# TYPE hoody_db_pool_connections gauge\n");
        let _ = writeln!(out, "hoody_db_pool_connections{{state=\"idle\"}} {idle}");
        let _ = writeln!(out, "hoody_db_pool_connections{{state=\"in_use\"}} {}", size.saturating_sub(idle));
        out.push_str("# HELP hoody_db_pool_max_connections Configured pool size.\n");
        out.push_str("# TYPE hoody_db_pool_max_connections gauge\n");
        let _ = writeln!(out, "hoody_db_pool_max_connections {max_connections}");
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
