//! Supervisors as in OTP: start children in order, restart them by strategy and restart type,
//! give up past a restart intensity, and stop children in reverse order.
//!
//! A supervisor traps exits and is linked to its children. When a child exits, its restart type
//! decides whether it comes back (`permanent` always, `transient` after an abnormal exit,
//! `temporary` never); the strategy decides who else restarts with it (`one_for_one`: nobody;
//! `one_for_all`: every child; `rest_for_one`: the children started after it). More than
//! `max_restarts` restarts within `period` and the supervisor stops all its children and exits
//! with `shutdown`, so the failure climbs to its own supervisor.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::supervisor::{self, ChildSpec, Intensity, Strategy, SupervisorSpec};
//! use crashcourse_runtime::{Runtime, RuntimeConfig, SpawnOpts};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
//!     .child(ChildSpec::worker("ticker", |ctx| async move {
//!         while !ctx.recv().await.is::<&str>() {}
//!     }).name("ticker"));
//! let sup = supervisor::start(&rt, SpawnOpts::new().label("app"), spec).unwrap();
//! let first = rt.whereis("ticker").unwrap();
//! rt.kill(first).unwrap();
//! // The supervisor starts a new ticker under the same name.
//! let deadline = std::time::Instant::now() + Duration::from_secs(5);
//! while rt.whereis("ticker").is_none_or(|p| p == first) {
//!     assert!(std::time::Instant::now() < deadline);
//!     std::thread::yield_now();
//! }
//! # let _ = sup;
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_channel::oneshot;

use crate::ctx::Received;
use crate::mailbox::Msg;
use crate::observe::EventKind;
use crate::process::{Kind, PastExit, Pid, RestartInfo, SpawnError, SpawnOpts, SupervisorUse};
use crate::server::{self, CallError, CallMsg, Server};
use crate::signal::{Exit, ExitReason, IntoExitReason};
use crate::{Clock, Ctx, Handle};

/// Which children restart when one fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    OneForOne,
    OneForAll,
    RestForOne,
}

/// When a child is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Always.
    Permanent,
    /// Only after an abnormal exit (not `normal` or `shutdown`).
    Transient,
    /// Never; the child is forgotten when it exits.
    Temporary,
}

impl Restart {
    pub(crate) fn should_restart(self, reason: &ExitReason) -> bool {
        match self {
            Restart::Permanent => true,
            Restart::Transient => reason.is_abnormal(),
            Restart::Temporary => false,
        }
    }
}

/// How a child is stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// `kill` at once.
    BrutalKill,
    /// `shutdown`, then `kill` if it has not exited after this long.
    Timeout(Duration),
    /// `shutdown`, and wait as long as it takes (the default for supervisors).
    Infinity,
}

/// At most `max_restarts` restarts within `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: u32,
    pub period: Duration,
}

impl Intensity {
    pub fn new(max_restarts: u32, period: Duration) -> Intensity {
        Intensity {
            max_restarts,
            period,
        }
    }

    /// Erlang/OTP's default: 1 restart in 5 seconds.
    pub fn otp() -> Intensity {
        Intensity::new(1, Duration::from_secs(5))
    }

    /// Elixir's default: 3 restarts in 5 seconds.
    pub fn elixir() -> Intensity {
        Intensity::new(3, Duration::from_secs(5))
    }
}

/// Starts one child: given the spawn options the supervisor prepared (link, parent, kind,
/// label, name, restart info), spawns the process and returns its pid.
pub type StartFn = Arc<dyn Fn(&Handle, SpawnOpts) -> Result<Pid, SpawnError> + Send + Sync>;

/// How to start and restart one child.
#[derive(Clone)]
pub struct ChildSpec {
    pub id: Arc<str>,
    pub restart: Restart,
    pub shutdown: Shutdown,
    pub kind: Kind,
    pub label: Option<Arc<str>>,
    pub name: Option<Arc<str>>,
    start: StartFn,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("kind", &self.kind)
            .finish()
    }
}

