//! Timers: send a message to a process after a delay, unless cancelled first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// Identifies a timer started with [`Handle::send_after`](crate::Handle::send_after).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerRef(pub(crate) u64);

#[derive(Default)]
pub(crate) struct Timers {
    next: AtomicU64,
    pending: Mutex<HashMap<u64, async_task::Task<(), u64>>>,
}

impl Timers {
    pub(crate) fn next_ref(&self) -> TimerRef {
        TimerRef(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Starts a timer task and records it; the table stays locked until it is recorded, so a
    /// timer that fires at once still finds its entry to remove.
    pub(crate) fn start(&self, r: TimerRef, spawn: impl FnOnce() -> async_task::Task<(), u64>) {
        let mut pending = self.pending.lock();
        let task = spawn();
        pending.insert(r.0, task);
    }

    /// Forgets a timer that fired; its task is finishing on its own.
    pub(crate) fn fired(&self, r: TimerRef) {
        if let Some(task) = self.pending.lock().remove(&r.0) {
            task.detach();
        }
    }

    /// Cancels a timer. False if it already fired or was cancelled.
    pub(crate) fn cancel(&self, r: TimerRef) -> bool {
        let task = self.pending.lock().remove(&r.0);
        task.is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.pending.lock().len()
    }

    pub(crate) fn clear(&self) {
        let all: Vec<_> = self.pending.lock().drain().collect();
        drop(all);
    }
}

/// The delay as a timer future.
pub(crate) fn sleep(delay: Duration) -> async_io::Timer {
    async_io::Timer::after(delay)
}
