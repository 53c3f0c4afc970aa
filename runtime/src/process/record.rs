//! The record of one process ([`ProcessInner`]): what the table, its task and everyone
//! sending to it share — the locked mailbox and links, counters, and how an exit signal lands.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

use crate::hash::IdMap;
use crate::mailbox::{Mailbox, Msg};
use crate::observe::events::SignalOutcome;
use crate::pidset::PidSet;
use crate::process::busy::BusyWindow;
use crate::process::restart_info::{RestartInfo, SupervisorUse};
use crate::{Exit, ExitReason, Kind, MonitorRef, Pid, Status, TimerRef};

/// An exit signal waiting for the process's next poll.
#[derive(Clone, Debug)]
pub(crate) enum Pending {
    Exit(ExitReason),
    Crash,
}

/// Rarely used per-process data, boxed so an idle process stays small.
#[derive(Default)]
pub(crate) struct Extra {
    pub(crate) name: Option<Arc<str>>,
    /// Monitors this process holds on others: ref → target.
    pub(crate) monitors: IdMap<MonitorRef, Pid>,
    /// Monitors others hold on this process: ref → watcher.
    pub(crate) monitored_by: IdMap<MonitorRef, Pid>,
    pub(crate) subscriptions: Vec<Arc<str>>,
    /// Timers that will send to this process; cancelled when it exits, as in Erlang.
    pub(crate) timers: Vec<TimerRef>,
    pub(crate) restart: Option<RestartInfo>,
    pub(crate) state_text: Option<String>,
    pub(crate) state_requested: bool,
    /// Bumped every time the process publishes its state.
    pub(crate) state_seq: u64,
    pub(crate) supervisor: Option<SupervisorUse>,
    /// Told the exit reason once the process is gone ([`Handle::wait_exit`]).
    pub(crate) exit_waiters: Vec<futures_channel::oneshot::Sender<ExitReason>>,
    /// Told when the process next publishes its state ([`Handle::fresh_state`]).
    pub(crate) state_waiters: Vec<futures_channel::oneshot::Sender<()>>,
}

/// The locked part of a process.
pub(crate) struct ProcState {
    pub(crate) mailbox: Mailbox,
    pub(crate) waker: Option<Waker>,
    pub(crate) pending: Option<Pending>,
    pub(crate) links: PidSet,
    pub(crate) extra: Option<Box<Extra>>,
    pub(crate) trap_exit: bool,
    pub(crate) alive: bool,
    /// Set at the very end of exit cleanup: everyone has been told, only waiters remain.
    pub(crate) gone: bool,
    /// Messages taken from the mailbox in the current poll (see [`crate::ctx::RECV_BUDGET`]).
    pub(crate) taken_this_poll: u32,
}

impl ProcState {
    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Wakes the task, if it is waiting.
    pub(crate) fn wake(&self) {
        if let Some(w) = &self.waker {
            w.wake_by_ref();
        }
    }

    /// Records an exit signal that ends the process at its next poll. A kill overrides any
    /// signal already waiting; otherwise the first one wins.
    fn set_pending_exit(&mut self, reason: ExitReason) {
        match (&self.pending, &reason) {
            (_, ExitReason::Killed) | (None, _) => self.pending = Some(Pending::Exit(reason)),
            _ => {}
        }
        self.wake();
    }
}

/// The record of one process, shared by its task and the process table.
pub(crate) struct ProcessInner {
    pub(crate) pid: Pid,
    pub(crate) kind: Kind,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) parent: Option<Pid>,
    /// Spawn time in nanoseconds since the runtime started.
    pub(crate) spawned_at_ns: u64,
    /// Bytes of the task allocation (set once the task exists).
    pub(crate) task_size: AtomicU32,
    pub(crate) status: AtomicU8,
    pub(crate) msgs_in: AtomicU64,
    pub(crate) msgs_out: AtomicU64,
    /// Bytes of state the process reports (servers report their state's size).
    pub(crate) state_size: AtomicUsize,
    /// Set while a trace follows this process (see `trace/tracer.rs`).
    pub(crate) traced: AtomicBool,
    /// Time in polls and polls, recent and total.
    pub(crate) busy: BusyWindow,
    pub(crate) state: Mutex<ProcState>,
}

