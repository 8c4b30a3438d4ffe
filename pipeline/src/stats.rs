//! Counters the runtime keeps for its status line and summary. Cheap atomics, updated per batch.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Stats {
    pub started: Instant,
    pub produced: AtomicU64,
    pub received: AtomicU64,
    pub stored: AtomicU64,
    pub dead_lettered: AtomicU64,
    pub published: AtomicU64,
    pub batches: AtomicU64,
    pub store_retries: AtomicU64,
    pub backlog: AtomicU64,
    /// The latest time (seconds since the epoch) the pipeline stored a mention collected
    /// within [`LIVE_WITHIN`] of storing it: it keeps up with live traffic. 0 if never.
    pub live_at: AtomicI64,
}

/// A stored mention collected at most this long before shows the pipeline keeps up.
pub const LIVE_WITHIN: chrono::TimeDelta = chrono::TimeDelta::minutes(2);

impl Default for Stats {
    fn default() -> Self {
        Stats {
            started: Instant::now(),
            produced: AtomicU64::new(0),
            received: AtomicU64::new(0),
            stored: AtomicU64::new(0),
            dead_lettered: AtomicU64::new(0),
            published: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            store_retries: AtomicU64::new(0),
            backlog: AtomicU64::new(0),
            live_at: AtomicI64::new(0),
        }
    }
}

/// A point-in-time copy of [`Stats`].
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Snapshot {
    pub elapsed_secs: f64,
    pub produced: u64,
    pub received: u64,
    pub stored: u64,
    pub dead_lettered: u64,
    pub published: u64,
    pub batches: u64,
    pub store_retries: u64,
    pub backlog: u64,
}

impl Stats {
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Records that the pipeline kept up with live traffic at `at`.
    pub fn live(&self, at: chrono::DateTime<chrono::Utc>) {
        self.live_at.fetch_max(at.timestamp(), Ordering::Relaxed);
    }

    /// Whether the pipeline kept up with live traffic at some time within `within` of `now`.
    pub fn live_within(&self, within: Duration, now: chrono::DateTime<chrono::Utc>) -> bool {
        let last = self.live_at.load(Ordering::Relaxed);
        last > 0 && now.timestamp() - last <= within.as_secs() as i64
    }

    pub fn snapshot(&self) -> Snapshot {
        let l = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Snapshot {
            elapsed_secs: self.started.elapsed().as_secs_f64(),
            produced: l(&self.produced),
            received: l(&self.received),
            stored: l(&self.stored),
            dead_lettered: l(&self.dead_lettered),
            published: l(&self.published),
            batches: l(&self.batches),
            store_retries: l(&self.store_retries),
            backlog: l(&self.backlog),
        }
    }
}

impl Snapshot {
    /// The one-line live status: rate over the last interval, totals, queue depth.
    pub fn status_line(&self, prev: &Snapshot, interval: Duration) -> String {
        let rate = (self.stored - prev.stored) as f64 / interval.as_secs_f64().max(1e-9);
        format!(
            "{:>7.1}s  {:>9.0} mentions/s  stored {:>10}  dead-lettered {:>6}  queue {:>6}",
            self.elapsed_secs, rate, self.stored, self.dead_lettered, self.backlog
        )
    }

    /// The end-of-run summary.
    pub fn summary(&self) -> String {
        let rate = self.stored as f64 / self.elapsed_secs.max(1e-9);
        format!(
            "summary: {} produced, {} received, {} stored, {} dead-lettered, {} published in {} batches; \
             {:.1}s, {:.0} mentions/s average",
            self.produced,
            self.received,
            self.stored,
            self.dead_lettered,
            self.published,
            self.batches,
            self.elapsed_secs,
            rate
        )
    }
}
