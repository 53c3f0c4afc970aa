//! A BEAM-style actor runtime: lightweight processes with mailboxes, links, monitors and
//! supervisors, built to be watched while it runs.
//!
//! Each [`Runtime`] owns its executor (worker threads that poll process tasks), its process
//! table, registry, pub/sub, timers, event stream and clock; nothing is global, so several can
//! run side by side. Processes are async tasks, not threads: they talk only by messages, fail on
//! their own, and are restarted by supervisors. The read side ([`observe`]) lets a GUI draw the
//! whole system at frame rate; the command side (`kill`, `exit`, `crash`) lets a learner break it.
//!
//! ```
//! use std::sync::mpsc;
//! use crashcourse_runtime::{Pid, Runtime, RuntimeConfig};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! // A process that doubles the numbers it is sent, back to whoever sent them.
//! let doubler = rt
//!     .spawn(|ctx| async move {
//!         while let Ok((from, n)) = ctx.recv().await.downcast::<(Pid, u64)>() {
//!             let _ = ctx.send(from, n * 2);
//!         }
//!     })
//!     .unwrap();
//! let (tx, rx) = mpsc::channel();
//! rt.spawn(move |ctx| async move {
//!     ctx.send(doubler, (ctx.pid(), 21u64)).unwrap();
//!     let n = ctx.recv().await.downcast::<u64>().unwrap();
//!     tx.send(n).unwrap();
//! })
//! .unwrap();
//! assert_eq!(rx.recv().unwrap(), 42);
//! ```

pub mod alloc;
pub mod bench;
pub mod chat;
mod clock;
mod control;
mod ctx;
pub mod db;
pub mod dynamic_supervisor;
mod executor;
mod hash;
mod kind;
mod mailbox;
pub mod observe;
mod panic_hook;
mod pid;
mod pidset;
mod process;
mod pubsub;
mod registry;
pub mod server;
mod signal;
pub mod supervisor;
mod table;
mod timer;
mod timer_ref;
mod wait;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ctx::Ctx;
pub use executor::LONG_POLL;
pub use mailbox::{Message, Msg};
pub use kind::{Kind, Status};
pub use pid::Pid;
pub use process::{PastExit, RestartInfo, SpawnError, SpawnOpts, SupervisorUse};
pub use registry::RegisterError;
pub use signal::{Down, Exit, ExitReason, IntoExitReason, MonitorRef};
pub use timer_ref::TimerRef;

use executor::{Executor, LongPollReport};
use observe::events::EventBus;
use observe::{
    EventKind, EventReader, LongPoll, ProcessInfo, ProcessRow, RuntimeMetrics, TableSizes,
};
use process::Tombstones;
use pubsub::PubSub;
use registry::Registry;
use table::ProcessTable;
use timer::Timers;

/// How a runtime is set up.
#[derive(Clone)]
pub struct RuntimeConfig {
    /// Executor worker threads (default 2).
    pub workers: usize,
    /// Prefix of the OS thread names.
    pub name: String,
    /// How many events the event stream keeps for slow readers.
    pub event_capacity: usize,
    /// How many recently exited processes `process_info` can still describe.
    pub tombstones: usize,
    /// The clock supervisors use for restart intensity.
    pub clock: Arc<dyn Clock>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 2,
            name: "crashcourse".into(),
            event_capacity: 16_384,
            tombstones: 1_024,
            clock: Arc::new(SystemClock::default()),
        }
    }
}

impl RuntimeConfig {
    /// Uses `clock` for restart intensity.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `workers` executor threads.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }
}

/// The state every handle and process shares.
pub(crate) struct Shared {
    executor: Executor,
    table: ProcessTable,
    registry: Registry,
    pubsub: PubSub,
    timers: Timers,
    events: EventBus,
    tombstones: Tombstones,
    clock: Arc<dyn Clock>,
    started: Instant,
    next_pid: AtomicU64,
    next_ref: AtomicU64,
    shutting_down: AtomicBool,
    long_polls: Mutex<std::collections::VecDeque<LongPoll>>,
    long_polls_total: AtomicU64,
    restarts_total: AtomicU64,
}

const LONG_POLL_HISTORY: usize = 64;

impl Shared {
    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Real time since the runtime started (for ages and event times).
    fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts a restart by supervisor `sup` and records its event.
    pub(crate) fn record_restart(
        &self,
        sup: Pid,
        child: Arc<str>,
        old: Pid,
        new: Pid,
        reason: ExitReason,
    ) {
        self.restarts_total.fetch_add(1, Ordering::Relaxed);
        self.events.push(
            sup,
            EventKind::Restarted {
                child,
                old,
                new,
                reason,
            },
        );
    }

