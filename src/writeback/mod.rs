//! Writes that follow requests but must never slow them: each request drops a record in a
//! bounded queue (never waiting; a full queue drops and counts), and a background task writes
//! what gathered in one statement every interval, and once more at shutdown. A batch the database
//! could not take because it was away is held (up to a bound of rows per queue; past it the oldest
//! rows are dropped and counted) and written when it is back, oldest first.

pub mod activity;
pub mod token_use;

use std::{
    collections::VecDeque,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::Duration,
};

use tokio::sync::mpsc;

use crate::shutdown::Stop;

pub struct Queue<T> {
    tx: mpsc::Sender<T>,
    rx: Mutex<Option<mpsc::Receiver<T>>>,
    dropped: AtomicU64,
    /// Rows held for a retry right now.
    held: AtomicU64,
    hold_limit: usize,
}

/// What became of a batch.
pub enum Flushed<T> {
    Written,
    /// Not written because the database is away: hold these and try again.
    Retry(Vec<T>),
    /// Not written and not worth retrying (the database refused the data): this many lost.
    Lost(usize),
}

impl<T: Send + 'static> Queue<T> {
    /// `capacity` records may wait for the writer; `hold_limit` rows may be held while the
    /// database is away.
    pub fn new(capacity: usize, hold_limit: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self { tx, rx: Mutex::new(Some(rx)), dropped: AtomicU64::new(0), held: AtomicU64::new(0), hold_limit }
    }

    /// Queue one record; never waits.
    pub fn push(&self, item: T) {
        if self.tx.try_send(item).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records lost: the queue was full, the hold overflowed, or the database refused them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Rows held until the database is back.
    pub fn held(&self) -> u64 {
        self.held.load(Ordering::Relaxed)
    }

    /// Drain the queue into `flush` every `every`, at most `batch` records per call, until
    /// `stop`; then flush what is left. Only the first caller gets the queue.
    pub async fn run<F, Fut>(&self, every: Duration, batch: usize, stop: Stop, mut flush: F)
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = Flushed<T>>,
    {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else { return };
        let mut hold = Hold { batches: VecDeque::new(), rows: 0, limit: self.hold_limit };
        let mut buf = Vec::with_capacity(batch);
        let mut stopping = false;
        while !stopping {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => stopping = true,
            }
            // Held batches first, oldest first. One that fails again means the database is still
            // away: hold the new records without trying them (each try waits a connect timeout).
            let mut up = true;
            while let Some(b) = hold.pop() {
                match flush(b).await {
                    Flushed::Written => {}
                    Flushed::Lost(n) => self.count_lost(n),
                    Flushed::Retry(b) => {
                        self.count_lost(hold.push_front(b));
                        up = false;
                        break;
                    }
                }
            }
            loop {
                while buf.len() < batch {
                    match rx.try_recv() {
                        Ok(item) => buf.push(item),
                        Err(_) => break,
                    }
                }
                if buf.is_empty() {
                    break;
                }
                let b = std::mem::take(&mut buf);
                if !up {
                    self.count_lost(hold.push_back(b));
                    continue;
                }
                match flush(b).await {
                    Flushed::Written => {}
                    Flushed::Lost(n) => self.count_lost(n),
                    Flushed::Retry(b) => {
                        self.count_lost(hold.push_back(b));
                        up = false;
                    }
                }
            }
            self.held.store(hold.rows as u64, Ordering::Relaxed);
        }
        if hold.rows > 0 {
            tracing::warn!(rows = hold.rows, "shutting down with records the database did not take; they are lost");
            self.count_lost(hold.rows);
        }
    }

    fn count_lost(&self, n: usize) {
        if n > 0 {
            self.dropped.fetch_add(n as u64, Ordering::Relaxed);
        }
    }
}

/// Batches waiting for the database, bounded in rows: past the bound the oldest rows go.
struct Hold<T> {
    batches: VecDeque<Vec<T>>,
    rows: usize,
    limit: usize,
}

impl<T> Hold<T> {
    fn pop(&mut self) -> Option<Vec<T>> {
        let b = self.batches.pop_front()?;
        self.rows -= b.len();
        Some(b)
    }

    fn push_front(&mut self, b: Vec<T>) -> usize {
        self.rows += b.len();
        self.batches.push_front(b);
        self.trim()
    }

    /// Hold a batch; returns how many (oldest) rows the bound pushed out.
    fn push_back(&mut self, b: Vec<T>) -> usize {
        self.rows += b.len();
        self.batches.push_back(b);
        self.trim()
    }

    fn trim(&mut self) -> usize {
        let mut lost = 0;
        while self.rows > self.limit {
            let Some(oldest) = self.batches.front_mut() else { break };
            let excess = (self.rows - self.limit).min(oldest.len());
            oldest.drain(..excess);
            self.rows -= excess;
            lost += excess;
            if oldest.is_empty() {
                self.batches.pop_front();
            }
        }
        lost
    }
}

/// What a failed write means: the database away (hold and retry) or the data refused (lost).
/// Logged once per 10 s per queue at most, with the count held back.
pub(crate) fn failed<T>(
    throttle: &crate::telemetry::Throttle,
    what: &'static str,
    e: sqlx::Error,
    rows: Vec<T>,
) -> Flushed<T> {
    let n = rows.len();
    if crate::error::is_unavailable(&e) {
        if let Some(suppressed) = throttle.admit() {
            tracing::warn!(error = %e, rows = n, suppressed, queue = what, "write-behind batch held: database unavailable");
        }
        Flushed::Retry(rows)
    } else {
        tracing::error!(error = %e, rows = n, queue = what, "write-behind batch refused by the database; dropped");
        Flushed::Lost(n)
    }
}

#[cfg(test)]
mod tests {
    use super::Hold;

    #[test]
    fn the_hold_drops_the_oldest_rows_past_its_bound() {
        let mut h = Hold { batches: Default::default(), rows: 0, limit: 5 };
        assert_eq!(h.push_back(vec![1, 2, 3]), 0);
        assert_eq!(h.push_back(vec![4, 5, 6, 7]), 2);
        assert_eq!(h.rows, 5);
        assert_eq!(h.pop(), Some(vec![3]));
        assert_eq!(h.pop(), Some(vec![4, 5, 6, 7]));
        assert_eq!((h.pop(), h.rows), (None, 0));
    }
}
