//! Processes: pids, spawn options, the per-process record and the task wrapper that turns a
//! panic, a kill or a normal return into an exit reason.
//!
//! A process is a task on the runtime's executor plus a [`ProcessInner`] record in the process
//! table. The wrapper ([`ProcessFuture`]) checks for pending exit signals before every poll,
//! catches panics, and when the process is gone — its future dropped — tells links, monitors,
//! the registry and pub/sub, in that order, so they only ever see a process that is really gone.

use std::collections::VecDeque;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::Mutex;

use crate::hash::IdMap;
use crate::mailbox::{Mailbox, Msg};
use crate::observe::events::EventKind;
use crate::panic_hook;
use crate::pidset::PidSet;
use crate::signal::{Down, Exit, ExitReason, IntoExitReason, MonitorRef};
use crate::TimerRef;
use crate::{Ctx, Handle, Shared};

// Old paths (`crate::process::Pid`, ...) still work for the files that use them.
pub use crate::kind::{Kind, Status};
pub use crate::pid::Pid;

/// One past exit of a supervised child, kept in its restart history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PastExit {
    /// Runtime clock time of the exit.
    pub at: Duration,
    pub pid: Pid,
    pub reason: ExitReason,
}

/// What a supervisor passes to a child it (re)starts, for the inspector.
#[derive(Clone, Debug, Default)]
pub struct RestartInfo {
    /// How many times this child has been restarted.
    pub count: u32,
    /// Most recent exits of this child, oldest first.
    pub history: Arc<[PastExit]>,
}

/// Options for spawning a process.
#[derive(Clone, Debug)]
pub struct SpawnOpts {
    pub(crate) name: Option<Arc<str>>,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) kind: Kind,
    pub(crate) link: Option<Pid>,
    pub(crate) monitor_by: Option<Pid>,
    pub(crate) parent: Option<Pid>,
    pub(crate) trap_exit: bool,
    pub(crate) restart: Option<RestartInfo>,
}

impl Default for SpawnOpts {
    fn default() -> Self {
        SpawnOpts::new()
    }
}

impl SpawnOpts {
    /// A plain worker: no name, no link.
    pub fn new() -> SpawnOpts {
        SpawnOpts {
            name: None,
            label: None,
            kind: Kind::Worker,
            link: None,
            monitor_by: None,
            parent: None,
            trap_exit: false,
            restart: None,
        }
    }

    /// Registers the process under `name` before it first runs; spawning fails if taken.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A display label for the GUI.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// What kind of process this is.
    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// Links the new process to `pid` before it first runs.
    pub fn link(mut self, pid: Pid) -> Self {
        self.link = Some(pid);
        self
    }

    /// Has `watcher` monitor the new process from before it first runs.
    pub(crate) fn monitor_by(mut self, watcher: Pid) -> Self {
        self.monitor_by = Some(watcher);
        self
    }

    /// The supervisor that owns the process (for the tree view).
    pub fn parent(mut self, parent: Pid) -> Self {
        self.parent = Some(parent);
        self
    }

    /// Starts the process with exits trapped.
    pub fn trap_exit(mut self, trap: bool) -> Self {
        self.trap_exit = trap;
        self
    }

    /// Restart count and history, set by supervisors.
    pub fn restart_info(mut self, info: RestartInfo) -> Self {
        self.restart = Some(info);
        self
    }

    /// The label, or the name, or the kind.
    pub fn display_name(&self) -> Arc<str> {
        self.label
            .clone()
            .or_else(|| self.name.clone())
            .unwrap_or_else(|| self.kind.name().into())
    }
}

/// Spawning failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    #[error("the name {0:?} is already registered to {1}")]
    NameTaken(Arc<str>, Pid),
    #[error("the runtime is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Failed(Arc<str>),
}

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

