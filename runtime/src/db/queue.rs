//! The checkout queue and DBConnection's rule for when to drop from it (a CoDel variant).
//!
//! The pool keeps the *smallest* wait of the checkouts in the current `queue_interval`. At the
//! first checkout after the interval ends, the queue becomes *slow* if that smallest wait was
//! above `queue_target`, and fast otherwise. While slow, a request that has waited more than
//! twice `queue_target` when a connection comes free is dropped instead of served. A poll every
//! interval applies the same rule when no connection has come free at all. This mirrors
//! `DBConnection.ConnectionPool` (`dequeue_first`, `dequeue_fast`, `dequeue_slow`, `timeout`).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::request::Request;

/// The slow/fast state of the queue.
#[derive(Debug)]
pub(crate) struct Codel {
    target: Duration,
    interval: Duration,
    /// The smallest wait served in the current interval.
    delay: Duration,
    slow: bool,
    /// When the current interval ends.
    next: Instant,
    /// New `(target, interval)`, taken up when the next interval starts.
    pending: Option<(Duration, Duration)>,
}

/// What to do with the oldest request when a connection is free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Serve it. `slow` is the mode under which it was admitted.
    Serve { waited: Duration, slow: bool },
    /// Drop it: the queue is slow and it waited more than twice the target.
    Drop { waited: Duration },
}

impl Codel {
    pub(crate) fn new(target: Duration, interval: Duration, now: Instant) -> Codel {
        Codel {
            target,
            interval,
            delay: Duration::ZERO,
            slow: false,
            next: now,
            pending: None,
        }
    }

    /// New settings for the intervals to come; the current one ends under the old ones.
    pub(crate) fn reconfigure(&mut self, target: Duration, interval: Duration) {
        self.pending = Some((target, interval));
    }

    /// `(target, interval)` in force now.
    pub(crate) fn settings(&self) -> (Duration, Duration) {
        (self.target, self.interval)
    }

    /// A new interval starts at `now`: take up pending settings, and say when it ends.
    fn next_interval(&mut self, now: Instant) {
        if let Some((target, interval)) = self.pending.take() {
            self.target = target;
            self.interval = interval;
        }
        self.next = now + self.interval;
    }

    pub(crate) fn is_slow(&self) -> bool {
        self.slow
    }

    /// A connection is free and the oldest request was sent at `sent`.
    pub(crate) fn dequeue(&mut self, now: Instant, sent: Instant) -> Decision {
        let waited = now.saturating_duration_since(sent);
        if now >= self.next {
            // The first checkout of a new interval is always served; it decides the mode.
            let admitted_slow = self.slow;
            self.slow = self.delay > self.target;
            self.next_interval(now);
            self.delay = waited;
            return Decision::Serve {
                waited,
                slow: admitted_slow,
            };
        }
        if self.slow && waited > self.target * 2 {
            return Decision::Drop { waited };
        }
        if waited < self.delay {
            self.delay = waited;
        }
        Decision::Serve {
            waited,
            slow: self.slow,
        }
    }

    /// A connection came free and nothing at all was queued.
    pub(crate) fn empty(&mut self, now: Instant) {
        if now >= self.next {
            self.slow = self.delay > self.target;
            self.next_interval(now);
        }
        self.delay = Duration::ZERO;
    }

    /// The periodic poll found no progress since the last one; the oldest request has waited
    /// `waited`. True if the queue is now slow and requests older than [`Codel::drop_after`]
    /// must be dropped.
    pub(crate) fn poll(&mut self, now: Instant, waited: Duration) -> bool {
        if now < self.next {
            return false;
        }
        let slow = self.delay > self.target;
        self.slow = slow;
        self.delay = waited;
        self.next_interval(now);
        slow
    }

    /// While slow, requests that waited longer than this are dropped.
    pub(crate) fn drop_after(&self) -> Duration {
        self.target * 2
    }
}

/// Which queue a request sits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Inserts: served by one writer at a time, in batches (group commit).
    Writes,
    /// Everything else: one request per checkout.
    Others,
}

/// Waiting requests, FIFO per lane. Inserts wait for the single writer (SQLite takes one
/// writer at a time anyway), so a read may overtake queued inserts; within a lane, order is
/// arrival order.
#[derive(Default)]
pub(crate) struct CheckoutQueue {
    writes: VecDeque<Request>,
    others: VecDeque<Request>,
}

impl CheckoutQueue {
    pub(crate) fn push(&mut self, request: Request) {
        if request.is_insert() {
            self.writes.push_back(request);
        } else {
            self.others.push_back(request);
        }
    }