    fn record_long_poll(&self, report: LongPollReport) {
        let pid = Pid(report.pid);
        let name = match self.table.get(pid) {
            Some(p) => {
                let extra_name = p.state.lock().extra.as_ref().and_then(|e| e.name.clone());
                p.label
                    .clone()
                    .or(extra_name)
                    .map_or_else(|| p.kind.name().to_string(), |s| s.to_string())
            }
            None => "(exited)".to_string(),
        };
        let at = self.now();
        self.long_polls_total.fetch_add(1, Ordering::Relaxed);
        {
            let mut recent = self.long_polls.lock();
            if recent.len() == LONG_POLL_HISTORY {
                recent.pop_front();
            }
            recent.push_back(LongPoll {
                pid,
                name,
                worker: report.worker,
                running_for: report.running_for,
                cpu: report.cpu,
                finished: report.finished,
                at,
            });
        }
        self.events.push_at(
            at,
            pid,
            EventKind::LongPoll {
                running_for: report.running_for,
                cpu: report.cpu,
                finished: report.finished,
            },
        );
    }
}

/// A cheap, cloneable handle on a running runtime.
#[derive(Clone)]
pub struct Handle(pub(crate) Arc<Shared>);

/// The owner of a runtime: dropping it shuts the runtime down.
pub struct Runtime {
    handle: Handle,
}

impl std::ops::Deref for Runtime {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Sending failed because the receiver is gone; the message is handed back.
#[derive(Debug, thiserror::Error)]
#[error("no process {to}: the message was not delivered")]
pub struct SendError<M> {
    pub to: Pid,
    pub message: M,
}

/// The target of a control action does not exist (any more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no process {0}")]
pub struct NoProc(pub Pid);

impl Runtime {
    /// Starts a runtime with its own executor threads and tables.
    pub fn start(config: RuntimeConfig) -> Runtime {
        panic_hook::install();
        let shared = Arc::new_cyclic(|weak: &Weak<Shared>| {
            let weak = weak.clone();
            let hook: executor::LongPollHook = Arc::new(move |report| {
                if let Some(shared) = weak.upgrade() {
                    shared.record_long_poll(report);
                }
            });
            Shared {
                executor: Executor::start(config.workers, &config.name, hook),
                table: ProcessTable::new(),
                registry: Registry::default(),
                pubsub: PubSub::new(),
                timers: Timers::default(),
                events: EventBus::new(config.event_capacity, Instant::now()),
                tombstones: Tombstones::new(config.tombstones),
                clock: config.clock.clone(),
                started: Instant::now(),
                next_pid: AtomicU64::new(1),
                next_ref: AtomicU64::new(1),
                shutting_down: AtomicBool::new(false),
                long_polls: Mutex::new(Default::default()),
                long_polls_total: AtomicU64::new(0),
                restarts_total: AtomicU64::new(0),
            }
        });
        Runtime {
            handle: Handle(shared),
        }
    }

    /// A handle that can be cloned and moved to other threads.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl Handle {
    /// Spawns a worker process.
    pub fn spawn<F, Fut>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_with(SpawnOpts::new(), body)
    }

    /// Spawns a process with options (name, label, kind, link, parent, trap_exit).
    pub fn spawn_with<F, Fut>(&self, opts: SpawnOpts, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        process::spawn(&self.0, opts, body).map(|(pid, _)| pid)
    }

    /// Sends a message from outside any process; never blocks.
    pub fn send<M: Message>(&self, to: Pid, message: M) -> Result<(), SendError<M>> {
        let Some(target) = self.0.table.get(to) else {
            return Err(SendError { to, message });
        };
        match target.deliver(Msg::new(message)) {
            Ok(()) => {
                self.0.executor.count_message();
                Ok(())
            }
            // It is exiting: still in the table, but no longer taking messages.
            Err(msg) => Err(SendError {
                to,
                message: msg
                    .downcast::<M>()
                    .unwrap_or_else(|_| unreachable!("boxed as M above")),
            }),
        }
    }

    /// Sends a boxed message.
    pub fn send_msg(&self, to: Pid, message: Msg) -> bool {
        match self.0.table.get(to) {
            Some(target) => {
                let delivered = target.deliver(message).is_ok();
                if delivered {
                    self.0.executor.count_message();
                }
                delivered
            }
            None => false,
        }
    }

