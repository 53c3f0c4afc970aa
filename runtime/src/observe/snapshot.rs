//! One row per live process: the process table as the GUI draws it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::process::record::ProcessInner;
use crate::{Kind, Pid, Status, SupervisorUse};

/// A process as seen in one snapshot of the process table.
#[derive(Clone, Debug)]
pub struct ProcessRow {
    pub pid: Pid,
    pub name: Option<Arc<str>>,
    pub label: Option<Arc<str>>,
    pub kind: Kind,
    /// The supervisor that owns it.
    pub parent: Option<Pid>,
    pub status: Status,
    pub mailbox_len: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    /// Bytes: task, record, queued messages and reported state.
    pub memory: usize,
    /// How many times its supervisor has restarted this child.
    pub restarts: u32,
    pub age: Duration,
    pub trap_exit: bool,
    /// For supervisors: restart intensity use.
    pub supervisor: Option<SupervisorUse>,
    /// Time spent in polls over the last [`BUSY_WINDOW`](crate::BUSY_WINDOW) (5 s): the
    /// closest thing to the BEAM's reductions, as `recon:proc_window` reads them.
    pub busy: Duration,
    /// Polls over the last [`BUSY_WINDOW`](crate::BUSY_WINDOW).
    pub polls: u64,
    /// Time spent in polls since spawn.
    pub busy_total: Duration,
    /// Polls since spawn.
    pub polls_total: u64,
}

impl ProcessRow {
    /// The label, else the registered name, else the kind.
    pub fn display_name(&self) -> &str {
        self.label
            .as_deref()
            .or(self.name.as_deref())
            .unwrap_or(self.kind.name())
    }

    /// Share of one core the process used over the window, 0.0–1.0.
    pub fn busy_share(&self) -> f64 {
        self.busy.as_secs_f64() / crate::BUSY_WINDOW.as_secs_f64()
    }

    /// `now_ns`: runtime time (ages); `poll_now_ns`: the executor's clock (busy windows).
    pub(crate) fn read(
        inner: &ProcessInner,
        now_ns: u64,
        poll_now_ns: u64,
        hogs: &[(u64, Duration)],
    ) -> ProcessRow {
        let busy = inner.busy.read(poll_now_ns);
        let st = inner.state.lock();
        let extra = st.extra.as_deref();
        let mut status = inner.status();
        if hogs.iter().any(|&(pid, _)| pid == inner.pid.0) {
            status = Status::NotYielding;
        }
        ProcessRow {
            pid: inner.pid,
            name: extra.and_then(|e| e.name.clone()),
            label: inner.label.clone(),
            kind: inner.kind,
            parent: inner.parent,
            status,
            mailbox_len: st.mailbox.len(),
            messages_in: inner.msgs_in.load(Ordering::Relaxed),
            messages_out: inner.msgs_out.load(Ordering::Relaxed),
            memory: inner.memory(&st),
            restarts: extra
                .and_then(|e| e.restart.as_ref())
                .map_or(0, |r| r.count),
            age: Duration::from_nanos(now_ns.saturating_sub(inner.spawned_at_ns)),
            trap_exit: st.trap_exit,
            supervisor: extra.and_then(|e| e.supervisor.clone()),
            busy: busy.busy,
            polls: busy.polls,
            busy_total: busy.busy_total,
            polls_total: busy.polls_total,
        }
    }
}
