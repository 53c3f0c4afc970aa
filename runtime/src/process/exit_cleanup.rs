//! What happens when a process is gone: every table forgets it, links and monitors are told,
//! then anyone waiting for its exit.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use crate::mailbox::Msg;
use crate::observe::events::{EventKind, SignalOutcome};
use crate::panic_hook;
use crate::process::record::ProcessInner;
use crate::shared::Shared;
use crate::{Down, ExitReason, Status};

/// Drops `value`, catching a panic in its destructor (user code: messages, process state).
fn drop_quietly<T>(value: T) {
    let _ = panic_hook::quietly(|| catch_unwind(AssertUnwindSafe(move || drop(value))));
}

/// Removes a dead process from every table and sends its exit to links and monitors.
pub(crate) fn exit_cleanup(shared: &Shared, inner: &ProcessInner, reason: ExitReason) {
    let (links, extra, queue) = {
        let mut st = inner.state.lock();
        if !st.alive {
            return;
        }
        st.alive = false;
        st.waker = None;
        st.pending = None;
        // The tombstone before the lock is let go: whoever finds the process not alive (that
        // takes this lock) or no longer in the table finds why it ended.
        shared.tombstones.push(
            inner.pid,
            reason.clone(),
            inner.label.clone(),
            inner.kind,
            inner.parent,
        );
        (st.links.take(), st.extra.take(), st.mailbox.take_all())
    };
    inner.set_status(Status::Exited);
    // Dropping queued messages drops pending call replies, so callers learn at once. A message
    // whose destructor panics must not stop the cleanup: everyone else still has to be told.
    drop_quietly(queue);
    let pid = inner.pid;
    shared.table.remove(pid);
    let mut extra = extra;
    let mut exit_waiters = extra
        .as_mut()
        .map(|e| std::mem::take(&mut e.exit_waiters))
        .unwrap_or_default();
    if let Some(extra) = &extra {
        if let Some(name) = &extra.name {
            shared.registry.unregister_if(name, pid);
        }
        for topic in &extra.subscriptions {
            shared.pubsub.remove(topic, pid);
        }
        for timer in &extra.timers {
            shared.timers.cancel(*timer);
        }
        for (mref, target) in &extra.monitors {
            if let Some(t) = shared.table.get(*target) {
                let mut st = t.state.lock();
                if let Some(e) = st.extra.as_mut() {
                    e.monitored_by.remove(mref);
                }
            }
        }
    }
    for other in links {
        if let Some(o) = shared.table.get(other) {
            o.state.lock().links.remove(pid);
            if let Some(outcome) = o.signal_exit(pid, reason.clone(), true) {
                shared.events.push(
                    other,
                    EventKind::Signal {
                        from: pid,
                        reason: reason.clone(),
                        outcome,
                    },
                );
            }
        }
    }
    if let Some(extra) = extra {
        for (mref, watcher) in extra.monitored_by {
            if let Some(w) = shared.table.get(watcher) {
                // One lock on the watcher: drop its record of the monitor, then tell it.
                let mut st = w.state.lock();
                let still_watching = st.alive
                    && st
                        .extra
                        .as_mut()
                        .is_some_and(|e| e.monitors.remove(&mref).is_some());
                if still_watching {
                    st.mailbox.push(Msg::new(Down {
                        monitor: mref,
                        pid,
                        reason: reason.clone(),
                    }));
                    w.msgs_in.fetch_add(1, Ordering::Relaxed);
                    st.wake();
                    drop(st);
                    shared.events.push(
                        watcher,
                        EventKind::Signal {
                            from: pid,
                            reason: reason.clone(),
                            outcome: SignalOutcome::Down,
                        },
                    );
                }
            }
        }
    }
    shared.events.push(
        pid,
        EventKind::Exited {
            reason: reason.clone(),
        },
    );
    if inner.traced.load(Ordering::Relaxed) {
        shared.tracers.exited(pid, reason.clone());
    }
    // Waiters that came while the cleanup ran found `gone` false and left their sender here.
    let late = {
        let mut st = inner.state.lock();
        st.gone = true;
        st.extra.take()
    };
    if let Some(mut late) = late {
        exit_waiters.append(&mut late.exit_waiters);
    }
    for waiter in exit_waiters {
        let _ = waiter.send(reason.clone());
    }
}