/// A supervisor's restart intensity use, published for the GUI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SupervisorUse {
    /// Restarts within the current period.
    pub restarts_in_period: u32,
    pub max_restarts: u32,
    pub period: Duration,
    /// Number of children it holds.
    pub children: usize,
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
    pub(crate) fn signal_exit(&self, from: Pid, reason: ExitReason, link: bool) {
        let mut st = self.state.lock();
        if !st.alive {
            return;
        }
        if reason == ExitReason::Kill && !link {
            st.set_pending_exit(ExitReason::Killed);
        } else if st.trap_exit {
            st.mailbox.push(Msg::new(Exit { from, reason }));
            self.msgs_in.fetch_add(1, Ordering::Relaxed);
            st.wake();
        } else if reason != ExitReason::Normal || (!link && from == self.pid) {
            st.set_pending_exit(reason);
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

/// Spawns a process running `body` on the runtime behind `shared`.
pub(crate) fn spawn<F, Fut>(
    shared: &Arc<Shared>,
    opts: SpawnOpts,
    body: F,
) -> Result<(Pid, Option<MonitorRef>), SpawnError>
where
    F: FnOnce(Ctx) -> Fut + Send + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: IntoExitReason,
{
    if shared.is_shutting_down() {
        return Err(SpawnError::ShuttingDown);
    }
    let pid = Pid(shared.next_pid.fetch_add(1, Ordering::Relaxed));
    let mut extra = None;
    if opts.name.is_some() || opts.restart.is_some() {
        extra = Some(Box::new(Extra {
            name: opts.name.clone(),
            restart: opts.restart.clone(),
            ..Extra::default()
        }));
    }
    let inner = Arc::new(ProcessInner {
        pid,
        kind: opts.kind,
        label: opts.label.clone(),
        parent: opts.parent,
        spawned_at_ns: shared.now().as_nanos() as u64,
        task_size: AtomicU32::new(0),
        status: AtomicU8::new(Status::Runnable as u8),
        msgs_in: AtomicU64::new(0),
        msgs_out: AtomicU64::new(0),
        state_size: AtomicUsize::new(0),
        state: Mutex::new(ProcState {
            mailbox: Mailbox::default(),
            waker: None,
            pending: None,
            links: PidSet::default(),
            extra,
            trap_exit: opts.trap_exit,
            alive: true,
            gone: false,
            taken_this_poll: 0,
        }),
    });
    // In the table before the name points at it: whoever finds the pid by name (to send to it,
    // or to kill it) must find the process too.
    shared.table.insert(inner.clone());
    if let Some(name) = &opts.name {
        if let Err(holder) = shared.registry.register(name.clone(), pid) {
            shared.table.remove(pid);
            return Err(SpawnError::NameTaken(name.clone(), holder));
        }
    }
    shared.events.push(
        pid,
        EventKind::Spawned {
            parent: opts.parent,
            kind: opts.kind,
            label: opts.label.clone(),
        },
    );
    if let Some(name) = &opts.name {
        shared
            .events
            .push(pid, EventKind::Registered { name: name.clone() });
    }
    if let Some(other) = opts.link {
        link(shared, &inner, other);
    }
    let mut mref = None;
    if let Some(watcher) = opts.monitor_by {
        if let Some(w) = shared.table.get(watcher) {
            mref = Some(monitor(shared, &w, pid));
        }
    }
    let ctx = Ctx::new(inner.clone(), Handle(shared.clone()));
    let record = inner.clone();
    let future = ProcessFuture {
        inner,
        shared: shared.clone(),
        body: Some(Starting::Body(Some(body), ctx)),
    };
    let (task, task_size) = shared.executor.spawn_sized(pid.0, future);
    record
        .task_size
        .store(u32::try_from(task_size).unwrap_or(u32::MAX), Ordering::Relaxed);
    task.detach();
    Ok((pid, mref))
}

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
    }
}

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
        let _ = watcher.deliver(Msg::new(Down {
            monitor: mref,
            pid: target,
            reason: ExitReason::NoProc,
        }));
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

/// The body of a process before its first poll (the closure) and after (its future).
enum Starting<F, Fut> {
    Body(Option<F>, Ctx),
    Running(Fut),
}

impl<F, Fut> Starting<F, Fut>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
{
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Fut::Output> {
        // SAFETY: we never move the future out of `Running` once it is there; `Body` holds no
        // pinned data, so replacing it is fine.
        let this = unsafe { self.get_unchecked_mut() };
        if let Starting::Body(body, ctx) = this {
            let body = body.take().expect("process body already started");
            let fut = body(ctx.clone());
            *this = Starting::Running(fut);
        }
        match this {
            Starting::Running(fut) => unsafe { Pin::new_unchecked(fut) }.poll(cx),
            Starting::Body(..) => unreachable!("replaced above"),
        }
    }
}

/// The task wrapper around a process body.
struct ProcessFuture<B> {
    inner: Arc<ProcessInner>,
    shared: Arc<Shared>,
    body: Option<B>,
}

impl<F, Fut> Future for ProcessFuture<Starting<F, Fut>>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future,
    Fut::Output: IntoExitReason,
{
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: `body` is structurally pinned: it is only polled in place, and dropped in
        // place by setting the option to None. The other fields are never pinned.
        let this = unsafe { self.get_unchecked_mut() };
        let pending = {
            let mut st = this.inner.state.lock();
            match &st.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.waker = Some(cx.waker().clone()),
            }
            st.taken_this_poll = 0;
            st.pending.take()
        };
        if this.body.is_none() {
            return Poll::Ready(());
        }
        this.inner.set_status(Status::Running);
        let crash = match pending {
            Some(Pending::Exit(reason)) => {
                let reason = this.drop_body(reason);
                this.finish(reason);
                return Poll::Ready(());
            }
            Some(Pending::Crash) => true,
            None => false,
        };
        let body = &mut this.body;
        let result = panic_hook::quietly(|| {
            catch_unwind(AssertUnwindSafe(|| {
                if crash {
                    panic!("crashed on request (crash/1 from the outside)");
                }
                let fut = body.as_mut().expect("checked above");
                // SAFETY: see above; `body` never moves while Some.
                unsafe { Pin::new_unchecked(fut) }.poll(cx)
            }))
        });
        match result {
            Ok(Poll::Pending) => {
                if this.inner.status() == Status::Running {
                    this.inner.set_status(Status::Waiting);
                }
                Poll::Pending
            }
            Ok(Poll::Ready(out)) => {
                let reason = this.drop_body(out.into_exit_reason());
                this.finish(reason);
                Poll::Ready(())
            }
            Err(payload) => {
                let reason = ExitReason::Panic(panic_hook::message(&*payload).into());
                drop(payload);
                let reason = this.drop_body(reason);
                this.finish(reason);
                Poll::Ready(())
            }
        }
    }
}

