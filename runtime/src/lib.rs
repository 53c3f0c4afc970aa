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
pub mod chat;
mod clock;
mod console;
mod control;
mod ctx;
pub mod db;
pub mod dynamic_supervisor;
mod executor;
pub mod faults;
mod handle;
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
mod send;
pub mod server;
mod shared;
mod shutdown;
mod signal;
pub mod stream;
pub mod supervisor;
mod table;
mod timeout;
mod timer;
mod timer_ref;
mod trace;
mod wait;

use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Weak};
use std::time::Instant;

use parking_lot::Mutex;

pub use clock::{Clock, ManualClock, SystemClock};
pub use console::{Answer, CommandHelp, Console};
pub use control::NoProc;
pub use ctx::Ctx;
pub use executor::LONG_POLL;
pub use faults::{ChaosPlan, ChaosReport, FaultError, FaultKind, FaultStatus, Faults};
pub use handle::Handle;
pub use kind::{Kind, Status};
pub use mailbox::{Message, Msg};
pub use pid::Pid;
pub use process::busy::{BUSY_WINDOW, BUSY_WINDOW_BYTES};
pub use process::{PastExit, RestartInfo, SpawnError, SpawnOpts, SupervisorUse};
pub use registry::RegisterError;
pub use send::SendError;
pub use signal::{Down, Exit, ExitReason, IntoExitReason, MonitorRef};
pub use timer_ref::TimerRef;
pub use trace::{
    Trace, TraceEnd, TraceError, TraceEvent, TraceSpec, TraceWhat, TRACE_MAX_PIDS, TRACE_TEXT_MAX,
};

use executor::Executor;
use observe::events::EventBus;
use process::tombstones::Tombstones;
use pubsub::PubSub;
use registry::Registry;
pub(crate) use shared::Shared;
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
    /// Whether every poll of a process is recorded in its busy-time window (default on; off
    /// only to measure what recording costs: the Busy and Polls figures then stay zero).
    pub busy_accounting: bool,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 2,
            name: "crashcourse".into(),
            event_capacity: 16_384,
            tombstones: 1_024,
            clock: Arc::new(SystemClock::default()),
            busy_accounting: true,
        }
    }
}

impl RuntimeConfig {
    /// Uses `clock` for restart intensity.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Records busy time per process or not (see [`RuntimeConfig::busy_accounting`]).
    pub fn with_busy_accounting(mut self, on: bool) -> Self {
        self.busy_accounting = on;
        self
    }

    /// Uses `workers` executor threads.
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }
}

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
                tracers: Arc::default(),
                busy_accounting: config.busy_accounting,
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
