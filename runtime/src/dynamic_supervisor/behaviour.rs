//! The dynamic supervisor process as a server [`Behaviour`]: children added by calls, each
//! restarted alone by its restart type, all stopped at once when it stops.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::{Duration, Instant};

use super::client::{DynamicCall, DynamicReply, StartChildError};
use crate::hash::IdSet;
use crate::server::{is_from_owner, Behaviour, Flow, ReplyTo};
use crate::supervisor::{
    terminate, wait_exits, Child, ChildSpec, Restart, RestartWindow, Shutdown, StartFn,
};
use crate::{Ctx, Exit, ExitReason, Handle, Msg, Pid, SpawnError, SpawnOpts};

struct DynChild {
    child: Child,
    order: u64,
}

pub(super) struct DynSup {
    window: RestartWindow,
    max_children: Option<usize>,
    /// Boxed: a hash table keeps up to half its slots empty, and an empty slot then costs a
    /// pointer rather than a whole child record (tens of thousands of sockets and channels).
    children: HashMap<Pid, Box<DynChild>>,
    next_order: u64,
    /// Stands in for the start function of temporary children once started.
    forgotten: StartFn,
}

impl DynSup {
    pub(super) fn new(window: RestartWindow, max_children: Option<usize>) -> DynSup {
        DynSup {
            window,
            max_children,
            children: HashMap::new(),
            next_order: 0,
            forgotten: std::sync::Arc::new(|_: &Handle, _: SpawnOpts| {
                Err(SpawnError::Failed(
                    "a temporary child is never restarted".into(),
                ))
            }),
        }
    }
}

impl Behaviour for DynSup {
    type Call = DynamicCall;
    type Reply = DynamicReply;
    type Cast = Infallible;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        self.window.publish_use(ctx, self.children.len());
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &Ctx,
        request: DynamicCall,
        reply: ReplyTo<DynamicReply>,
    ) -> Flow {
        let answer = match request {
            DynamicCall::StartChild(spec) => DynamicReply::Started(self.start_child(ctx, spec)),
            DynamicCall::TerminateChild(pid) => match self.children.remove(&pid) {
                Some(c) => {
                    terminate(ctx, pid, c.child.spec.shutdown).await;
                    DynamicReply::Terminated(true)
                }
                None => DynamicReply::Terminated(false),
            },
            DynamicCall::CountChildren => DynamicReply::Count(self.children.len()),
            DynamicCall::WhichChildren => {
                let mut all: Vec<&DynChild> = self.children.values().map(|c| &**c).collect();
                all.sort_by_key(|c| c.order);
                DynamicReply::Children(all.iter().map(|c| c.child.info()).collect())
            }
        };
        reply.send(answer);
        self.window.publish_use(ctx, self.children.len());
        Flow::Continue
    }

    async fn handle_exit(&mut self, ctx: &Ctx, exit: Exit) -> Flow {
        if is_from_owner(ctx, &exit) {
            // `terminate` stops the children.
            return Flow::Stop(exit.reason);
        }
        let flow = match self.child_exited(ctx, exit.from, exit.reason).await {
            Ok(()) => Flow::Continue,
            Err(reason) => Flow::Stop(reason),
        };
        self.window.publish_use(ctx, self.children.len());
        flow
    }

    async fn handle_info(&mut self, ctx: &Ctx, _msg: Msg) -> Flow {
        self.window.publish_use(ctx, self.children.len());
        Flow::Continue
    }

    async fn terminate(&mut self, ctx: &Ctx, _reason: &ExitReason) {
        self.terminate_all(ctx).await;
    }

    fn render_state(&self) -> String {
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

    fn state_size(&self) -> usize {
        self.children.capacity() * (std::mem::size_of::<(Pid, Box<DynChild>)>() + 1)
            + self.children.len() * std::mem::size_of::<DynChild>()
    }
}

impl DynSup {
    fn start_child(&mut self, ctx: &Ctx, spec: ChildSpec) -> Result<Pid, StartChildError> {
        if let Some(max) = self.max_children {
            if self.children.len() >= max {
                return Err(StartChildError::MaxChildren(max));
            }
        }
        let pid = spec
            .start_under(ctx.handle(), ctx.pid(), None)
            .map_err(StartChildError::Spawn)?;
        let mut spec = spec;
        if spec.restart == Restart::Temporary {
            // Never restarted: its start function (and what it captured) is not needed again.
            spec.forget_start(&self.forgotten);
        }
        self.insert(Child::new(spec, Some(pid)), pid);
        Ok(pid)
    }

    fn insert(&mut self, child: Child, pid: Pid) {
        let order = self.next_order;
        self.next_order += 1;
        self.children
            .insert(pid, Box::new(DynChild { child, order }));
    }

    /// A child exited: restart it if its restart type says so; past the intensity, give up
    /// (`terminate` stops the others).
    async fn child_exited(
        &mut self,
        ctx: &Ctx,
        pid: Pid,
        reason: ExitReason,
    ) -> Result<(), ExitReason> {
        let Some(DynChild { mut child, .. }) = self.children.remove(&pid).map(|c| *c) else {
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
                self.window.announce_escalation(ctx);
                return Err(ExitReason::Shutdown);
            }
            child.restarts += 1;
            match child
                .spec
                .start_under(ctx.handle(), ctx.pid(), Some(child.restart_info()))
            {
                Ok(new) => {
                    ctx.handle().0.record_restart(
                        ctx.pid(),
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
    async fn terminate_all(&mut self, ctx: &Ctx) {
        let mut all: Vec<(Pid, Box<DynChild>)> = self.children.drain().collect();
        all.sort_by_key(|(_, c)| std::cmp::Reverse(c.order));
        for (pid, c) in &all {
            let reason = match c.child.spec.shutdown {
                Shutdown::BrutalKill => ExitReason::Kill,
                _ => ExitReason::Shutdown,
            };
            ctx.exit(*pid, reason);
        }
        let longest = all
            .iter()
            .map(|(_, c)| match c.child.spec.shutdown {
                Shutdown::BrutalKill => Some(Duration::ZERO),
                Shutdown::Timeout(d) => Some(d),
                Shutdown::Infinity => None,
            })
            .try_fold(Duration::ZERO, |acc, d| d.map(|d| acc.max(d)));
        let deadline = longest.map(|d| Instant::now() + d);
        let mut waiting: IdSet<Pid> = all.iter().map(|(p, _)| *p).collect();
        if !wait_exits(ctx, &mut waiting, deadline).await {
            for pid in &waiting {
                ctx.exit(*pid, ExitReason::Kill);
            }
            wait_exits(ctx, &mut waiting, None).await;
        }
    }
}
