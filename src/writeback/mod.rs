//! Writes that follow requests but must never slow them: each request drops a record in a
//! bounded queue (never waiting; a full queue drops and counts), and a background task writes
//! what gathered in one statement every interval, and once more at shutdown.

pub mod activity;
pub mod token_use;

use std::{
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
}

impl<T: Send + 'static> Queue<T> {
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity);
        Self { tx, rx: Mutex::new(Some(rx)), dropped: AtomicU64::new(0) }
    }

    /// Queue one record; never waits.
    pub fn push(&self, item: T) {
        if self.tx.try_send(item).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Drain the queue into `flush` every `every`, at most `batch` records per call, until
    /// `stop`; then flush what is left. Only the first caller gets the queue.
    pub async fn run<F, Fut>(&self, every: Duration, batch: usize, stop: Stop, mut flush: F)
    where
        F: FnMut(Vec<T>) -> Fut,
        Fut: Future<Output = ()>,
    {
        let Some(mut rx) = self.rx.lock().ok().and_then(|mut r| r.take()) else { return };
        let mut buf = Vec::with_capacity(batch);
        let mut stopping = false;
        while !stopping {
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.wait() => stopping = true,
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
                flush(std::mem::take(&mut buf)).await;
            }
        }
    }
}