impl ChildSpec {
    /// A permanent worker started by `start`, shut down with a 5 s timeout.
    pub fn new(
        id: impl Into<Arc<str>>,
        start: impl Fn(&Handle, SpawnOpts) -> Result<Pid, SpawnError> + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec {
            id: id.into(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(Duration::from_secs(5)),
            kind: Kind::Worker,
            label: None,
            name: None,
            start: Arc::new(start),
        }
    }

    /// A worker process running `body`.
    pub fn worker<F, Fut>(id: impl Into<Arc<str>>, body: F) -> ChildSpec
    where
        F: Fn(Ctx) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: IntoExitReason,
    {
        let body = Arc::new(body);
        ChildSpec::new(id, move |h, opts| {
            let body = body.clone();
            h.spawn_with(opts, move |ctx| body(ctx))
        })
    }

    /// A [`Server`] made fresh by `make` at every (re)start.
    pub fn server<S: Server>(
        id: impl Into<Arc<str>>,
        make: impl Fn() -> S + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec::new(id, move |h, opts| server::start(h, opts, make())).kind(Kind::Server)
    }

    /// A supervisor built from `spec` at every (re)start; waits for it to stop (`infinity`).
    pub fn supervisor(
        id: impl Into<Arc<str>>,
        spec: impl Fn() -> SupervisorSpec + Send + Sync + 'static,
    ) -> ChildSpec {
        ChildSpec::new(id, move |h, opts| {
            start(h, opts, spec()).map_err(|e| match e {
                StartError::Spawn(e) => e,
                StartError::Child(_, e) => e,
            })
        })
        .kind(Kind::Supervisor)
        .shutdown(Shutdown::Infinity)
    }

    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    pub fn kind(mut self, kind: Kind) -> Self {
        self.kind = kind;
        self
    }

    /// The display label (defaults to the id).
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Registers every incarnation of the child under `name`.
    pub fn name(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Replaces the start function with `stand_in` (shared), freeing what the original captured.
    pub(crate) fn forget_start(&mut self, stand_in: &StartFn) {
        self.start = stand_in.clone();
    }

    /// Spawns the child linked to `sup`.
    pub(crate) fn start_under(
        &self,
        h: &Handle,
        sup: Pid,
        restart: Option<RestartInfo>,
    ) -> Result<Pid, SpawnError> {
        let mut opts = SpawnOpts::new()
            .kind(self.kind)
            .label(self.label.clone().unwrap_or_else(|| self.id.clone()))
            .link(sup)
            .parent(sup);
        if let Some(name) = &self.name {
            opts = opts.name(name.clone());
        }
        if let Some(info) = restart {
            opts = opts.restart_info(info);
        }
        (self.start)(h, opts)
    }
}

/// A supervisor's strategy, intensity and children.
#[derive(Clone, Debug)]
pub struct SupervisorSpec {
    pub strategy: Strategy,
    pub intensity: Intensity,
    pub children: Vec<ChildSpec>,
}

impl SupervisorSpec {
    pub fn new(strategy: Strategy, intensity: Intensity) -> SupervisorSpec {
        SupervisorSpec {
            strategy,
            intensity,
            children: Vec::new(),
        }
    }

    /// Adds a child; children start in the order added.
    pub fn child(mut self, child: ChildSpec) -> Self {
        self.children.push(child);
        self
    }
}

/// Starting a supervisor failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    #[error("could not spawn the supervisor: {0}")]
    Spawn(SpawnError),
    #[error("could not start child {0:?}: {1}")]
    Child(Arc<str>, SpawnError),
}

/// One child as reported by [`which_children`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    pub id: Arc<str>,
    /// `None` while it is not running.
    pub pid: Option<Pid>,
    pub kind: Kind,
    pub restart: Restart,
    pub restarts: u32,
}

/// Requests a supervisor answers.
#[derive(Debug)]
pub enum SupervisorCall {
    WhichChildren,
    /// Adds a child and starts it.
    StartChild(ChildSpec),
    /// Stops a child by id (it stays in the list, not running, until restarted).
    TerminateChild(Arc<str>),
    /// Starts a stopped child again.
    RestartChild(Arc<str>),
}

/// A supervisor's answer.
#[derive(Debug)]
pub enum SupervisorReply {
    Children(Vec<ChildInfo>),
    Started(Result<Pid, String>),
    Done(Result<(), String>),
}

