//! The pool's gauges, counters, latency histograms and checkout log: written by the pool and
//! connection processes, read by anyone (the GUI at 10 Hz, `/metrics`, tests) without a
//! message round trip.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

/// How long one half of the "recent" window lasts; recent figures cover the last one to two.
const WINDOW: Duration = Duration::from_secs(5);
/// How many checkouts the log keeps.
const LOG_CAPACITY: usize = 16_384;
/// Histogram range in microseconds: 1 µs to one hour, two significant digits.
const HIST_MAX_US: u64 = 3_600_000_000;

/// Percentiles of one latency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quantiles {
    /// How many values these figures are over.
    pub count: u64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// A snapshot of the pool, cheap enough to read at frame rate.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolMetrics {
    /// Configured number of connections.
    pub pool_size: usize,
    /// Connections up and registered with the pool.
    pub size: usize,
    /// Connections running a request.
    pub checked_out: usize,
    /// Connections waiting for work.
    pub idle: usize,
    /// Requests waiting for a connection.
    pub queue_len: usize,
    /// The queue is slow: requests waiting more than twice `queue_target` are being dropped.
    pub slow: bool,
    /// Requests that got a connection.
    pub served: u64,
    /// Requests dropped from the queue while it was slow.
    pub drops: u64,
    /// Requests refused at once (`queue: false`).
    pub unavailable: u64,
    /// Calls that hit their timeout.
    pub timeouts: u64,
    /// Requests whose caller gave up or exited while they were queued.
    pub cancelled: u64,
    /// Connection processes that exited (each one is restarted by the pool supervisor).
    pub connection_exits: u64,
    /// The "make the database slow" latency added to every query.
    pub query_latency: Duration,
    /// The "hold the write lock" switch is on.
    pub write_lock_held: bool,
    /// Since the pool started: time from asking to getting a connection.
    pub queue_time: Quantiles,
    /// Since the pool started: time a connection spent on a request (a group commit counts
    /// once per message in it, with the whole transaction's time).
    pub query_time: Quantiles,
    /// Since the pool started: time a connection sat idle before a checkout.
    pub idle_time: Quantiles,
    /// The same three over the last 5–10 seconds, for live charts.
    pub recent_queue_time: Quantiles,
    pub recent_query_time: Quantiles,
    pub recent_idle_time: Quantiles,
}

/// What happened to one checkout request, from the pool's own records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutOutcome {
    /// It got a connection.
    Served,
    /// Dropped from the slow queue.
    Dropped,
    /// Refused at once (`queue: false`).
    Unavailable,
    /// The caller gave up or exited while it was queued.
    Cancelled,
}

/// One entry of the pool's checkout log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckoutRecord {
    /// The request's number (in order of asking).
    pub id: u64,
    /// When the pool decided, since the pool's shared state was made.
    pub at: Duration,
    /// How long it had waited when the pool decided.
    pub waited: Duration,
    /// Whether the queue was slow when the pool decided.
    pub slow: bool,
    pub outcome: CheckoutOutcome,
}

/// A histogram over all time and one over a sliding window.
struct Windowed {
    all: Histogram<u64>,
    current: Histogram<u64>,
    previous: Histogram<u64>,
    current_since: Instant,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 2).expect("valid histogram bounds")
}

impl Windowed {
    fn new() -> Windowed {
        Windowed {
            all: histogram(),
            current: histogram(),
            previous: histogram(),
            current_since: Instant::now(),
        }
    }

    fn rotate(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.current_since);
        if age >= WINDOW * 2 {
            self.previous.reset();
            self.current.reset();
            self.current_since = now;
        } else if age >= WINDOW {
            std::mem::swap(&mut self.previous, &mut self.current);
            self.current.reset();
            self.current_since = now;
        }
    }

    fn record(&mut self, value: Duration, count: u64, now: Instant) {
        self.rotate(now);
        let us = (value.as_micros() as u64).clamp(1, HIST_MAX_US);
        self.all.saturating_record_n(us, count);
        self.current.saturating_record_n(us, count);
    }

    fn all(&self) -> Quantiles {
        quantiles(&self.all)
    }

    fn recent(&mut self, now: Instant) -> Quantiles {
        self.rotate(now);
        let mut merged = self.previous.clone();
        // Same bounds on both sides, so adding cannot fail.
        let _ = merged.add(&self.current);
        quantiles(&merged)
    }
}

fn quantiles(h: &Histogram<u64>) -> Quantiles {
    if h.is_empty() {
        return Quantiles::default();
    }
    let at = |q| Duration::from_micros(h.value_at_quantile(q));
    Quantiles {
        count: h.len(),
        p50: at(0.50),
        p95: at(0.95),
        p99: at(0.99),
        max: Duration::from_micros(h.max()),
    }
}