    /// Puts a request back at the head of its lane (its connection vanished before taking it).
    pub(crate) fn push_front(&mut self, request: Request) {
        if request.is_insert() {
            self.writes.push_front(request);
        } else {
            self.others.push_front(request);
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.writes.len() + self.others.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.others.is_empty()
    }

    pub(crate) fn lane_is_empty(&self, lane: Lane) -> bool {
        match lane {
            Lane::Writes => self.writes.is_empty(),
            Lane::Others => self.others.is_empty(),
        }
    }

    /// When the oldest request of any lane was sent.
    pub(crate) fn oldest_sent(&self) -> Option<Instant> {
        match (self.writes.front(), self.others.front()) {
            (Some(w), Some(o)) => Some(w.sent.min(o.sent)),
            (Some(r), None) | (None, Some(r)) => Some(r.sent),
            (None, None) => None,
        }
    }

    /// The lane whose head is oldest, among those that can be served now.
    pub(crate) fn next_lane(&self, writes_allowed: bool) -> Option<Lane> {
        let w = self.writes.front().filter(|_| writes_allowed);
        match (w, self.others.front()) {
            (Some(w), Some(o)) => Some(if (w.sent, w.id) <= (o.sent, o.id) {
                Lane::Writes
            } else {
                Lane::Others
            }),
            (Some(_), None) => Some(Lane::Writes),
            (None, Some(_)) => Some(Lane::Others),
            (None, None) => None,
        }
    }

    pub(crate) fn pop(&mut self, lane: Lane) -> Option<Request> {
        match lane {
            Lane::Writes => self.writes.pop_front(),
            Lane::Others => self.others.pop_front(),
        }
    }

    /// Removes the request `id` (its caller gave up).
    pub(crate) fn remove(&mut self, id: u64) -> Option<Request> {
        for lane in [&mut self.others, &mut self.writes] {
            if let Some(i) = lane.iter().position(|r| r.id == id) {
                return lane.remove(i);
            }
        }
        None
    }

    /// Removes every request sent before `cutoff`.
    pub(crate) fn take_older_than(&mut self, cutoff: Instant) -> Vec<Request> {
        let mut out = Vec::new();
        for lane in [&mut self.writes, &mut self.others] {
            // Each lane is in arrival order, so the stale ones are at the front.
            while lane.front().is_some_and(|r| r.sent < cutoff) {
                out.extend(lane.pop_front());
            }
        }
        out
    }

    /// Every queued request (the pool is going away, or a test looks).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Request> {
        self.writes.iter().chain(self.others.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn codel(t0: Instant) -> Codel {
        Codel::new(50 * MS, 1000 * MS, t0)
    }

    /// A start time with room before it for requests sent earlier.
    fn start() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn the_first_checkout_of_an_interval_is_served_and_sets_the_mode() {
        let t0 = start();
        let mut c = codel(t0);
        // Interval boundary at t0: served, mode from the initial zero delay (fast).
        assert_eq!(
            c.dequeue(t0 + 300 * MS, t0),
            Decision::Serve {
                waited: 300 * MS,
                slow: false
            }
        );
        assert!(!c.is_slow());
        // Every checkout in this interval waited more than the target...
        for i in 1..10 {
            let now = t0 + (300 + i * 50) * MS;
            assert!(matches!(
                c.dequeue(now, now - 200 * MS),
                Decision::Serve { slow: false, .. }
            ));
        }
        // ...so the first one after it is still served, and the queue turns slow.
        let now = t0 + 1400 * MS;
        assert_eq!(
            c.dequeue(now, now - 400 * MS),
            Decision::Serve {
                waited: 400 * MS,
                slow: false
            }
        );
        assert!(c.is_slow());
        // Now anything that waited more than twice the target is dropped...
        let now = now + 10 * MS;
        assert_eq!(
            c.dequeue(now, now - 101 * MS),
            Decision::Drop { waited: 101 * MS }
        );
        // ...and the rest are served in slow mode.
        assert_eq!(
            c.dequeue(now, now - 100 * MS),
            Decision::Serve {
                waited: 100 * MS,
                slow: true
            }
        );
    }

    #[test]
    fn new_settings_take_effect_when_the_next_interval_starts() {
        let t0 = start();
        let mut c = codel(t0);
        c.dequeue(t0, t0); // interval [t0, t0 + 1000 ms), target 50 ms
        c.reconfigure(5 * MS, 100 * MS);
        assert_eq!(
            c.settings(),
            (50 * MS, 1000 * MS),
            "not before the interval ends"
        );
        // Waits of 30 ms: fast under the old target, for the rest of this interval.
        let now = t0 + 500 * MS;
        c.dequeue(now, now - 30 * MS);
        let now = t0 + 1000 * MS;
        assert!(matches!(
            c.dequeue(now, now - 30 * MS),
            Decision::Serve { slow: false, .. }
        ));
        assert!(
            !c.is_slow(),
            "the ended interval is judged by its own target"
        );
        assert_eq!(c.settings(), (5 * MS, 100 * MS));
        // The next interval is 100 ms long and judged against 5 ms: slow, and 30 ms waits
        // (over twice the new target) are dropped.
        let now = t0 + 1100 * MS;
        c.dequeue(now, now - 30 * MS);
        assert!(c.is_slow());
        assert_eq!(
            c.dequeue(now, now - 30 * MS),
            Decision::Drop { waited: 30 * MS }
        );
    }

    #[test]
    fn one_fast_checkout_in_an_interval_keeps_the_queue_fast() {
        let t0 = start();
        let mut c = codel(t0);
        c.dequeue(t0, t0 - 500 * MS);
        let now = t0 + 100 * MS;
        c.dequeue(now, now - 500 * MS);
        c.dequeue(now, now - 10 * MS); // one under the target
        c.dequeue(now, now - 500 * MS);
        let now = t0 + 1100 * MS;
        c.dequeue(now, now - 500 * MS);
        assert!(!c.is_slow());
    }

    #[test]
    fn an_empty_queue_resets_the_smallest_wait() {
        let t0 = start();
        let mut c = codel(t0);
        c.dequeue(t0, t0 - 500 * MS);
        c.empty(t0 + 10 * MS);
        c.dequeue(t0 + 20 * MS, t0 - 500 * MS);
        c.dequeue(t0 + 1100 * MS, t0);
        assert!(!c.is_slow());
    }

    #[test]
    fn the_poll_turns_the_queue_slow_without_any_checkin() {
        let t0 = start();
        let mut c = codel(t0);
        c.dequeue(t0, t0 - 300 * MS); // smallest wait 300 ms
        assert!(!c.poll(t0 + 500 * MS, 500 * MS), "interval not over yet");
        assert!(c.poll(t0 + 1000 * MS, 1000 * MS));
        assert!(c.is_slow());
        assert_eq!(c.drop_after(), 100 * MS);
    }
}
