//! Timers: send a message to a process after a delay, unless cancelled first.

pub(crate) mod timers;

use std::time::Duration;

use crate::{Handle, Message, Pid, TimerRef};

pub(crate) use timers::{sleep, Timers};

impl Handle {
    /// Sends `message` to `to` after `delay`, unless cancelled first or `to` exits first (as
    /// in Erlang, a timer aimed at a process is cancelled when the process is gone).
    pub fn send_after<M: Message>(&self, to: Pid, delay: Duration, message: M) -> TimerRef {
        let r = self.0.timers.next_ref();
        let Some(target) = self.0.table.get(to) else {
            return r;
        };
        // In the process's list before the timer exists: a timer that fires at once removes
        // its entry, so the entry must already be there.
        {
            let mut st = target.state.lock();
            if !st.alive {
                return r;
            }
            st.extra().timers.push(r);
        }
        let weak = std::sync::Arc::downgrade(&self.0);
        self.0.timers.start(r, to, || {
            self.0.executor.spawn(0, async move {
                sleep(delay).await;
                if let Some(shared) = weak.upgrade() {
                    shared.timers.fired(r);
                    if let Some(target) = shared.table.get(to) {
                        if let Some(e) = target.state.lock().extra.as_mut() {
                            e.timers.retain(|t| *t != r);
                        }
                    }
                    let _ = Handle(shared).send(to, message);
                }
            })
        });
        // It exited meanwhile: its cleanup may have run before the timer was recorded.
        if !target.state.lock().alive {
            self.0.timers.cancel(r);
        }
        r
    }

    /// Cancels a timer. False if it already fired or was cancelled.
    pub fn cancel_timer(&self, timer: TimerRef) -> bool {
        let Some(to) = self.0.timers.cancel_target(timer) else {
            return false;
        };
        if let Some(target) = self.0.table.get(to) {
            if let Some(e) = target.state.lock().extra.as_mut() {
                e.timers.retain(|t| *t != timer);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use crate::{Runtime, RuntimeConfig};

    /// A timer that fires at once must not leave its ref in the target's timer list (it used to
    /// remove itself before `send_after` had pushed it).
    #[test]
    fn a_timer_that_fires_at_once_leaves_no_entry_behind() {
        let rt = Runtime::start(RuntimeConfig::default());
        const N: usize = 2_000;
        let (tx, rx) = mpsc::channel();
        let pid = rt
            .spawn(move |ctx| async move {
                for _ in 0..N {
                    ctx.recv().await;
                }
                let _ = tx.send(());
                ctx.recv().await;
            })
            .unwrap();
        // From several threads at once, so timers fire while others are still being set.
        std::thread::scope(|s| {
            for _ in 0..4 {
                let h = rt.handle();
                s.spawn(move || {
                    for i in 0..N / 4 {
                        h.send_after(pid, Duration::ZERO, i);
                    }
                });
            }
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("every timer fired");
        let deadline = Instant::now() + Duration::from_secs(10);
        let left = loop {
            let p = rt.0.table.get(pid).expect("alive");
            let left = p.state.lock().extra.as_ref().map_or(0, |e| e.timers.len());
            if left == 0 || Instant::now() > deadline {
                break left;
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        assert_eq!(left, 0, "stale timer entries in the process's list");
        assert_eq!(rt.table_sizes().timers, 0);
    }
}
