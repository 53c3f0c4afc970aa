//! [`BusyWindow`]: how long and how often a process was polled, over a sliding window of the
//! last [`BUSY_WINDOW`] (like `recon:proc_window`) and since it was spawned.
//!
//! Two fixed windows of [`BUSY_WINDOW`] each, weighted by overlap, as sliding-window rate
//! limiters do: the current one counts whole, the previous one for the part of it still inside
//! the last [`BUSY_WINDOW`] (as if its polls were spread evenly over it). That keeps the record
//! at 40 bytes (a ring of one-second buckets took 72). Only the worker polling the process
//! writes (a task is polled by one thread at a time), so recording a poll is a few relaxed
//! loads and stores, no read-modify-write; reading is O(1). A reader racing with the first poll
//! of a new window may see it half rolled over: the figures are for display.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The span "busy" and "polls" are measured over.
pub const BUSY_WINDOW: Duration = Duration::from_secs(5);

const WINDOW_NS: u64 = BUSY_WINDOW.as_nanos() as u64;

/// Poll time and count of one process: the current and previous fixed windows, and totals.
#[derive(Default)]
pub(crate) struct BusyWindow {
    /// The window (executor clock / [`BUSY_WINDOW`]) the `cur_*` figures are for.
    window: AtomicU32,
    cur_polls: AtomicU32,
    /// The window before `window`, if the process was polled in it: polls and µs in polls (a
    /// window holds at most 5·10⁶ of them).
    prev_polls: AtomicU32,
    prev_busy_us: AtomicU32,
    cur_busy_ns: AtomicU64,
    /// Totals of every window before `window`.
    before_busy_ns: AtomicU64,
    before_polls: AtomicU64,
}