/// Tracks restarts within the intensity period.
pub(crate) struct RestartWindow {
    intensity: Intensity,
    clock: Arc<dyn Clock>,
    restarts: VecDeque<Duration>,
}

impl RestartWindow {
    pub(crate) fn new(intensity: Intensity, clock: Arc<dyn Clock>) -> RestartWindow {
        RestartWindow {
            intensity,
            clock,
            restarts: VecDeque::new(),
        }
    }

    /// Records one restart; true if that goes over the intensity.
    pub(crate) fn add(&mut self) -> bool {
        let now = self.clock.now();
        self.restarts.push_back(now);
        self.expire(now);
        self.restarts.len() as u32 > self.intensity.max_restarts
    }

    fn expire(&mut self, now: Duration) {
        while let Some(&t) = self.restarts.front() {
            if now.saturating_sub(t) >= self.intensity.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
    }

    pub(crate) fn in_period(&mut self) -> u32 {
        self.expire(self.clock.now());
        self.restarts.len() as u32
    }

    pub(crate) fn usage(&mut self, children: usize) -> SupervisorUse {
        SupervisorUse {
            restarts_in_period: self.in_period(),
            max_restarts: self.intensity.max_restarts,
            period: self.intensity.period,
            children,
        }
    }

    pub(crate) fn intensity(&self) -> Intensity {
        self.intensity
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }
}

/// How many past exits a child's restart history keeps.
const HISTORY: usize = 16;

pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    pub(crate) pid: Option<Pid>,
    pub(crate) restarts: u32,
    pub(crate) history: VecDeque<PastExit>,
}

impl Child {
    pub(crate) fn new(spec: ChildSpec, pid: Option<Pid>) -> Child {
        Child {
            spec,
            pid,
            restarts: 0,
            history: VecDeque::new(),
        }
    }

    pub(crate) fn record_exit(&mut self, at: Duration, pid: Pid, reason: ExitReason) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(PastExit { at, pid, reason });
    }

    pub(crate) fn restart_info(&self) -> RestartInfo {
        RestartInfo {
            count: self.restarts,
            history: self.history.iter().cloned().collect::<Vec<_>>().into(),
        }
    }

    pub(crate) fn info(&self) -> ChildInfo {
        ChildInfo {
            id: self.spec.id.clone(),
            pid: self.pid,
            kind: self.spec.kind,
            restart: self.spec.restart,
            restarts: self.restarts,
        }
    }
}

/// Starts a supervisor and, before returning, its children in order. If a child fails to
/// start, the ones already started are stopped in reverse order and the error is returned.
pub fn start(handle: &Handle, opts: SpawnOpts, spec: SupervisorSpec) -> Result<Pid, StartError> {
    let kind = if opts.kind == Kind::Worker {
        Kind::Supervisor
    } else {
        opts.kind
    };
    let (tx, rx) = oneshot::channel::<Vec<Child>>();
    let strategy = spec.strategy;
    let window = RestartWindow::new(spec.intensity, handle.clock().clone());
    let sup = handle
        .spawn_with(opts.kind(kind).trap_exit(true), move |ctx| async move {
            let Ok(children) = rx.await else {
                return ExitReason::Shutdown;
            };
            let mut sup = Sup {
                ctx,
                strategy,
                window,
                children,
            };
            sup.run().await
        })
        .map_err(StartError::Spawn)?;
    let mut children: Vec<Child> = Vec::with_capacity(spec.children.len());
    for child in spec.children {
        match child.start_under(handle, sup, None) {
            Ok(pid) => children.push(Child::new(child, Some(pid))),
            Err(e) => {
                for started in children.iter().rev() {
                    if let Some(pid) = started.pid {
                        let _ = handle.kill(pid);
                    }
                }
                let _ = handle.kill(sup);
                return Err(StartError::Child(child.id.clone(), e));
            }
        }
    }
    // The supervisor waits for its children list before it handles anything.
    let _ = tx.send(children);
    Ok(sup)
}

async fn call(
    handle: &Handle,
    sup: Pid,
    request: SupervisorCall,
    timeout: Duration,
) -> Result<SupervisorReply, CallError> {
    server::call_raw::<SupervisorCall, SupervisorReply>(handle, sup, request, timeout).await
}

