//! A dynamic supervisor: children started at run time (sockets, channels, rooms), restarted
//! one for one by their restart type, with an optional cap on their number.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec};
//! use crashcourse_runtime::supervisor::{ChildSpec, Intensity, Restart};
//! use crashcourse_runtime::{Runtime, RuntimeConfig, SpawnOpts};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let sup = dynamic_supervisor::start(&rt, SpawnOpts::new().label("rooms"),
//!     DynamicSpec::new(Intensity::elixir()).max_children(1)).unwrap();
//! let room = ChildSpec::worker("room", |ctx| async move { while !ctx.recv().await.is::<&str>() {} })
//!     .restart(Restart::Temporary);
//! let t = Duration::from_secs(1);
//! let first = rt.block_on(dynamic_supervisor::start_child(&rt, sup, room.clone(), t)).unwrap();
//! assert!(first.is_ok());
//! let second = rt.block_on(dynamic_supervisor::start_child(&rt, sup, room, t)).unwrap();
//! assert!(second.is_err(), "max_children is 1");
//! ```

use std::collections::HashMap;
use std::time::Duration;

use crate::ctx::Received;
use crate::mailbox::Msg;
use crate::process::{Kind, Pid, SpawnError, SpawnOpts};
use crate::server::{self, CallError, CallMsg};
use crate::signal::{Exit, ExitReason};
use crate::supervisor::{
    announce_escalation, is_from_owner, terminate, wait_exits, Child, ChildSpec, Intensity,
    RestartWindow, Shutdown,
};
use crate::{Ctx, Handle};

/// A dynamic supervisor's settings.
#[derive(Clone, Debug)]
pub struct DynamicSpec {
    pub intensity: Intensity,
    pub max_children: Option<usize>,
}

impl DynamicSpec {
    pub fn new(intensity: Intensity) -> DynamicSpec {
        DynamicSpec {
            intensity,
            max_children: None,
        }
    }

    /// Refuses new children beyond `max`.
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }
}

/// Why a child was not started.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StartChildError {
    #[error("max_children ({0}) reached")]
    MaxChildren(usize),
    #[error("{0}")]
    Spawn(SpawnError),
}

/// Requests a dynamic supervisor answers.
#[derive(Debug)]
pub enum DynamicCall {
    StartChild(ChildSpec),
    TerminateChild(Pid),
    CountChildren,
    WhichChildren,
}

/// A dynamic supervisor's answer.
#[derive(Debug)]
pub enum DynamicReply {
    Started(Result<Pid, StartChildError>),
    Terminated(bool),
    Count(usize),
    Children(Vec<crate::supervisor::ChildInfo>),
}

/// Starts a dynamic supervisor with no children.
pub fn start(handle: &Handle, opts: SpawnOpts, spec: DynamicSpec) -> Result<Pid, SpawnError> {
    let window = RestartWindow::new(spec.intensity, handle.clock().clone());
    handle.spawn_with(
        opts.kind(Kind::DynamicSupervisor).trap_exit(true),
        move |ctx| async move {
            let mut sup = DynSup {
                ctx,
                window,
                max_children: spec.max_children,
                children: HashMap::new(),
                next_order: 0,
                forgotten: std::sync::Arc::new(|_: &Handle, _: SpawnOpts| {
                    Err(SpawnError::Failed(
                        "a temporary child is never restarted".into(),
                    ))
                }),
            };
            sup.run().await
        },
    )
}

async fn call(
    handle: &Handle,
    sup: Pid,
    request: DynamicCall,
    timeout: Duration,
) -> Result<DynamicReply, CallError> {
    server::call_raw::<DynamicCall, DynamicReply>(handle, sup, request, timeout).await
}

