//! Links: both ways, and an exit signal through them when one side is gone.

use std::sync::atomic::Ordering;

use crate::observe::events::EventKind;
use crate::process::record::ProcessInner;
use crate::shared::Shared;
use crate::trace::event::TraceWhat;
use crate::{ExitReason, Pid};

/// Links `inner` with `other`. If `other` is gone, `inner` gets a `noproc` exit signal.
pub(crate) fn link(shared: &Shared, inner: &ProcessInner, other: Pid) {
    if other == inner.pid {
        return;
    }
    if !inner.state.lock().links.insert(other) {
        return;
    }
    let linked = shared.table.get(other).is_some_and(|o| {
        let mut st = o.state.lock();
        if st.alive {
            st.links.insert(inner.pid);
            true
        } else {
            false
        }
    });
    if linked {
        shared.events.push(inner.pid, EventKind::Linked { other });
        trace_link(shared, inner, other, true);
    } else {
        inner.state.lock().links.remove(other);
        inner.signal_exit(other, ExitReason::NoProc, true);
    }
}

/// Removes the link between `inner` and `other`, both ways.
pub(crate) fn unlink(shared: &Shared, inner: &ProcessInner, other: Pid) {
    let had = inner.state.lock().links.remove(other);
    if let Some(o) = shared.table.get(other) {
        o.state.lock().links.remove(inner.pid);
    }
    if had {
        shared.events.push(inner.pid, EventKind::Unlinked { other });
        trace_link(shared, inner, other, false);
    }
}

/// Records a link (or unlink) on whichever side of it is traced.
fn trace_link(shared: &Shared, inner: &ProcessInner, other: Pid, linked: bool) {
    let what = |other| {
        if linked {
            TraceWhat::Link { other }
        } else {
            TraceWhat::Unlink { other }
        }
    };
    if inner.traced.load(Ordering::Relaxed) {
        shared.tracers.record(inner.pid, what(other));
    }
    if let Some(o) = shared.table.get(other) {
        if o.traced.load(Ordering::Relaxed) {
            shared.tracers.record(other, what(inner.pid));
        }
    }
}