/// The children of a supervisor (or dynamic supervisor).
pub async fn which_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<Vec<ChildInfo>, CallError> {
    match call(handle, sup, SupervisorCall::WhichChildren, timeout).await? {
        SupervisorReply::Children(c) => Ok(c),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Adds a child to a running supervisor and starts it.
pub async fn start_child(
    handle: &Handle,
    sup: Pid,
    spec: ChildSpec,
    timeout: Duration,
) -> Result<Result<Pid, String>, CallError> {
    match call(handle, sup, SupervisorCall::StartChild(spec), timeout).await? {
        SupervisorReply::Started(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Stops a child by id; it is not restarted until [`restart_child`].
pub async fn terminate_child(
    handle: &Handle,
    sup: Pid,
    id: &str,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    done(
        handle,
        sup,
        SupervisorCall::TerminateChild(id.into()),
        timeout,
    )
    .await
}

/// Starts a stopped child again.
pub async fn restart_child(
    handle: &Handle,
    sup: Pid,
    id: &str,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    done(
        handle,
        sup,
        SupervisorCall::RestartChild(id.into()),
        timeout,
    )
    .await
}

/// A call answered with [`SupervisorReply::Done`].
async fn done(
    handle: &Handle,
    sup: Pid,
    request: SupervisorCall,
    timeout: Duration,
) -> Result<Result<(), String>, CallError> {
    match call(handle, sup, request, timeout).await? {
        SupervisorReply::Done(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Records that the supervisor behind `ctx` went over its intensity and passes the failure on
/// to its own supervisor.
pub(crate) fn announce_escalation(ctx: &Ctx, window: &mut RestartWindow) {
    let intensity = window.intensity();
    let restarts = window.in_period();
    let events = &ctx.handle().0.events;
    events.push(
        ctx.pid(),
        EventKind::IntensityExceeded {
            restarts,
            max_restarts: intensity.max_restarts,
            period: intensity.period,
        },
    );
    events.push(ctx.pid(), EventKind::Escalated { to: ctx.parent() });
}

/// Whether an exit signal comes from whoever owns the supervisor: its parent, or the outside.
pub(crate) fn is_from_owner(ctx: &Ctx, exit: &Exit) -> bool {
    (Some(exit.from) == ctx.parent() || exit.from == Pid::OUTSIDE)
        && exit.reason != ExitReason::Normal
}

/// Stops one child as its shutdown spec says and waits until it is gone.
pub(crate) async fn terminate(ctx: &Ctx, pid: Pid, shutdown: Shutdown) {
    match shutdown {
        Shutdown::BrutalKill => {
            ctx.exit(pid, ExitReason::Kill);
            wait_exit(ctx, pid, None).await;
        }
        Shutdown::Timeout(limit) => {
            ctx.exit(pid, ExitReason::Shutdown);
            if !wait_exit(ctx, pid, Some(limit)).await {
                ctx.exit(pid, ExitReason::Kill);
                wait_exit(ctx, pid, None).await;
            }
        }
        Shutdown::Infinity => {
            ctx.exit(pid, ExitReason::Shutdown);
            wait_exit(ctx, pid, None).await;
        }
    }
}

/// Waits for the exit of a linked child; true if it came within `limit`.
pub(crate) async fn wait_exit(ctx: &Ctx, pid: Pid, limit: Option<Duration>) -> bool {
    let deadline = limit.map(|l| std::time::Instant::now() + l);
    wait_exits(ctx, &mut std::iter::once(pid).collect(), deadline).await
}

/// Waits until every pid in `waiting` has exited (taking their exit messages), or `deadline`.
/// True if all did. Linear in the number of children when their exits arrive in a row.
pub(crate) async fn wait_exits(
    ctx: &Ctx,
    waiting: &mut crate::hash::IdSet<Pid>,
    deadline: Option<std::time::Instant>,
) -> bool {
    while !waiting.is_empty() {
        let step = Duration::from_millis(50);
        let step = match deadline {
            Some(d) => step.min(d.saturating_duration_since(std::time::Instant::now())),
            None => step,
        };
        let got = ctx
            .recv_match_timeout(step, |m| {
                m.downcast_ref::<Exit>()
                    .is_some_and(|e| waiting.contains(&e.from))
            })
            .await;
        match got.and_then(|m| m.downcast::<Exit>().ok()) {
            Some(exit) => {
                waiting.remove(&exit.from);
            }
            None => {
                // Children that unlinked themselves send no exit: look in the table.
                let h = ctx.handle();
                waiting.retain(|p| h.is_alive(*p));
                if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
                    return waiting.is_empty();
                }
            }
        }
    }
    true
}

struct Sup {
    ctx: Ctx,
    strategy: Strategy,
    window: RestartWindow,
    children: Vec<Child>,
}

impl Sup {
    async fn run(&mut self) -> ExitReason {
        self.publish_use();
        loop {
            let msg = match self.ctx.recv_or_system().await {
                Received::StateRequest => {
                    self.ctx.publish_state(
                        self.render(),
                        self.children.len() * std::mem::size_of::<Child>(),
                    );
                    continue;
                }
                Received::Message(msg) => msg,
            };
            if let Err(reason) = self.handle(msg).await {
                return reason;
            }
            self.publish_use();
        }
    }

    async fn handle(&mut self, msg: Msg) -> Result<(), ExitReason> {
        let msg = match msg.downcast::<Exit>() {
            Ok(exit) => {
                if is_from_owner(&self.ctx, &exit) {
                    self.terminate_all().await;
                    return Err(exit.reason);
                }
                if let Some(i) = self.children.iter().position(|c| c.pid == Some(exit.from)) {
                    return self.child_exited(i, exit.reason).await;
                }
                return Ok(());
            }
            Err(msg) => msg,
        };
        if let Ok(call) = msg.downcast::<CallMsg<SupervisorCall, SupervisorReply>>() {
            let reply = self.handle_call(call.request).await?;
            call.reply.send(reply);
        }
        Ok(())
    }

    async fn handle_call(
        &mut self,
        request: SupervisorCall,
    ) -> Result<SupervisorReply, ExitReason> {
        Ok(match request {
            SupervisorCall::WhichChildren => {
                SupervisorReply::Children(self.children.iter().map(Child::info).collect())
            }
            SupervisorCall::StartChild(spec) => {
                if self.children.iter().any(|c| c.spec.id == spec.id) {
                    return Ok(SupervisorReply::Started(Err(format!(
                        "a child {:?} already exists",
                        spec.id
                    ))));
                }
                match spec.start_under(self.ctx.handle(), self.ctx.pid(), None) {
                    Ok(pid) => {
                        self.children.push(Child::new(spec, Some(pid)));
                        SupervisorReply::Started(Ok(pid))
                    }
                    Err(e) => SupervisorReply::Started(Err(e.to_string())),
                }
            }
            SupervisorCall::TerminateChild(id) => {
                match self.children.iter().position(|c| c.spec.id == id) {
                    Some(i) => {
                        if let Some(pid) = self.children[i].pid.take() {
                            terminate(&self.ctx, pid, self.children[i].spec.shutdown).await;
                        }
                        if self.children[i].spec.restart == Restart::Temporary {
                            self.children.remove(i);
                        }
                        SupervisorReply::Done(Ok(()))
                    }
                    None => SupervisorReply::Done(Err(format!("no child {id:?}"))),
                }
            }
            SupervisorCall::RestartChild(id) => {
                match self.children.iter().position(|c| c.spec.id == id) {
                    Some(i) if self.children[i].pid.is_none() => match self.start_child(i, None) {
                        Ok(()) => SupervisorReply::Done(Ok(())),
                        Err(e) => SupervisorReply::Done(Err(e.to_string())),
                    },
                    Some(_) => SupervisorReply::Done(Err(format!("child {id:?} is running"))),
                    None => SupervisorReply::Done(Err(format!("no child {id:?}"))),
                }
            }
        })
    }

    async fn child_exited(&mut self, i: usize, reason: ExitReason) -> Result<(), ExitReason> {
        let now = self.window.now();
        let child = &mut self.children[i];
        let Some(old) = child.pid.take() else {
            return Ok(());
        };
        child.record_exit(now, old, reason.clone());
        if !child.spec.restart.should_restart(&reason) {
            if child.spec.restart == Restart::Temporary {
                self.children.remove(i);
            }
            return Ok(());
        }
        if self.window.add() {
            return Err(self.give_up().await);
        }
        let to_restart: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => {
                self.terminate_range(0..self.children.len()).await;
                (0..self.children.len()).collect()
            }
            Strategy::RestForOne => {
                self.terminate_range(i + 1..self.children.len()).await;
                (i..self.children.len()).collect()
            }
        };
        // Temporary siblings stopped for the strategy are not restarted, but forgotten.
        let mut restart_ids = Vec::new();
        for &j in &to_restart {
            let c = &self.children[j];
            if j == i || c.spec.restart != Restart::Temporary {
                restart_ids.push(c.spec.id.clone());
            }
        }
        if self.strategy != Strategy::OneForOne {
            let mut j = 0;
            self.children.retain(|c| {
                let keep =
                    !(j != i && to_restart.contains(&j) && c.spec.restart == Restart::Temporary);
                j += 1;
                keep
            });
        }
        for id in restart_ids {
            let Some(j) = self.children.iter().position(|c| c.spec.id == id) else {
                continue;
            };
            let cause = if j == i {
                reason.clone()
            } else {
                ExitReason::Shutdown
            };
            loop {
                match self.restart(j, old, cause.clone()) {
                    Ok(()) => break,
                    Err(e) => {
                        let now = self.window.now();
                        self.children[j].record_exit(
                            now,
                            old,
                            ExitReason::custom(format!("start failed: {e}")),
                        );
                        if self.window.add() {
                            return Err(self.give_up().await);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Restarts child `j` (counting the restart) and announces it.
    fn restart(&mut self, j: usize, old: Pid, reason: ExitReason) -> Result<(), SpawnError> {
        self.children[j].restarts += 1;
        let info = self.children[j].restart_info();
        let old = self.children[j].history.back().map_or(old, |e| e.pid);
        self.start_child(j, Some(info))?;
        let new = self.children[j].pid.expect("just started");
        self.ctx.handle().0.record_restart(
            self.ctx.pid(),
            self.children[j].spec.id.clone(),
            old,
            new,
            reason,
        );
        Ok(())
    }

    fn start_child(&mut self, j: usize, info: Option<RestartInfo>) -> Result<(), SpawnError> {
        let pid = self.children[j]
            .spec
            .start_under(self.ctx.handle(), self.ctx.pid(), info)?;
        self.children[j].pid = Some(pid);
        Ok(())
    }

    /// Stops children in `range`, last first, recording why in their history.
    async fn terminate_range(&mut self, range: std::ops::Range<usize>) {
        for j in range.rev() {
            if let Some(pid) = self.children[j].pid.take() {
                terminate(&self.ctx, pid, self.children[j].spec.shutdown).await;
                let now = self.window.now();
                self.children[j].record_exit(now, pid, ExitReason::Shutdown);
            }
        }
    }

    async fn terminate_all(&mut self) {
        self.terminate_range(0..self.children.len()).await;
    }

    /// Over the intensity: stop everything and exit with `shutdown`.
    async fn give_up(&mut self) -> ExitReason {
        announce_escalation(&self.ctx, &mut self.window);
        self.terminate_all().await;
        ExitReason::Shutdown
    }

    fn publish_use(&mut self) {
        let usage = self.window.usage(self.children.len());
        self.ctx.inner.state.lock().extra().supervisor = Some(usage);
    }

    fn render(&self) -> String {
        let i = self.window.intensity;
        let mut out = format!(
            "strategy: {:?}\nintensity: {} restarts in {:?}\nchildren:\n",
            self.strategy, i.max_restarts, i.period
        );
        for c in &self.children {
            let pid = c
                .pid
                .map_or_else(|| "not running".to_string(), |p| p.to_string());
            out.push_str(&format!(
                "  {} ({:?}, {}) {} restarts={}\n",
                c.spec.id,
                c.spec.restart,
                c.spec.kind.name(),
                pid,
                c.restarts
            ));
        }
        out
    }
}