impl ProcessInner {
    pub(crate) fn status(&self) -> Status {
        Status::from_u8(self.status.load(Ordering::Relaxed))
    }

    pub(crate) fn set_status(&self, status: Status) {
        self.status.store(status as u8, Ordering::Relaxed);
    }

    /// Puts a message in the mailbox and wakes the process; hands it back if the process is
    /// gone.
    pub(crate) fn deliver(&self, msg: Msg) -> Result<(), Msg> {
        let mut st = self.state.lock();
        if !st.alive {
            return Err(msg);
        }
        st.mailbox.push(msg);
        self.msgs_in.fetch_add(1, Ordering::Relaxed);
        if let Some(w) = &st.waker {
            if self.status() == Status::Waiting {
                self.set_status(Status::Runnable);
            }
            w.wake_by_ref();
        }
        Ok(())
    }

    /// Delivers an exit signal from `from`. `link` is true when it comes through a link, as
    /// the exit of a linked process; false for an exit signal sent with `exit`. As in Erlang:
    /// - `kill` sent with `exit` cannot be trapped and ends the process with `killed`; a
    ///   process that itself ended with `kill` passes it through its links as an ordinary
    ///   abnormal reason (trappable, not turned into `killed`);
    /// - a trapping process gets every other signal as an [`Exit`] message;
    /// - `normal` is ignored by a process that does not trap exits, unless it sent the signal
    ///   to itself with `exit` (then it ends, with reason `normal`);
    /// - any other reason ends it with that reason.
    ///
    /// Returns what the process did with it (None: it was gone already), for the event stream.
    pub(crate) fn signal_exit(
        &self,
        from: Pid,
        reason: ExitReason,
        link: bool,
    ) -> Option<SignalOutcome> {
        let mut st = self.state.lock();
        if !st.alive {
            return None;
        }
        if reason == ExitReason::Kill && !link {
            st.set_pending_exit(ExitReason::Killed);
            Some(SignalOutcome::Died)
        } else if st.trap_exit {
            st.mailbox.push(Msg::new(Exit { from, reason }));
            self.msgs_in.fetch_add(1, Ordering::Relaxed);
            st.wake();
            Some(SignalOutcome::Trapped)
        } else if reason != ExitReason::Normal || (!link && from == self.pid) {
            st.set_pending_exit(reason);
            Some(SignalOutcome::Died)
        } else {
            Some(SignalOutcome::Ignored)
        }
    }

    /// Makes the process panic at its next poll, idle or not.
    pub(crate) fn crash(&self) -> bool {
        let mut st = self.state.lock();
        if !st.alive {
            return false;
        }
        if st.pending.is_none() {
            st.pending = Some(Pending::Crash);
        }
        st.wake();
        true
    }

    /// Bytes attributed to this process: task, record, extras, queued messages, state.
    pub(crate) fn memory(&self, st: &ProcState) -> usize {
        let extra = st.extra.as_ref().map_or(0, |e| {
            std::mem::size_of::<Extra>()
                + (e.monitors.capacity() + e.monitored_by.capacity())
                    * (std::mem::size_of::<(MonitorRef, Pid)>() + 1)
                + e.subscriptions.capacity() * std::mem::size_of::<Arc<str>>()
                + e.state_text.as_ref().map_or(0, String::capacity)
        });
        self.task_size.load(Ordering::Relaxed) as usize
            + std::mem::size_of::<ProcessInner>()
            + 2 * std::mem::size_of::<usize>()
            + st.links.heap_bytes()
            + extra
            + st.mailbox.heap_bytes()
            + self.state_size.load(Ordering::Relaxed)
    }
}
