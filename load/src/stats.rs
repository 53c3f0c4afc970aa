//! The counters and latency histograms every virtual user writes into while a run goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

/// Highest latency recorded exactly: one hour, in microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

/// Which latency a sample belongs to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Lat {
    Connect,
    Join,
    RoundTrip,
}

/// Shared by all users of one run.
pub(crate) struct Stats {
    pub connects: AtomicU64,
    pub connects_ok: AtomicU64,
    pub connects_failed: AtomicU64,
    pub joins: AtomicU64,
    pub joins_ok: AtomicU64,
    pub joins_failed: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub error_replies: AtomicU64,
    pub timed_out: AtomicU64,
    pub unanswered: AtomicU64,
    pub received: AtomicU64,
    pub errors_total: AtomicU64,
    /// Sockets open now.
    pub open: AtomicI64,
    /// Users still running.
    pub users: AtomicI64,
    hists: Mutex<[Histogram<u64>; 3]>,
    errors: Mutex<BTreeMap<String, u64>>,
}

impl Stats {
    pub fn new() -> Stats {
        let h = || Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static bounds are valid");
        Stats {
            connects: AtomicU64::new(0),
            connects_ok: AtomicU64::new(0),
            connects_failed: AtomicU64::new(0),
            joins: AtomicU64::new(0),
            joins_ok: AtomicU64::new(0),
            joins_failed: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            unanswered: AtomicU64::new(0),
            received: AtomicU64::new(0),
            errors_total: AtomicU64::new(0),
            open: AtomicI64::new(0),
            users: AtomicI64::new(0),
            hists: Mutex::new([h(), h(), h()]),
            errors: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Counts one error of `kind` (e.g. `refused`, `closed with code 1008: slow client`).
    pub fn error(&self, kind: &str) {
        Stats::add(&self.errors_total, 1);
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match errors.get_mut(kind) {
            Some(n) => *n += 1,
            None => {
                errors.insert(kind.to_string(), 1);
            }
        }
    }

    pub fn record(&self, which: Lat, d: Duration) {
        let us = u64::try_from(d.as_micros())
            .unwrap_or(HIGHEST_US)
            .clamp(1, HIGHEST_US);
        let mut h = self.hists.lock().unwrap_or_else(|p| p.into_inner());
        h[which as usize].saturating_record(us);
    }

    pub fn histogram(&self, which: Lat) -> Histogram<u64> {
        self.hists.lock().unwrap_or_else(|p| p.into_inner())[which as usize].clone()
    }

    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn live(&self, elapsed: Duration) -> Live {
        let g = Stats::get;
        let (round_trip_p50, round_trip_p99) = self.round_trip_quantiles();
        Live {
            round_trip_p50,
            round_trip_p99,
            elapsed,
            open: self.open.load(Ordering::Relaxed).max(0) as u64,
            connections_ok: g(&self.connects_ok),
            connections_failed: g(&self.connects_failed),
            joins_ok: g(&self.joins_ok),
            sent: g(&self.sent),
            acknowledged: g(&self.acked),
            received: g(&self.received),
            errors: g(&self.errors_total),
        }
    }

    /// The round-trip p50 and p99 so far, read from the run's histogram (a walk over its
    /// buckets under the lock, never a sort); `None` before the first reply.
    fn round_trip_quantiles(&self) -> (Option<Duration>, Option<Duration>) {
        let h = self.hists.lock().unwrap_or_else(|p| p.into_inner());
        let rt = &h[Lat::RoundTrip as usize];
        if rt.is_empty() {
            return (None, None);
        }
        let at = |q: f64| Some(Duration::from_micros(rt.value_at_quantile(q)));
        (at(0.50), at(0.99))
    }
}

/// Counts while a run goes on, for the progress line and the app.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Live {
    pub elapsed: Duration,
    /// Sockets open now.
    pub open: u64,
    pub connections_ok: u64,
    pub connections_failed: u64,
    pub joins_ok: u64,
    pub sent: u64,
    pub acknowledged: u64,
    /// Broadcasts received.
    pub received: u64,
    pub errors: u64,
    /// Round-trip latency of the replies so far (send to reply): median and 99th percentile.
    pub round_trip_p50: Option<Duration>,
    pub round_trip_p99: Option<Duration>,
}

/// Keeps the count of open sockets right however a session ends.
pub(crate) struct OpenGuard<'a>(pub &'a AtomicI64);

impl<'a> OpenGuard<'a> {
    pub fn new(counter: &'a AtomicI64) -> OpenGuard<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        OpenGuard(counter)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_percentiles_come_from_the_round_trip_histogram() {
        let stats = Stats::new();
        let live = stats.live(Duration::ZERO);
        assert_eq!((live.round_trip_p50, live.round_trip_p99), (None, None));
        // 98 fast replies and two slow ones: the median stays fast, p99 sees the slow ones.
        for _ in 0..98 {
            stats.record(Lat::RoundTrip, Duration::from_millis(2));
        }
        for _ in 0..2 {
            stats.record(Lat::RoundTrip, Duration::from_millis(500));
        }
        stats.record(Lat::Connect, Duration::from_secs(9));
        let live = stats.live(Duration::ZERO);
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        let p50 = ms(live.round_trip_p50).unwrap_or(0.0);
        let p99 = ms(live.round_trip_p99).unwrap_or(0.0);
        assert!((1.9..2.1).contains(&p50), "p50 {p50}");
        assert!((499.0..501.0).contains(&p99), "p99 {p99}");
    }
}