impl<B> ProcessFuture<B> {
    /// Drops the body in place, running its destructors; a panic there becomes the reason.
    fn drop_body(&mut self, reason: ExitReason) -> ExitReason {
        let body = &mut self.body;
        match panic_hook::quietly(|| catch_unwind(AssertUnwindSafe(|| *body = None))) {
            Ok(()) => reason,
            Err(payload) => {
                self.body = None;
                ExitReason::Panic(panic_hook::message(&*payload).into())
            }
        }
    }

    /// The process is gone: tell everyone who cares, then forget it.
    fn finish(&mut self, reason: ExitReason) {
        exit_cleanup(&self.shared, &self.inner, reason);
    }
}

impl<B> Drop for ProcessFuture<B> {
    fn drop(&mut self) {
        // A task dropped without finishing (runtime shutdown): still clean up its tables.
        if self.body.is_some() {
            let reason = self.drop_body(ExitReason::Killed);
            exit_cleanup(&self.shared, &self.inner, reason);
        }
    }
}

/// Drops `value`, catching a panic in its destructor (user code: messages, process state).
pub(crate) fn drop_quietly<T>(value: T) {
    let _ = panic_hook::quietly(|| catch_unwind(AssertUnwindSafe(move || drop(value))));
}

/// Removes a dead process from every table and sends its exit to links and monitors.
fn exit_cleanup(shared: &Shared, inner: &ProcessInner, reason: ExitReason) {
    let (links, extra, queue) = {
        let mut st = inner.state.lock();
        if !st.alive {
            return;
        }
        st.alive = false;
        st.waker = None;
        st.pending = None;
        (st.links.take(), st.extra.take(), st.mailbox.take_all())
    };
    inner.set_status(Status::Exited);
    // Dropping queued messages drops pending call replies, so callers learn at once. A message
    // whose destructor panics must not stop the cleanup: everyone else still has to be told.
    drop_quietly(queue);
    let pid = inner.pid;
    // The tombstone first: whoever no longer finds the pid in the table finds why it ended.
    shared.tombstones.push(
        pid,
        reason.clone(),
        inner.label.clone(),
        inner.kind,
        inner.parent,
    );
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
            o.signal_exit(pid, reason.clone(), true);
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
                }
            }
        }
    }
    shared.events.push(pid, EventKind::Exited {
        reason: reason.clone(),
    });
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

/// Recent exits, so `process_info` on a dead pid can still say why it ended. Sharded by pid
/// so that exits on different worker threads do not contend; each shard keeps its newest.
pub(crate) struct Tombstones {
    per_shard: usize,
    shards: Box<[crossbeam_utils::CachePadded<Mutex<VecDeque<Tombstone>>>]>,
}

const TOMBSTONE_SHARDS: usize = 16;

#[derive(Clone, Debug)]
pub(crate) struct Tombstone {
    pub(crate) pid: Pid,
    pub(crate) reason: ExitReason,
    pub(crate) label: Option<Arc<str>>,
    pub(crate) kind: Kind,
    pub(crate) parent: Option<Pid>,
}

impl Tombstones {
    pub(crate) fn new(cap: usize) -> Tombstones {
        Tombstones {
            per_shard: cap.div_ceil(TOMBSTONE_SHARDS),
            shards: (0..TOMBSTONE_SHARDS)
                .map(|_| crossbeam_utils::CachePadded::new(Mutex::new(VecDeque::new())))
                .collect(),
        }
    }

    fn shard(&self, pid: Pid) -> &Mutex<VecDeque<Tombstone>> {
        &self.shards[(pid.0 as usize) % TOMBSTONE_SHARDS]
    }

    fn push(
        &self,
        pid: Pid,
        reason: ExitReason,
        label: Option<Arc<str>>,
        kind: Kind,
        parent: Option<Pid>,
    ) {
        if self.per_shard == 0 {
            return;
        }
        let mut r = self.shard(pid).lock();
        if r.len() == self.per_shard {
            r.pop_front();
        }
        r.push_back(Tombstone {
            pid,
            reason,
            label,
            kind,
            parent,
        });
    }

    pub(crate) fn find(&self, pid: Pid) -> Option<Tombstone> {
        self.shard(pid)
            .lock()
            .iter()
            .rev()
            .find(|t| t.pid == pid)
            .cloned()
    }
}