/// Shared by the pool handle, the pool process and the connections.
pub(crate) struct Stats {
    pub(crate) size: AtomicUsize,
    pub(crate) checked_out: AtomicUsize,
    pub(crate) idle: AtomicUsize,
    pub(crate) queue_len: AtomicUsize,
    pub(crate) slow: AtomicBool,
    pub(crate) served: AtomicU64,
    pub(crate) drops: AtomicU64,
    pub(crate) unavailable: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) connection_exits: AtomicU64,
    queue: Mutex<Windowed>,
    query: Mutex<Windowed>,
    idle_time: Mutex<Windowed>,
    log: Mutex<VecDeque<CheckoutRecord>>,
    started: Instant,
}

impl Stats {
    pub(crate) fn new() -> Stats {
        Stats {
            size: AtomicUsize::new(0),
            checked_out: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            queue_len: AtomicUsize::new(0),
            slow: AtomicBool::new(false),
            served: AtomicU64::new(0),
            drops: AtomicU64::new(0),
            unavailable: AtomicU64::new(0),
            timeouts: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            connection_exits: AtomicU64::new(0),
            queue: Mutex::new(Windowed::new()),
            query: Mutex::new(Windowed::new()),
            idle_time: Mutex::new(Windowed::new()),
            log: Mutex::new(VecDeque::new()),
            started: Instant::now(),
        }
    }

    /// Records the decision about one request, and its queue time if it was served.
    pub(crate) fn checkout(
        &self,
        id: u64,
        now: Instant,
        waited: Duration,
        slow: bool,
        outcome: CheckoutOutcome,
    ) {
        let counter = match outcome {
            CheckoutOutcome::Served => {
                self.queue.lock().record(waited, 1, now);
                &self.served
            }
            CheckoutOutcome::Dropped => &self.drops,
            CheckoutOutcome::Unavailable => &self.unavailable,
            CheckoutOutcome::Cancelled => &self.cancelled,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut log = self.log.lock();
        if log.len() == LOG_CAPACITY {
            log.pop_front();
        }
        log.push_back(CheckoutRecord {
            id,
            at: now.saturating_duration_since(self.started),
            waited,
            slow,
            outcome,
        });
    }

    /// Records that `count` requests spent `took` on a connection.
    pub(crate) fn query(&self, took: Duration, count: u64) {
        self.query.lock().record(took, count, Instant::now());
    }

    /// Records how long a connection sat idle before a checkout.
    pub(crate) fn idle(&self, idle: Duration, now: Instant) {
        self.idle_time.lock().record(idle, 1, now);
    }

    pub(crate) fn log(&self) -> Vec<CheckoutRecord> {
        self.log.lock().iter().copied().collect()
    }

    pub(crate) fn snapshot(&self, pool_size: usize) -> PoolMetrics {
        let now = Instant::now();
        let (queue_time, recent_queue_time) = {
            let mut h = self.queue.lock();
            (h.all(), h.recent(now))
        };
        let (query_time, recent_query_time) = {
            let mut h = self.query.lock();
            (h.all(), h.recent(now))
        };
        let (idle_time, recent_idle_time) = {
            let mut h = self.idle_time.lock();
            (h.all(), h.recent(now))
        };
        PoolMetrics {
            pool_size,
            size: self.size.load(Ordering::Relaxed),
            checked_out: self.checked_out.load(Ordering::Relaxed),
            idle: self.idle.load(Ordering::Relaxed),
            queue_len: self.queue_len.load(Ordering::Relaxed),
            slow: self.slow.load(Ordering::Relaxed),
            served: self.served.load(Ordering::Relaxed),
            drops: self.drops.load(Ordering::Relaxed),
            unavailable: self.unavailable.load(Ordering::Relaxed),
            timeouts: self.timeouts.load(Ordering::Relaxed),
            cancelled: self.cancelled.load(Ordering::Relaxed),
            connection_exits: self.connection_exits.load(Ordering::Relaxed),
            query_latency: Duration::ZERO,
            write_lock_held: false,
            queue_time,
            query_time,
            idle_time,
            recent_queue_time,
            recent_query_time,
            recent_idle_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_come_from_the_recorded_values() {
        let stats = Stats::new();
        let now = Instant::now();
        for ms in 1..=100u64 {
            stats.checkout(
                ms,
                now,
                Duration::from_millis(ms),
                false,
                CheckoutOutcome::Served,
            );
        }
        stats.checkout(
            0,
            now,
            Duration::from_secs(1),
            true,
            CheckoutOutcome::Dropped,
        );
        let m = stats.snapshot(4);
        assert_eq!(m.served, 100);
        assert_eq!(m.drops, 1);
        assert_eq!(m.queue_time.count, 100);
        let close = |d: Duration, ms: u64| (d.as_micros() as i64 - ms as i64 * 1000).abs() < 1500;
        assert!(close(m.queue_time.p50, 50), "{:?}", m.queue_time);
        assert!(close(m.queue_time.p99, 99), "{:?}", m.queue_time);
        assert!(close(m.queue_time.max, 100), "{:?}", m.queue_time);
        assert_eq!(m.recent_queue_time.count, 100);
        assert_eq!(stats.log().len(), 101);
    }
}
