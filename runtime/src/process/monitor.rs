//! Monitors: one way; a `Down` message when the target is gone.

use std::sync::atomic::Ordering;

use crate::mailbox::Msg;
use crate::observe::events::{EventKind, SignalOutcome};
use crate::process::record::ProcessInner;
use crate::shared::Shared;
use crate::{Down, ExitReason, MonitorRef, Pid};

/// Has `watcher` monitor `target`. If the target is gone, a `Down` with `noproc` arrives at once.
pub(crate) fn monitor(shared: &Shared, watcher: &ProcessInner, target: Pid) -> MonitorRef {
    let mref = MonitorRef(shared.next_ref.fetch_add(1, Ordering::Relaxed));
    watcher.state.lock().extra().monitors.insert(mref, target);
    let set = shared.table.get(target).is_some_and(|t| {
        let mut st = t.state.lock();
        if st.alive {
            st.extra().monitored_by.insert(mref, watcher.pid);
            true
        } else {
            false
        }
    });
    if set {
        shared.events.push(
            watcher.pid,
            EventKind::Monitor {
                target,
                monitor: mref,
            },
        );
    } else {
        remove_monitor_entry(watcher, mref);
        let delivered = watcher.deliver(Msg::new(Down {
            monitor: mref,
            pid: target,
            reason: ExitReason::NoProc,
        }));
        if delivered.is_ok() {
            shared.events.push(
                watcher.pid,
                EventKind::Signal {
                    from: target,
                    reason: ExitReason::NoProc,
                    outcome: SignalOutcome::Down,
                },
            );
        }
    }
    mref
}

/// Removes a monitor that `watcher` holds. True if it was still set.
pub(crate) fn demonitor(shared: &Shared, watcher: &ProcessInner, mref: MonitorRef) -> bool {
    let Some(target) = remove_monitor_entry(watcher, mref) else {
        return false;
    };
    if let Some(t) = shared.table.get(target) {
        let mut st = t.state.lock();
        if let Some(e) = st.extra.as_mut() {
            e.monitored_by.remove(&mref);
        }
    }
    true
}

fn remove_monitor_entry(watcher: &ProcessInner, mref: MonitorRef) -> Option<Pid> {
    let mut st = watcher.state.lock();
    st.extra.as_mut()?.monitors.remove(&mref)
}
