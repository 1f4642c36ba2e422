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
        let Some(opened) = s.opened_at else { return Ok(Admitted { breaker: self, probe: None }) };
        let elapsed = opened.elapsed();
        if elapsed >= self.cool_down && !s.probing {
            s.probing = true;
            return Ok(Admitted { breaker: self, probe: Some(opened) });
        }
        let left = self.cool_down.saturating_sub(elapsed).as_secs().max(1);
        Err(HostError::Unavailable { reason: "circuit open".into(), retry_after_secs: left })
    }

    /// A call went through. Only the probe closes an open breaker: a call let through before it
    /// opened and answering late says nothing of the host now.
    fn success(&self, probe: bool) {
        let mut s = self.lock();
        if s.opened_at.is_none() || probe {
            *s = State::default();
        }
    }

    /// A call failed through the host's fault. True when this opened the breaker (from closed,
    /// or a failed probe), not when it was open already (a call let through before it opened and
    /// failing late changes nothing: it is not the probe).
    fn failure(&self, probe: bool) -> bool {
        let mut s = self.lock();
        let now = Instant::now();
        if s.opened_at.is_some() {
            if probe {
                s.opened_at = Some(now);
                s.probing = false;
            }
            return probe;
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
    /// The half-open probe whose outcome is not recorded yet: the opening it probes.
    probe: Option<Instant>,
}

impl Admitted<'_> {
    /// The call went through: the breaker closes (see [`Breaker::success`]).
    pub fn success(mut self) {
        let probe = self.probe.take().is_some();
        self.breaker.success(probe);
    }

    /// The call failed through the host's fault: see [`Breaker::failure`].
    pub fn failure(mut self) -> bool {
        let probe = self.probe.take().is_some();
        self.breaker.failure(probe)
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(opened) = self.probe {
            let mut s = self.breaker.lock();
            // Only the probe of the opening it was let through for (not a later one's).
            if s.opened_at == Some(opened) {
                s.probing = false;
            }
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
    fn calls_let_through_before_it_opened_do_not_speak_for_the_probe() {
        let b = Breaker::new(1, Duration::from_secs(10), Duration::from_millis(20));
        let (late_ok, late_failing) = (b.admit().unwrap(), b.admit().unwrap());
        assert!(b.admit().unwrap().failure(), "opened");
        std::thread::sleep(Duration::from_millis(30));
        let probe = b.admit().expect("the probe");
        assert!(!late_failing.failure(), "a late failure is not the probe's");
        assert_eq!(b.state(), BreakerState::HalfOpen, "the probe still runs");
        late_ok.success();
        assert_eq!(b.state(), BreakerState::HalfOpen, "a late success does not close it");
        assert!(b.admit().is_err(), "still one probe at a time");
        probe.success();
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