/// The size of the window each process record holds inline.
pub const BUSY_WINDOW_BYTES: usize = std::mem::size_of::<BusyWindow>();

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
    #[inline]
    pub(crate) fn record(&self, end_ns: u64, took_ns: u64) {
        let window = (end_ns / WINDOW_NS) as u32;
        let current = self.window.load(Ordering::Relaxed);
        if window != current {
            self.roll(window, current);
        }
        add32(&self.cur_polls, 1);
        let into = end_ns % WINDOW_NS;
        if took_ns <= into {
            add64(&self.cur_busy_ns, took_ns);
        } else {
            // Begun in an earlier window: the part before this window's start goes to the
            // previous one (and so to the totals, which hold it).
            let earlier = took_ns - into;
            add64(&self.cur_busy_ns, into);
            add32(
                &self.prev_busy_us,
                u32::try_from(earlier.min(WINDOW_NS) / 1_000).unwrap_or(u32::MAX),
            );
            add64(&self.before_busy_ns, earlier);
        }
    }

    /// Starts `window`: the current figures become the previous window's (if it is the one
    /// just before) and join the totals.
    #[cold]
    fn roll(&self, window: u32, current: u32) {
        let busy = self.cur_busy_ns.load(Ordering::Relaxed);
        let polls = self.cur_polls.load(Ordering::Relaxed);
        add64(&self.before_busy_ns, busy);
        add64(&self.before_polls, u64::from(polls));
        let (prev_us, prev_polls) = if window == current.wrapping_add(1) {
            (u32::try_from(busy / 1_000).unwrap_or(u32::MAX), polls)
        } else {
            (0, 0)
        };
        self.prev_busy_us.store(prev_us, Ordering::Relaxed);
        self.prev_polls.store(prev_polls, Ordering::Relaxed);
        self.cur_busy_ns.store(0, Ordering::Relaxed);
        self.cur_polls.store(0, Ordering::Relaxed);
        self.window.store(window, Ordering::Relaxed);
    }

    /// The figures at `now_ns` (executor clock): the last [`BUSY_WINDOW`], and totals.
    pub(crate) fn read(&self, now_ns: u64) -> Busy {
        let now_window = now_ns / WINDOW_NS;
        // The share of the window before `now_window` still inside the last BUSY_WINDOW.
        let older = 1.0 - (now_ns % WINDOW_NS) as f64 / WINDOW_NS as f64;
        let window = u64::from(self.window.load(Ordering::Relaxed));
        let cur_busy = self.cur_busy_ns.load(Ordering::Relaxed);
        let cur_polls = self.cur_polls.load(Ordering::Relaxed);
        let prev_busy = u64::from(self.prev_busy_us.load(Ordering::Relaxed)) * 1_000;
        let prev_polls = self.prev_polls.load(Ordering::Relaxed);
        let (busy, polls) = if window == now_window {
            (
                cur_busy as f64 + prev_busy as f64 * older,
                f64::from(cur_polls) + f64::from(prev_polls) * older,
            )
        } else if window + 1 == now_window {
            (cur_busy as f64 * older, f64::from(cur_polls) * older)
        } else {
            (0.0, 0.0)
        };
        Busy {
            busy: Duration::from_nanos(busy.round() as u64),
            polls: polls.round() as u64,
            busy_total: Duration::from_nanos(
                self.before_busy_ns
                    .load(Ordering::Relaxed)
                    .wrapping_add(cur_busy),
            ),
            polls_total: self
                .before_polls
                .load(Ordering::Relaxed)
                .wrapping_add(u64::from(cur_polls)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn the_window_is_forty_bytes() {
        assert_eq!(BUSY_WINDOW_BYTES, 40);
    }

    #[test]
    fn a_poll_counts_whole_in_its_window_then_fades_out_over_the_next() {
        let w = BusyWindow::default();
        // Window 2 is [10 s, 15 s).
        w.record(10 * S + 500_000_000, 50_000_000);
        let r = w.read(10 * S + 600_000_000);
        assert_eq!(r.busy, Duration::from_millis(50));
        assert_eq!(r.polls, 1);
        assert_eq!(w.read(14 * S + 900_000_000).busy, Duration::from_millis(50));
        // At 16 s, a fifth into the next window, four fifths of window 2 are still inside.
        let r = w.read(16 * S);
        assert_eq!(r.busy, Duration::from_millis(40));
        assert_eq!(r.polls, 1);
        // Two windows on, it is out; the totals stay.
        let later = w.read(20 * S + 100_000_000);
        assert_eq!(later.busy, Duration::ZERO);
        assert_eq!(later.polls, 0);
        assert_eq!(later.busy_total, Duration::from_millis(50));
        assert_eq!(later.polls_total, 1);
    }

    #[test]
    fn the_previous_window_weighs_by_its_overlap_beside_the_current_one() {
        let w = BusyWindow::default();
        for k in 0..10 {
            w.record(5 * S + 10_000_000 + k * 100_000_000, 1_000_000);
        }
        w.record(10 * S + 2 * S, 4_000_000);
        // At 12.5 s: all of the current window (4 ms, 1 poll) and half of the previous one
        // (10 ms, 10 polls).
        let r = w.read(12 * S + 500_000_000);
        assert_eq!(r.busy, Duration::from_millis(9));
        assert_eq!(r.polls, 6);
        assert_eq!(r.busy_total, Duration::from_millis(14));
        assert_eq!(r.polls_total, 11);
    }

    #[test]
    fn a_poll_after_a_gap_forgets_the_windows_before_it() {
        let w = BusyWindow::default();
        w.record(3 * S + 1, 1_000);
        w.record(12 * S + 1, 2_000);
        let r = w.read(12 * S + 2);
        assert_eq!(r.busy, Duration::from_nanos(2_000));
        assert_eq!(r.polls, 1);
        assert_eq!(r.polls_total, 2);
        assert_eq!(r.busy_total, Duration::from_nanos(3_000));
    }

    #[test]
    fn a_poll_begun_in_the_previous_window_is_split_between_the_two() {
        let w = BusyWindow::default();
        // Ends 0.5 s into window 4 ([20 s, 25 s)) after 2 s: 0.5 s here, 1.5 s before.
        w.record(20 * S + 500_000_000, 2 * S);
        // At 22.5 s: 0.5 s whole and half of 1.5 s.
        let r = w.read(22 * S + 500_000_000);
        assert_eq!(r.busy, Duration::from_millis(1_250));
        assert_eq!(r.busy_total, Duration::from_secs(2));
        assert_eq!(r.polls_total, 1);
    }
}
