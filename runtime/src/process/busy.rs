//! [`BusyWindow`]: how long and how often a process was polled, over a sliding window of the
//! last [`BUSY_WINDOW`] (like `recon:proc_window`) and since it was spawned.
//!
//! The window is a ring of one-second buckets. Only the worker polling the process writes
//! (a task is polled by one thread at a time), so recording a poll is a few relaxed loads and
//! stores, no read-modify-write; reading sums the buckets, O(1). Bucket figures are `u32`
//! nanoseconds (a second holds at most 10⁹ of them: a poll longer than its bucket is spread
//! over the buckets it spanned).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The span "busy" and "polls" are measured over.
pub const BUSY_WINDOW: Duration = Duration::from_secs(5);

const BUCKET_NS: u64 = 1_000_000_000;
/// Five whole seconds plus the current partial one: the oldest counts in proportion, so the
/// window is always five seconds long.
const BUCKETS: usize = 6;

/// Poll time and count of one process: a sliding window and totals.
#[derive(Default)]
pub(crate) struct BusyWindow {
    /// The second (of the executor's clock) of the newest bucket written.
    newest: AtomicU32,
    busy_ns: [AtomicU32; BUCKETS],
    polls: [AtomicU32; BUCKETS],
    busy_total_ns: AtomicU64,
    polls_total: AtomicU64,
}

/// What [`BusyWindow::read`] returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Busy {
    pub(crate) busy: Duration,
    pub(crate) polls: u64,
    pub(crate) busy_total: Duration,
    pub(crate) polls_total: u64,
}

fn add32(cell: &AtomicU32, n: u32) {
    cell.store(
        cell.load(Ordering::Relaxed).saturating_add(n),
        Ordering::Relaxed,
    );
}

fn add64(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

impl BusyWindow {
    /// Records a poll that ended at `end_ns` (executor clock) and took `took_ns`. Called only
    /// by the worker that ran the poll.
    pub(crate) fn record(&self, end_ns: u64, took_ns: u64) {
        let sec = (end_ns / BUCKET_NS) as u32;
        let newest = self.newest.load(Ordering::Relaxed);
        if sec != newest {
            // Clear the buckets of the seconds since the newest one (all of them after a gap).
            let gap = sec.wrapping_sub(newest).min(BUCKETS as u32);
            for k in 0..gap {
                let b = (sec.wrapping_sub(k) as usize) % BUCKETS;
                self.busy_ns[b].store(0, Ordering::Relaxed);
                self.polls[b].store(0, Ordering::Relaxed);
            }
            self.newest.store(sec, Ordering::Relaxed);
        }
        add32(&self.polls[sec as usize % BUCKETS], 1);
        // Spread the poll over the seconds it spanned, newest first.
        let mut end = end_ns;
        let mut left = took_ns;
        for k in 0..BUCKETS as u32 {
            let Some(s) = sec.checked_sub(k) else { break };
            let start = u64::from(s) * BUCKET_NS;
            let part = left.min(end.saturating_sub(start));
            add32(&self.busy_ns[s as usize % BUCKETS], part as u32);
            left -= part;
            end = start;
            if left == 0 {
                break;
            }
        }
        add64(&self.busy_total_ns, took_ns);
        add64(&self.polls_total, 1);
    }

    /// The figures at `now_ns` (executor clock): the last [`BUSY_WINDOW`], and totals.
    pub(crate) fn read(&self, now_ns: u64) -> Busy {
        let now_sec = now_ns / BUCKET_NS;
        let into_current = now_ns % BUCKET_NS;
        let newest = u64::from(self.newest.load(Ordering::Relaxed));
        let mut busy = 0f64;
        let mut polls = 0f64;
        for k in 0..BUCKETS as u64 {
            let Some(s) = newest.checked_sub(k) else {
                break;
            };
            let age = now_sec.saturating_sub(s);
            // The oldest second counts for the part of it still inside the window.
            let weight = match age {
                0..=4 => 1.0,
                5 => 1.0 - into_current as f64 / BUCKET_NS as f64,
                _ => continue,
            };
            let b = s as usize % BUCKETS;
            busy += f64::from(self.busy_ns[b].load(Ordering::Relaxed)) * weight;
            polls += f64::from(self.polls[b].load(Ordering::Relaxed)) * weight;
        }
        Busy {
            busy: Duration::from_nanos(busy.round() as u64),
            polls: polls.round() as u64,
            busy_total: Duration::from_nanos(self.busy_total_ns.load(Ordering::Relaxed)),
            polls_total: self.polls_total.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = BUCKET_NS;

    #[test]
    fn a_poll_counts_in_the_window_until_it_slides_out() {
        let w = BusyWindow::default();
        w.record(10 * S + 500_000_000, 50_000_000);
        let r = w.read(10 * S + 600_000_000);
        assert_eq!(r.busy, Duration::from_millis(50));
        assert_eq!(r.polls, 1);
        assert_eq!(w.read(14 * S + 900_000_000).busy, Duration::from_millis(50));
        // Six seconds on, the bucket is out of the window; the totals stay.
        let later = w.read(16 * S + 100_000_000);
        assert_eq!(later.busy, Duration::ZERO);
        assert_eq!(later.polls, 0);
        assert_eq!(later.busy_total, Duration::from_millis(50));
        assert_eq!(later.polls_total, 1);
    }

    #[test]
    fn a_new_second_clears_what_its_bucket_held_six_seconds_ago() {
        let w = BusyWindow::default();
        w.record(3 * S + 1, 1_000);
        w.record(9 * S + 1, 2_000);
        let r = w.read(9 * S + 2);
        assert_eq!(r.busy, Duration::from_nanos(2_000));
        assert_eq!(r.polls, 1);
        assert_eq!(r.polls_total, 2);
    }

    #[test]
    fn a_poll_longer_than_a_second_is_spread_over_the_seconds_it_spanned() {
        let w = BusyWindow::default();
        w.record(20 * S + 500_000_000, 2 * S);
        assert_eq!(w.read(20 * S + 600_000_000).busy, Duration::from_secs(2));
        // At 24.5 s the window starts at 19.5 s: all of second 20 (0.5 s) and half of second 19
        // (1 s in it, counted in proportion) are inside.
        let r = w.read(24 * S + 500_000_000);
        assert_eq!(r.busy, Duration::from_secs(1));
    }
}
