//! The counters and latency histograms every virtual user writes into while a run goes on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency recorded exactly: one hour, in microseconds.
const HIGHEST_US: u64 = 3_600_000_000;

/// The live percentiles cover the replies of the last one to two of these spans: two
/// histograms take turns, so a slowdown late in a long run shows within seconds instead of
/// being averaged into everything before it.
const RECENT_SPAN: Duration = Duration::from_secs(5);

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
    recent: Mutex<Recent>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Round trips of the current span and of the one before it.
struct Recent {
    current: Histogram<u64>,
    previous: Histogram<u64>,
    /// Both merged, for reading the percentiles: kept, so a read (the app asks every frame)
    /// reuses its counts array (~370 KB at these bounds) instead of cloning one.
    both: Histogram<u64>,
    /// When `current` began.
    since: Instant,
}

impl Recent {
    /// Moves on to `now`: a span that ended becomes the previous one; after two, both are empty.
    fn roll(&mut self, now: Instant) {
        let age = now.saturating_duration_since(self.since);
        if age < RECENT_SPAN {
            return;
        }
        if age < 2 * RECENT_SPAN {
            std::mem::swap(&mut self.current, &mut self.previous);
        } else {
            self.previous.reset();
        }
        self.current.reset();
        self.since = now;
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_US, 3).expect("static bounds are valid")
}

impl Stats {
    pub fn new() -> Stats {
        let h = histogram;
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
            recent: Mutex::new(Recent {
                current: h(),
                previous: h(),
                both: h(),
                since: Instant::now(),
            }),
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
        drop(h);
        if let Lat::RoundTrip = which {
            self.record_recent(Instant::now(), us);
        }
    }

    fn record_recent(&self, now: Instant, us: u64) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        r.roll(now);
        r.current.saturating_record(us);
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
        let (round_trip_p50, round_trip_p99) = self.round_trip_quantiles(Instant::now());
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

    /// The round-trip p50 and p99 of the replies in the last [`RECENT_SPAN`] to twice that, read
    /// from the two recent histograms (a walk over their buckets, never a sort); `None` when no
    /// reply came in that time.
    fn round_trip_quantiles(&self, now: Instant) -> (Option<Duration>, Option<Duration>) {
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        r.roll(now);
        let Recent {
            current,
            previous,
            both,
            ..
        } = &mut *r;
        both.reset();
        if both.add(&*previous).is_err() || both.add(&*current).is_err() || both.is_empty() {
            return (None, None);
        }
        let at = |q: f64| Some(Duration::from_micros(both.value_at_quantile(q)));
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
    /// Round-trip latency (send to reply) of the replies of the last 5 to 10 seconds: median
    /// and 99th percentile; `None` when none came in that time. The summary at the end has the
    /// whole run's.
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

    #[test]
    fn a_slow_phase_slides_out_of_the_live_percentiles() {
        let stats = Stats::new();
        let t0 = Instant::now();
        for _ in 0..100 {
            stats.record_recent(t0, 5_000_000);
        }
        let ms = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
        // Still inside the window a span later: the slow replies count.
        let (_, p99) = stats.round_trip_quantiles(t0 + RECENT_SPAN + Duration::from_millis(1));
        assert!(ms(p99).is_some_and(|p| p > 4_900.0), "p99 {p99:?}");
        // Fast replies since then, and two spans on: only they count.
        let t1 = t0 + RECENT_SPAN + Duration::from_millis(1);
        for _ in 0..100 {
            stats.record_recent(t1, 2_000);
        }
        let (p50, p99) = stats.round_trip_quantiles(t1 + RECENT_SPAN + Duration::from_millis(1));
        assert!(ms(p99).is_some_and(|p| p < 3.0), "p99 {p99:?}");
        assert!(ms(p50).is_some_and(|p| p < 3.0), "p50 {p50:?}");
        // With no reply for two spans there is nothing recent to report.
        let (p50, p99) = stats.round_trip_quantiles(t1 + 3 * RECENT_SPAN);
        assert_eq!((p50, p99), (None, None));
    }
}
