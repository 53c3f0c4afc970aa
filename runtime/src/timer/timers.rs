//! The table of running timers (ref → its task and target), and the timer future itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use crate::executor::Task;
use crate::{Pid, TimerRef};

/// A running timer: its task and the process it will send to.
type Running = (Task<()>, Pid);

#[derive(Default)]
pub(crate) struct Timers {
    next: AtomicU64,
    /// Running timers: ref → (task, target). Dropping the task cancels it.
    pending: Mutex<HashMap<u64, Running>>,
}

impl Timers {
    pub(crate) fn next_ref(&self) -> TimerRef {
        TimerRef(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Starts a timer task and records it; the table stays locked until it is recorded, so a
    /// timer that fires at once still finds its entry to remove.
    pub(crate) fn start(&self, r: TimerRef, to: Pid, spawn: impl FnOnce() -> Task<()>) {
        let mut pending = self.pending.lock();
        let task = spawn();
        pending.insert(r.0, (task, to));
    }

    /// Forgets a timer that fired; its task is finishing on its own.
    pub(crate) fn fired(&self, r: TimerRef) {
        if let Some((task, _)) = self.pending.lock().remove(&r.0) {
            task.detach();
        }
    }

    /// Cancels a timer. False if it already fired or was cancelled.
    pub(crate) fn cancel(&self, r: TimerRef) -> bool {
        self.cancel_target(r).is_some()
    }

    /// Cancels a timer and says whom it was aimed at; `None` if it already fired or was
    /// cancelled. The task is dropped after the table's lock is released.
    pub(crate) fn cancel_target(&self, r: TimerRef) -> Option<Pid> {
        let entry = self.pending.lock().remove(&r.0);
        entry.map(|(task, to)| {
            drop(task);
            to
        })
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
