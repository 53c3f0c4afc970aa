//! Waiting for a process to be gone, from inside a process or from a plain thread, without
//! polling: the process's exit cleanup tells each waiter, like a monitor that needs no process.

use std::future::Future;
use std::time::Duration;

use futures_channel::oneshot;

use crate::timeout::with_timeout;
use crate::{ExitReason, Handle, Pid};

impl Handle {
    /// Resolves with `pid`'s exit reason once it is gone (its future dropped, its links,
    /// monitors and names told), as a monitor's `Down` would. A pid that is already gone
    /// resolves at once, with its reason if it exited recently, else `noproc`. Usable from any
    /// process or, through [`block_on`](Self::block_on), from any thread.
    pub fn wait_exit(&self, pid: Pid) -> impl Future<Output = ExitReason> + Send + 'static {
        let waiting = self.exit_waiter(pid);
        async move {
            match waiting {
                Err(reason) => reason,
                // The waiter is dropped unanswered only when the runtime itself goes away.
                Ok(rx) => rx.await.unwrap_or(ExitReason::Killed),
            }
        }
    }

    /// Blocks the calling thread until `pid` is gone (its exit reason) or `timeout` passes
    /// (`None`). For plain threads only: never call it from inside a process.
    pub fn wait_exit_timeout(&self, pid: Pid, timeout: Duration) -> Option<ExitReason> {
        futures_lite::future::block_on(with_timeout(timeout, self.wait_exit(pid)))
    }

    /// A receiver the exit cleanup of `pid` will answer, or the reason at once if it is gone.
    fn exit_waiter(&self, pid: Pid) -> Result<oneshot::Receiver<ExitReason>, ExitReason> {
        if let Some(inner) = self.0.table.get(pid) {
            let mut st = inner.state.lock();
            if !st.gone {
                let (tx, rx) = oneshot::channel();
                st.extra().exit_waiters.push(tx);
                return Ok(rx);
            }
        }
        Err(self
            .0
            .tombstones
            .find(pid)
            .map_or(ExitReason::NoProc, |t| t.reason))
    }
}
