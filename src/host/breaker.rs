//! A circuit breaker per host: after `threshold` consecutive failures within `window` it opens
//! and calls fail at once (503 with Retry-After); after `cool_down` one probe is let through
//! (half-open): its success closes the breaker, its failure opens it again.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use super::HostError;

#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    window: Duration,
    cool_down: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    failures: u32,
    first_failure: Option<Instant>,
    opened_at: Option<Instant>,
    probing: bool,
}

impl Default for Breaker {
    fn default() -> Self {
        Self::new(5, Duration::from_secs(10), Duration::from_secs(30))
    }
}

impl Breaker {
    pub fn new(threshold: u32, window: Duration, cool_down: Duration) -> Self {
        Self { threshold: threshold.max(1), window, cool_down, state: Mutex::new(State::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// May a call go to the host now?
    pub fn admit(&self) -> Result<(), HostError> {
        let mut s = self.lock();
        let Some(opened) = s.opened_at else { return Ok(()) };
        let elapsed = opened.elapsed();
        if elapsed >= self.cool_down && !s.probing {
            s.probing = true;
            return Ok(());
        }
        let left = self.cool_down.saturating_sub(elapsed).as_secs().max(1);
        Err(HostError::Unavailable { reason: "circuit open".into(), retry_after_secs: left })
    }

    pub fn success(&self) {
        *self.lock() = State::default();
    }

    pub fn failure(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        if s.probing || s.opened_at.is_some() {
            s.opened_at = Some(now);
            s.probing = false;
            return;
        }
        match s.first_failure {
            Some(first) if now.duration_since(first) <= self.window => s.failures += 1,
            _ => {
                s.first_failure = Some(now);
                s.failures = 1;
            }
        }
        if s.failures >= self.threshold {
            s.opened_at = Some(now);
        }
    }

    pub fn is_open(&self) -> bool {
        self.lock().opened_at.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let b = Breaker::new(3, Duration::from_secs(10), Duration::from_millis(50));
        for _ in 0..2 {
            b.failure();
            assert!(b.admit().is_ok());
        }
        b.failure();
        assert!(matches!(b.admit(), Err(HostError::Unavailable { .. })));
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit().is_ok(), "one probe");
        assert!(b.admit().is_err(), "only one");
        b.failure();
        assert!(b.admit().is_err(), "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(60));
        assert!(b.admit().is_ok());
        b.success();
        assert!(b.admit().is_ok() && !b.is_open());
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_open_it() {
        let b = Breaker::new(2, Duration::from_millis(20), Duration::from_secs(30));
        b.failure();
        std::thread::sleep(Duration::from_millis(30));
        b.failure();
        assert!(b.admit().is_ok());
    }
}
