//! What one host's calls came to, for `/metrics`: calls by outcome, how long those that reached
//! the host took, and how often its breaker opened. Kept by [`super::Host`] around every call.

use std::sync::atomic::{AtomicU64, Ordering};

use super::HostError;
use crate::metrics::{SharedHistogram, SLOW_BUCKETS};

/// How a call ended. The words are the `outcome` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// The instance (or snapshot, file…) is not on the host.
    NotFound,
    /// The host refused the change in the instance's state.
    Refused,
    /// The host answered with an error or something unreadable.
    Failed,
    /// No answer within the deadline.
    Timeout,
    /// The host could not be reached (connect failed).
    Unavailable,
    /// Not sent: the breaker is open.
    BreakerOpen,
    /// Not sent: too many calls in flight for longer than the queue wait.
    Saturated,
}

impl Outcome {
    pub const ALL: [Outcome; 8] = [
        Self::Ok,
        Self::NotFound,
        Self::Refused,
        Self::Failed,
        Self::Timeout,
        Self::Unavailable,
        Self::BreakerOpen,
        Self::Saturated,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::NotFound => "not_found",
            Self::Refused => "refused",
            Self::Failed => "failed",
            Self::Timeout => "timeout",
            Self::Unavailable => "unavailable",
            Self::BreakerOpen => "breaker_open",
            Self::Saturated => "saturated",
        }
    }

    /// The outcome of a call that reached the driver.
    pub fn of<T>(result: &Result<T, HostError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(HostError::NotFound(_)) => Self::NotFound,
            Err(HostError::Refused(_)) => Self::Refused,
            Err(HostError::Failed(_)) => Self::Failed,
            Err(HostError::Timeout) => Self::Timeout,
            Err(HostError::Unavailable { .. }) => Self::Unavailable,
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|o| *o == self).unwrap_or(0)
    }
}

pub struct HostStats {
    calls: [AtomicU64; 8],
    /// Calls that reached the host, from sending to the answer (or the deadline).
    pub duration: SharedHistogram,
    breaker_opened: AtomicU64,
}

impl Default for HostStats {
    fn default() -> Self {
        Self {
            calls: Default::default(),
            duration: SharedHistogram::new(SLOW_BUCKETS),
            breaker_opened: AtomicU64::new(0),
        }
    }
}

impl HostStats {
    pub fn count(&self, outcome: Outcome) {
        self.calls[outcome.index()].fetch_add(1, Ordering::Relaxed);
    }

    /// Calls so far, by outcome (every outcome, zeros included).
    pub fn calls(&self) -> [(Outcome, u64); 8] {
        Outcome::ALL.map(|o| (o, self.calls[o.index()].load(Ordering::Relaxed)))
    }

    pub fn breaker_opened(&self) {
        self.breaker_opened.fetch_add(1, Ordering::Relaxed);
    }

    pub fn times_opened(&self) -> u64 {
        self.breaker_opened.load(Ordering::Relaxed)
    }
}