    /// The pid registered under `name`.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.0.registry.whereis(name)
    }

    /// Registers `pid` under `name`.
    pub fn register(&self, name: impl Into<Arc<str>>, pid: Pid) -> Result<(), RegisterError> {
        let name = name.into();
        let Some(inner) = self.0.table.get(pid) else {
            return Err(RegisterError::NoProc(pid));
        };
        let mut st = inner.state.lock();
        if !st.alive {
            return Err(RegisterError::NoProc(pid));
        }
        if let Some(existing) = st.extra.as_ref().and_then(|e| e.name.clone()) {
            return Err(RegisterError::AlreadyNamed(pid, existing));
        }
        self.0
            .registry
            .register(name.clone(), pid)
            .map_err(|holder| RegisterError::Taken(name.clone(), holder))?;
        st.extra().name = Some(name.clone());
        drop(st);
        self.0.events.push(pid, EventKind::Registered { name });
        Ok(())
    }

    /// Removes a registered name. False if it was not registered.
    pub fn unregister(&self, name: &str) -> bool {
        let Some(pid) = self.0.registry.whereis(name) else {
            return false;
        };
        if let Some(inner) = self.0.table.get(pid) {
            if let Some(e) = inner.state.lock().extra.as_mut() {
                e.name = None;
            }
        }
        self.0.registry.unregister_if(name, pid)
    }

    /// All registered names.
    pub fn registered(&self) -> Vec<(Arc<str>, Pid)> {
        self.0.registry.names()
    }

    /// Subscribes `pid` to `topic`; it is removed when it exits.
    pub fn subscribe(&self, pid: Pid, topic: &str) -> bool {
        let Some(inner) = self.0.table.get(pid) else {
            return false;
        };
        let topic: Arc<str> = topic.into();
        let mut st = inner.state.lock();
        if !st.alive {
            return false;
        }
        if self.0.pubsub.add(&topic, pid) {
            st.extra().subscriptions.push(topic);
        }
        true
    }

    /// Unsubscribes `pid` from `topic`.
    pub fn unsubscribe(&self, pid: Pid, topic: &str) -> bool {
        if let Some(inner) = self.0.table.get(pid) {
            if let Some(e) = inner.state.lock().extra.as_mut() {
                e.subscriptions.retain(|t| &**t != topic);
            }
        }
        self.0.pubsub.remove(topic, pid)
    }

    /// Sends a copy of `message` to every subscriber of `topic`; returns how many got it.
    pub fn broadcast<M: Message + Clone>(&self, topic: &str, message: M) -> usize {
        let mut delivered = 0;
        for pid in self.0.pubsub.subscribers(topic) {
            if let Some(p) = self.0.table.get(pid) {
                if p.deliver(Msg::new(message.clone())).is_ok() {
                    self.0.executor.count_message();
                    delivered += 1;
                }
            }
        }
        delivered
    }

    /// Number of subscribers of `topic`.
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.0.pubsub.subscribers(topic).len()
    }

    /// Runs a future to completion on the calling thread (not a worker thread).
    pub fn block_on<T>(&self, fut: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(fut)
    }

    /// Whether `pid` is alive.
    pub fn is_alive(&self, pid: Pid) -> bool {
        self.0.table.get(pid).is_some_and(|p| p.state.lock().alive)
    }

    /// The runtime's clock (the one supervisors use).
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.0.clock
    }

    /// Real time since the runtime started.
    pub fn uptime(&self) -> Duration {
        self.0.now()
    }

    /// Number of executor worker threads.
    pub fn workers(&self) -> usize {
        self.0.executor.workers()
    }

    /// Whether [`shutdown`](Self::shutdown) has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.0.is_shutting_down()
    }

    // ----- the read side -----

    /// Number of live processes.
    pub fn process_count(&self) -> usize {
        self.0.table.len()
    }

    /// One row per live process, in no particular order.
    pub fn process_table(&self) -> Vec<ProcessRow> {
        let mut rows = Vec::new();
        self.process_table_into(&mut rows);
        rows
    }

    /// Like [`process_table`](Self::process_table), reusing `rows`' allocation.
    pub fn process_table_into(&self, rows: &mut Vec<ProcessRow>) {
        rows.clear();
        let now = self.0.now().as_nanos() as u64;
        let hogs = self.0.executor.hogs();
        self.0
            .table
            .for_each(|p| rows.push(ProcessRow::read(p, now, &hogs)));
    }

    /// A detailed look at one process; also asks it to render its state afresh.
    pub fn process_info(&self, pid: Pid) -> Option<ProcessInfo> {
        if let Some(inner) = self.0.table.get(pid) {
            let now = self.0.now().as_nanos() as u64;
            let row = ProcessRow::read(&inner, now, &self.0.executor.hogs());
            let info = ProcessInfo::read(&inner, row);
            self.request_state(pid);
            return Some(info);
        }
        let t = self.0.tombstones.find(pid)?;
        Some(ProcessInfo {
            pid,
            name: None,
            label: t.label,
            kind: t.kind,
            parent: t.parent,
            status: Status::Exited,
            row: None,
            state: None,
            mailbox_head: Vec::new(),
            mailbox_len: 0,
            links: Vec::new(),
            monitors: Vec::new(),
            monitored_by: Vec::new(),
            trap_exit: false,
            subscriptions: Vec::new(),
            last_exit: Some(t.reason),
            restarts: 0,
            restart_history: Vec::new(),
        })
    }

    /// Asks `pid` to render its state for the inspector at its next chance.
    pub fn request_state(&self, pid: Pid) -> bool {
        let Some(inner) = self.0.table.get(pid) else {
            return false;
        };
        let mut st = inner.state.lock();
        if !st.alive {
            return false;
        }
        st.extra().state_requested = true;
        st.wake();
        true
    }

    /// Asks `pid` to render its state and waits (up to `timeout`) until it has: the process
    /// tells this waiter when it publishes (no polling).
    pub async fn fresh_state(&self, pid: Pid, timeout: Duration) -> Option<String> {
        let published = {
            let inner = self.0.table.get(pid)?;
            let mut st = inner.state.lock();
            if !st.alive {
                return None;
            }
            let (tx, rx) = futures_channel::oneshot::channel();
            st.extra().state_waiters.push(tx);
            rx
        };
        self.request_state(pid);
        match ctx::with_timeout(timeout, published).await {
            Some(Ok(())) => self.process_info(pid).and_then(|i| i.state),
            _ => None,
        }
    }

    /// The sequence number the next event will get: cheap, for "did anything happen?".
    pub fn events_head(&self) -> u64 {
        self.0.events.head()
    }

    /// A reader of the event stream, starting at the next event.
    pub fn events(&self) -> EventReader {
        EventReader::new(self.0.events.head())
    }

    /// A reader of the event stream, starting at the oldest event still kept.
    pub fn events_from_start(&self) -> EventReader {
        EventReader::new(0)
    }

    /// Up to `max` events after the reader's position.
    pub fn read_events(&self, reader: &mut EventReader, max: usize) -> Vec<observe::Event> {
        reader.read_from(&self.0.events, max)
    }

    /// The runtime's counters right now.
    pub fn metrics(&self) -> RuntimeMetrics {
        let mut process_count = 0;
        let mut total_memory = 0;
        self.0.table.for_each(|p| {
            process_count += 1;
            total_memory += p.memory(&p.state.lock());
        });
        let ex = &self.0.executor;
        RuntimeMetrics {
            process_count,
            total_memory,
            messages_total: ex.messages_total(),
            worker_busy_ns: ex
                .worker_stats()
                .map(|s| s.busy_ns.load(Ordering::Relaxed))
                .collect(),
            worker_polls: ex
                .worker_stats()
                .map(|s| s.polls.load(Ordering::Relaxed))
                .collect(),
            run_queue: ex.run_queue_len(),
            long_polls_total: self.0.long_polls_total.load(Ordering::Relaxed),
            recent_long_polls: self.0.long_polls.lock().iter().cloned().collect(),
            not_yielding: ex.hogs().into_iter().map(|(p, d)| (Pid(p), d)).collect(),
            events_recorded: self.0.events.head(),
            restarts_total: self.0.restarts_total.load(Ordering::Relaxed),
            uptime: self.0.now(),
        }
    }

    /// Sizes of the runtime's tables (for leak checks).
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            processes: self.0.table.len(),
            names: self.0.registry.len(),
            subscriptions: self.0.pubsub.len(),
            timers: self.0.timers.len(),
        }
    }

    /// Number of tasks waiting for a worker thread.
    pub fn run_queue_len(&self) -> usize {
        self.0.executor.run_queue_len()
    }

    /// Stops every process (with `kill`), waits briefly for them, and stops the executor.
    pub fn shutdown(&self) {
        if self.0.shutting_down.swap(true, Ordering::SeqCst) {
            return;
        }
        for p in self.0.table.all() {
            p.signal_exit(Pid::OUTSIDE, ExitReason::Kill, false);
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
