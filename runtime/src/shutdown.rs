//! Shutting a runtime down: every process killed and waited for (briefly), then the executor
//! stopped.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::{ExitReason, Handle, Pid};

impl Handle {
    /// Stops every process (with `kill`), waits briefly for them, and stops the executor.
    pub fn shutdown(&self) {
        if self.0.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        for p in self.0.table.all() {
            let _ = p.signal_exit(Pid::OUTSIDE, ExitReason::Kill, false);
        }
        let handle = self.clone();
        let finish = move || {
            let shared = &handle.0;
            let deadline = Instant::now() + Duration::from_secs(2);
            for p in shared.table.all() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() || handle.wait_exit_timeout(p.pid, left).is_none() {
                    break;
                }
            }
            shared.executor.stop();
            shared.timers.clear();
            // Processes that never got polled again still hold their own waker: drop them so
            // their tasks (and futures) are freed.
            for p in shared.table.all() {
                let waker = p.state.lock().waker.take();
                drop(waker);
            }
        };
        if self.0.executor.is_worker_thread() {
            std::thread::spawn(finish);
        } else {
            finish();
        }
    }
}