/// Starts a child under `sup`.
pub async fn start_child(
    handle: &Handle,
    sup: Pid,
    spec: ChildSpec,
    timeout: Duration,
) -> Result<Result<Pid, StartChildError>, CallError> {
    match call(handle, sup, DynamicCall::StartChild(spec), timeout).await? {
        DynamicReply::Started(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// Stops a child of `sup`; false if it was not one.
pub async fn terminate_child(
    handle: &Handle,
    sup: Pid,
    child: Pid,
    timeout: Duration,
) -> Result<bool, CallError> {
    match call(handle, sup, DynamicCall::TerminateChild(child), timeout).await? {
        DynamicReply::Terminated(r) => Ok(r),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// How many children `sup` holds.
pub async fn count_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<usize, CallError> {
    match call(handle, sup, DynamicCall::CountChildren, timeout).await? {
        DynamicReply::Count(n) => Ok(n),
        _ => Err(CallError::NoReply(sup)),
    }
}

/// The children of `sup`, in start order.
pub async fn which_children(
    handle: &Handle,
    sup: Pid,
    timeout: Duration,
) -> Result<Vec<crate::supervisor::ChildInfo>, CallError> {
    match call(handle, sup, DynamicCall::WhichChildren, timeout).await? {
        DynamicReply::Children(c) => Ok(c),
        _ => Err(CallError::NoReply(sup)),
    }
}

struct DynChild {
    child: Child,
    order: u64,
}

struct DynSup {
    ctx: Ctx,
    window: RestartWindow,
    max_children: Option<usize>,
    children: HashMap<Pid, DynChild>,
    next_order: u64,
    /// Stands in for the start function of temporary children once started.
    forgotten: crate::supervisor::StartFn,
}

impl DynSup {
    async fn run(&mut self) -> ExitReason {
        self.publish_use();
        loop {
            let msg = match self.ctx.recv_or_system().await {
                Received::StateRequest => {
                    self.ctx.publish_state(
                        self.render(),
                        self.children.capacity() * std::mem::size_of::<(Pid, DynChild)>(),
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
                return self.child_exited(exit.from, exit.reason).await;
            }
            Err(msg) => msg,
        };
        if let Ok(call) = msg.downcast::<CallMsg<DynamicCall, DynamicReply>>() {
            let reply = match call.request {
                DynamicCall::StartChild(spec) => DynamicReply::Started(self.start_child(spec)),
                DynamicCall::TerminateChild(pid) => match self.children.remove(&pid) {
                    Some(c) => {
                        terminate(&self.ctx, pid, c.child.spec.shutdown).await;
                        DynamicReply::Terminated(true)
                    }
                    None => DynamicReply::Terminated(false),
                },
                DynamicCall::CountChildren => DynamicReply::Count(self.children.len()),
                DynamicCall::WhichChildren => {
                    let mut all: Vec<&DynChild> = self.children.values().collect();
                    all.sort_by_key(|c| c.order);
                    DynamicReply::Children(all.iter().map(|c| c.child.info()).collect())
                }
            };
            call.reply.send(reply);
        }
        Ok(())
    }

    fn start_child(&mut self, spec: ChildSpec) -> Result<Pid, StartChildError> {
        if let Some(max) = self.max_children {
            if self.children.len() >= max {
                return Err(StartChildError::MaxChildren(max));
            }
        }
        let pid = spec
            .start_under(self.ctx.handle(), self.ctx.pid(), None)
            .map_err(StartChildError::Spawn)?;
        let mut spec = spec;
        if spec.restart == crate::supervisor::Restart::Temporary {
            // Never restarted: its start function (and what it captured) is not needed again.
            spec.forget_start(&self.forgotten);
        }
        self.insert(Child::new(spec, Some(pid)), pid);
        Ok(pid)
    }

    fn insert(&mut self, child: Child, pid: Pid) {
        let order = self.next_order;
        self.next_order += 1;
        self.children.insert(pid, DynChild { child, order });
    }

    async fn child_exited(&mut self, pid: Pid, reason: ExitReason) -> Result<(), ExitReason> {
        let Some(DynChild { mut child, .. }) = self.children.remove(&pid) else {
            return Ok(());
        };
        let now = self.window.now();
        child.pid = None;
        child.record_exit(now, pid, reason.clone());
        if !child.spec.restart.should_restart(&reason) {
            return Ok(());
        }
        loop {
            if self.window.add() {
                announce_escalation(&self.ctx, &mut self.window);
                self.terminate_all().await;
                return Err(ExitReason::Shutdown);
            }
            child.restarts += 1;
            match child.spec.start_under(
                self.ctx.handle(),
                self.ctx.pid(),
                Some(child.restart_info()),
            ) {
                Ok(new) => {
                    self.ctx.handle().0.record_restart(
                        self.ctx.pid(),
                        child.spec.id.clone(),
                        pid,
                        new,
                        reason,
                    );
                    child.pid = Some(new);
                    self.insert(child, new);
                    return Ok(());
                }
                Err(e) => {
                    child.record_exit(
                        self.window.now(),
                        pid,
                        ExitReason::custom(format!("start failed: {e}")),
                    );
                }
            }
        }
    }

    /// Stops all children at once (newest first), then waits for each.
    async fn terminate_all(&mut self) {
        let mut all: Vec<(Pid, DynChild)> = self.children.drain().collect();
        all.sort_by_key(|(_, c)| std::cmp::Reverse(c.order));
        for (pid, c) in &all {
            let reason = match c.child.spec.shutdown {
                Shutdown::BrutalKill => ExitReason::Kill,
                _ => ExitReason::Shutdown,
            };
            self.ctx.exit(*pid, reason);
        }
        let longest = all
            .iter()
            .map(|(_, c)| match c.child.spec.shutdown {
                Shutdown::BrutalKill => Some(Duration::ZERO),
                Shutdown::Timeout(d) => Some(d),
                Shutdown::Infinity => None,
            })
            .try_fold(Duration::ZERO, |acc, d| d.map(|d| acc.max(d)));
        let deadline = longest.map(|d| std::time::Instant::now() + d);
        let mut waiting: crate::hash::IdSet<Pid> = all.iter().map(|(p, _)| *p).collect();
        if !wait_exits(&self.ctx, &mut waiting, deadline).await {
            for pid in &waiting {
                self.ctx.exit(*pid, ExitReason::Kill);
            }
            wait_exits(&self.ctx, &mut waiting, None).await;
        }
    }

    fn publish_use(&mut self) {
        let usage = self.window.usage(self.children.len());
        self.ctx.inner.state.lock().extra().supervisor = Some(usage);
    }

    fn render(&self) -> String {
        let i = self.window.intensity();
        format!(
            "strategy: one_for_one (dynamic)\nintensity: {} restarts in {:?}\nchildren: {}{}\n",
            i.max_restarts,
            i.period,
            self.children.len(),
            self.max_children
                .map_or_else(String::new, |m| format!(" (max {m})")),
        )
    }
}
