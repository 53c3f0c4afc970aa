//! The live figures the fault processes keep up to date ([`Figures`]), the guards that keep
//! them right however a process goes, and reading a mailbox's length.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::{Handle, Pid};

/// Figures the fault processes keep up to date, shared with the [`Faults`](super::Faults).
#[derive(Default)]
pub(crate) struct Figures {
    /// Leaked processes alive (each one's guard counts itself out when it goes).
    pub(crate) leaked: AtomicUsize,
    pub(crate) flood_consumer: AtomicU64,
    pub(crate) unmatched: AtomicU64,
    pub(crate) state_bytes: AtomicUsize,
    pub(crate) busy_loop: AtomicU64,
    /// Supervisors of the faults that are on: chaos spares them and everything under them.
    spared: Mutex<Vec<Pid>>,
}

impl Figures {
    pub(crate) fn spare(&self, sup: Pid) {
        self.spared.lock().push(sup);
    }

    pub(crate) fn unspare(&self, sup: Pid) {
        self.spared.lock().retain(|p| *p != sup);
    }

    /// The supervisors chaos must leave alone, with everything under them.
    pub(crate) fn spared(&self) -> Vec<Pid> {
        self.spared.lock().clone()
    }
}

/// Counts one live process in `counter` for as long as it is held.
pub(crate) struct Counted<'a>(pub(crate) &'a AtomicUsize);

impl<'a> Counted<'a> {
    pub(crate) fn new(counter: &'a AtomicUsize) -> Counted<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        Counted(counter)
    }
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Clears a pid slot in the figures when the process holding it goes.
pub(crate) struct PidSlot<'a>(&'a AtomicU64, Pid);

impl<'a> PidSlot<'a> {
    pub(crate) fn set(slot: &'a AtomicU64, pid: Pid) -> PidSlot<'a> {
        slot.store(pid.id(), Ordering::Release);
        PidSlot(slot, pid)
    }
}

impl Drop for PidSlot<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .compare_exchange(self.1.id(), 0, Ordering::AcqRel, Ordering::Relaxed);
    }
}

/// The pid in `slot`, if one is set.
pub(crate) fn pid_in(slot: &AtomicU64) -> Option<Pid> {
    match slot.load(Ordering::Acquire) {
        0 => None,
        id => Some(Pid::from_id(id)),
    }
}

/// How many messages wait in `pid`'s mailbox and how many bytes they hold (0 if it is gone).
pub(crate) fn mailbox(handle: &Handle, pid: Pid) -> (usize, usize) {
    handle.0.table.get(pid).map_or((0, 0), |p| {
        let st = p.state.lock();
        (st.mailbox.len(), st.mailbox.heap_bytes())
    })
}
