//! Processes: spawning one (from a [`Handle`] or a [`Ctx`]), and (in `process/`) its record, the task wrapper that turns a
//! panic, a kill or a normal return into an exit reason, links, monitors, exit cleanup and
//! tombstones.
//!
//! A process is a task on the runtime's executor plus a [`ProcessInner`] record in the process
//! table. The wrapper checks for pending exit signals before every poll, catches panics, and
//! when the process is gone — its future dropped — tells links, monitors, the registry and
//! pub/sub, in that order, so they only ever see a process that is really gone.

pub(crate) mod busy;
pub(crate) mod exit_cleanup;
pub(crate) mod link;
pub(crate) mod monitor;
pub(crate) mod record;
pub(crate) mod restart_info;
pub(crate) mod spawn_opts;
pub(crate) mod task;
pub(crate) mod tombstones;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::mailbox::Mailbox;
use crate::observe::events::EventKind;
use crate::pidset::PidSet;
use crate::shared::Shared;
use crate::trace::event::TraceWhat;
use crate::{Ctx, Handle, IntoExitReason, MonitorRef, Status};

use busy::BusyWindow;
use link::link;
use monitor::monitor;
use record::{Extra, ProcState, ProcessInner};
pub use restart_info::{PastExit, RestartInfo, SupervisorUse};
pub use spawn_opts::{SpawnError, SpawnOpts};
use task::ProcessFuture;

use crate::pid::Pid;

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
        traced: AtomicBool::new(false),
        busy: BusyWindow::default(),
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
    let future = ProcessFuture::new(inner, shared.clone(), body, ctx);
    let (task, task_size) = shared.executor.spawn_sized(pid.0, future);
    record.task_size.store(
        u32::try_from(task_size).unwrap_or(u32::MAX),
        Ordering::Relaxed,
    );
    task.detach();
    Ok((pid, mref))
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
        spawn(&self.0, opts, body).map(|(pid, _)| pid)
    }
}

impl Ctx {
    /// Spawns an unlinked worker.
    pub fn spawn<F, Fut>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_with(SpawnOpts::new(), body)
    }

    /// Spawns a worker linked to this process.
    pub fn spawn_link<F, Fut>(&self, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        self.spawn_with(SpawnOpts::new().link(self.pid()), body)
    }

    /// Spawns a worker monitored by this process.
    pub fn spawn_monitor<F, Fut>(&self, body: F) -> Result<(Pid, MonitorRef), SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let (pid, mref) = spawn(
            &self.handle().0,
            SpawnOpts::new().monitor_by(self.pid()),
            body,
        )?;
        self.trace_spawn(pid);
        Ok((pid, mref.expect("spawn with a watcher returns its monitor")))
    }

    /// Spawns with options.
    pub fn spawn_with<F, Fut>(&self, opts: SpawnOpts, body: F) -> Result<Pid, SpawnError>
    where
        F: FnOnce(Ctx) -> Fut + Send + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let pid = spawn(&self.handle().0, opts, body)?.0;
        self.trace_spawn(pid);
        Ok(pid)
    }

    /// Records a spawn if this process is traced.
    fn trace_spawn(&self, child: Pid) {
        if self.inner.traced.load(Ordering::Relaxed) {
            self.handle()
                .0
                .tracers
                .record(self.pid(), TraceWhat::Spawn { child });
        }
    }
}
