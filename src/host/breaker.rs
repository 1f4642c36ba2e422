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

/// Where a breaker stands, as `/metrics` shows it (`hoody_host_breaker_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BreakerState {
    /// Calls go through.
    Closed = 0,
    /// Calls fail at once.
    Open = 1,
    /// One probe is in flight; the others fail at once.
    HalfOpen = 2,
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

    /// May a call go to the host now? The call's outcome goes to [`Admitted::success`] or
    /// [`Admitted::failure`]; a call that ends without one (its caller gave up: a permit wait
    /// that timed out, a dropped future) leaves the breaker as it found it, and when it was the
    /// half-open probe, the next call probes instead (the breaker is never left waiting for a
    /// probe that no longer runs).
    pub fn admit(&self) -> Result<Admitted<'_>, HostError> {
        let mut s = self.lock();
        let Some(opened) = s.opened_at else { return Ok(Admitted { breaker: self, probe: false }) };
        let elapsed = opened.elapsed();
        if elapsed >= self.cool_down && !s.probing {
            s.probing = true;
            return Ok(Admitted { breaker: self, probe: true });
        }
        let left = self.cool_down.saturating_sub(elapsed).as_secs().max(1);
        Err(HostError::Unavailable { reason: "circuit open".into(), retry_after_secs: left })
    }

    fn success(&self) {
        *self.lock() = State::default();
    }

    /// A call failed through the host's fault. True when this opened the breaker (from closed,
    /// or a failed probe), not when it was open already.
    fn failure(&self) -> bool {
        let mut s = self.lock();
        let now = Instant::now();
        if s.probing || s.opened_at.is_some() {
            let reopened = s.probing;
            s.opened_at = Some(now);
            s.probing = false;
            return reopened;
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
            return true;
        }
        false
    }

    pub fn is_open(&self) -> bool {
        self.lock().opened_at.is_some()
    }

    pub fn state(&self) -> BreakerState {
        let s = self.lock();
        match (s.opened_at, s.probing) {
            (None, _) => BreakerState::Closed,
            (Some(_), false) => BreakerState::Open,
            (Some(_), true) => BreakerState::HalfOpen,
        }
    }
}

/// A call [`Breaker::admit`] let through, until its outcome is recorded.
#[must_use = "record the call's outcome with success() or failure()"]
pub struct Admitted<'a> {
    breaker: &'a Breaker,
    /// The half-open probe, whose outcome is not recorded yet.
    probe: bool,
}

impl Admitted<'_> {
    /// The call went through: the breaker closes.
    pub fn success(mut self) {
        self.probe = false;
        self.breaker.success();
    }

    /// The call failed through the host's fault: see [`Breaker::failure`].
    pub fn failure(mut self) -> bool {
        self.probe = false;
        self.breaker.failure()
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.lock().probing = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_probes_after_the_cool_down() {
        let b = Breaker::new(3, Duration::from_secs(10), Duration::from_millis(50));
        for _ in 0..2 {
            assert!(!b.admit().unwrap().failure());
        }
        assert!(b.admit().unwrap().failure(), "the third failure opens it");
        assert_eq!(b.state(), BreakerState::Open);
        assert!(matches!(b.admit(), Err(HostError::Unavailable { .. })));
        std::thread::sleep(Duration::from_millis(60));
        let probe = b.admit().expect("one probe");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(b.admit().is_err(), "only one");
        assert!(probe.failure(), "a failed probe opens it again");
        assert!(b.admit().is_err(), "a failed probe opens it again");
        std::thread::sleep(Duration::from_millis(60));
        b.admit().expect("the next probe").success();
        assert!(!b.is_open());
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.admit().is_ok());
    }

    #[test]
    fn a_probe_that_ends_without_an_outcome_lets_the_next_call_probe() {
        let b = Breaker::new(1, Duration::from_secs(10), Duration::from_millis(20));
        assert!(b.admit().unwrap().failure());
        std::thread::sleep(Duration::from_millis(30));
        // The caller gave up: a permit wait that timed out, a future dropped mid-call.
        let probe = b.admit().expect("the probe");
        assert!(b.admit().is_err(), "one probe at a time");
        drop(probe);
        assert_eq!(b.state(), BreakerState::Open, "no outcome: still open");
        let next = b.admit().expect("the next call probes: the abandoned probe does not hold the slot");
        assert_eq!(b.state(), BreakerState::HalfOpen);
        next.success();
        assert_eq!(b.state(), BreakerState::Closed);
        // A call admitted while closed and dropped changes nothing.
        drop(b.admit().unwrap());
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[test]
    fn failures_spread_beyond_the_window_do_not_open_it() {
        let b = Breaker::new(2, Duration::from_millis(20), Duration::from_secs(30));
        assert!(!b.admit().unwrap().failure());
        std::thread::sleep(Duration::from_millis(30));
        assert!(!b.admit().unwrap().failure());
        assert!(b.admit().is_ok());
    }
}
