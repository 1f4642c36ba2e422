//! Logging setup and the request id every log line and error body carries.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use tracing_subscriber::{fmt, layer::SubscriberExt, util::SubscriberInitExt, EnvFilter};

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Install the global subscriber: human-readable text, or JSON lines with `HOODY_LOG_FORMAT=json`.
/// `RUST_LOG` filters; the default is `info`.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = if json {
        registry.with(fmt::layer().json().with_current_span(true).with_span_list(false)).try_init()
    } else {
        registry.with(fmt::layer().with_target(false)).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}

/// Run `fut` with `id` as the current request id.
pub async fn with_request_id<F: std::future::Future>(id: String, fut: F) -> F::Output {
    REQUEST_ID.scope(id, fut).await
}

/// The request id of the request being served, or `""` outside one.
pub fn current_request_id() -> String {
    REQUEST_ID.try_with(Clone::clone).unwrap_or_default()
}

/// At most one log line per period for a condition that can hold on every request (the database
/// away: QUALITY R2 asks for one line per 10 s, not one per request). The line that is let through
/// says how many were held back since the previous one.
pub struct Throttle {
    period: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl Throttle {
    pub const fn new(period: Duration) -> Self {
        Self { period, state: Mutex::new((None, 0)) }
    }

    /// `Some(suppressed)` when a line may be written now (and the count starts again); `None`
    /// when this one is held back (and counted).
    pub fn admit(&self) -> Option<u64> {
        let Ok(mut s) = self.state.lock() else { return None };
        let now = Instant::now();
        if s.0.is_some_and(|last| now.duration_since(last) < self.period) {
            s.1 += 1;
            return None;
        }
        s.0 = Some(now);
        Some(std::mem::take(&mut s.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_throttle_lets_one_line_through_per_period_and_counts_the_rest() {
        let t = Throttle::new(Duration::from_millis(200));
        assert_eq!(t.admit(), Some(0));
        for _ in 0..5 {
            assert_eq!(t.admit(), None);
        }
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(t.admit(), Some(5), "the next line carries the count it held back");
        assert_eq!(t.admit(), None);
    }
}
