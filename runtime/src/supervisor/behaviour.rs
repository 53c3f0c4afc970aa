//! The supervisor process as a server [`Behaviour`]: calls for the client API, exits of its
//! children restarted by strategy, and its children stopped in reverse order when it stops.

use std::convert::Infallible;

use futures_channel::oneshot;

use super::child::Child;
use super::client::{SupervisorCall, SupervisorReply};
use super::intensity::RestartWindow;
use super::shutdown::terminate;
use super::spec::{Restart, Strategy};
use crate::server::{is_from_owner, Behaviour, Flow, ReplyTo};
use crate::{Ctx, Exit, ExitReason, Msg, Pid, RestartInfo, SpawnError};

pub(crate) struct Sup {
    strategy: Strategy,
    window: RestartWindow,
    children: Vec<Child>,
    /// The children, started by `start` before the supervisor handles anything.
    started: Option<oneshot::Receiver<Vec<Child>>>,
}

impl Sup {
    pub(crate) fn new(
        strategy: Strategy,
        window: RestartWindow,
        started: oneshot::Receiver<Vec<Child>>,
    ) -> Sup {
        Sup {
            strategy,
            window,
            children: Vec::new(),
            started: Some(started),
        }
    }
}

impl Behaviour for Sup {
    type Call = SupervisorCall;
    type Reply = SupervisorReply;
    type Cast = Infallible;

    async fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        let Some(started) = self.started.take() else {
            return Err(ExitReason::Shutdown);
        };
        // `start` was abandoned (a child failed): nothing to supervise.
        self.children = started.await.map_err(|_| ExitReason::Shutdown)?;
        self.window.publish_use(ctx, self.children.len());
        Ok(())
    }

    async fn handle_call(
        &mut self,
        ctx: &Ctx,
        request: SupervisorCall,
        reply: ReplyTo<SupervisorReply>,
    ) -> Flow {
        reply.send(self.call(ctx, request).await);
        self.window.publish_use(ctx, self.children.len());
        Flow::Continue
    }

    async fn handle_exit(&mut self, ctx: &Ctx, exit: Exit) -> Flow {
        if is_from_owner(ctx, &exit) {
            // `terminate` stops the children.
            return Flow::Stop(exit.reason);
        }
        let mut flow = Flow::Continue;
        if let Some(i) = self.children.iter().position(|c| c.pid == Some(exit.from)) {
            if let Err(reason) = self.child_exited(ctx, i, exit.reason).await {
                flow = Flow::Stop(reason);
            }
        }
        self.window.publish_use(ctx, self.children.len());
        flow
    }

    async fn handle_info(&mut self, ctx: &Ctx, _msg: Msg) -> Flow {
        self.window.publish_use(ctx, self.children.len());
        Flow::Continue
    }

    /// Stops every child, last first, whatever the reason.
    async fn terminate(&mut self, ctx: &Ctx, _reason: &ExitReason) {
        self.terminate_range(ctx, 0..self.children.len()).await;
    }

    fn render_state(&self) -> String {
        let i = self.window.intensity();
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

    fn state_size(&self) -> usize {
        self.children.len() * std::mem::size_of::<Child>()
    }
}

impl Sup {
    async fn call(&mut self, ctx: &Ctx, request: SupervisorCall) -> SupervisorReply {
        match request {
            SupervisorCall::WhichChildren => {
                SupervisorReply::Children(self.children.iter().map(Child::info).collect())
            }
            SupervisorCall::StartChild(spec) => {
                if self.children.iter().any(|c| c.spec.id == spec.id) {
                    return SupervisorReply::Started(Err(format!(
                        "a child {:?} already exists",
                        spec.id
                    )));
                }
                match spec.start_under(ctx.handle(), ctx.pid(), None) {
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
                            terminate(ctx, pid, self.children[i].spec.shutdown).await;
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
                    Some(i) if self.children[i].pid.is_none() => {
                        match self.start_child(ctx, i, None) {
                            Ok(()) => SupervisorReply::Done(Ok(())),
                            Err(e) => SupervisorReply::Done(Err(e.to_string())),
                        }
                    }
                    Some(_) => SupervisorReply::Done(Err(format!("child {id:?} is running"))),
                    None => SupervisorReply::Done(Err(format!("no child {id:?}"))),
                }
            }
        }
    }

    /// Child `i` exited: restart it (and others, by strategy) or give up past the intensity.
    async fn child_exited(
        &mut self,
        ctx: &Ctx,
        i: usize,
        reason: ExitReason,
    ) -> Result<(), ExitReason> {
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
            return Err(self.give_up(ctx));
        }
        let to_restart: Vec<usize> = match self.strategy {
            Strategy::OneForOne => vec![i],
            Strategy::OneForAll => {
                self.terminate_range(ctx, 0..self.children.len()).await;
                (0..self.children.len()).collect()
            }
            Strategy::RestForOne => {
                self.terminate_range(ctx, i + 1..self.children.len()).await;
                (i..self.children.len()).collect()
            }
        };
        // Temporary siblings stopped for the strategy are not restarted, but forgotten; that
        // shifts positions, so the failed child is known by its id from here on.
        let failed_id = self.children[i].spec.id.clone();
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
            let cause = if id == failed_id {
                reason.clone()
            } else {
                ExitReason::Shutdown
            };
            loop {
                match self.restart(ctx, j, old, cause.clone()) {
                    Ok(()) => break,
                    Err(e) => {
                        let now = self.window.now();
                        self.children[j].record_exit(
                            now,
                            old,
                            ExitReason::custom(format!("start failed: {e}")),
                        );
                        if self.window.add() {
                            return Err(self.give_up(ctx));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Restarts child `j` (counting the restart) and announces it.
    fn restart(
        &mut self,
        ctx: &Ctx,
        j: usize,
        old: Pid,
        reason: ExitReason,
    ) -> Result<(), SpawnError> {
        self.children[j].restarts += 1;
        let info = self.children[j].restart_info();
        let old = self.children[j].history.back().map_or(old, |e| e.pid);
        self.start_child(ctx, j, Some(info))?;
        let new = self.children[j].pid.expect("just started");
        ctx.handle().0.record_restart(
            ctx.pid(),
            self.children[j].spec.id.clone(),
            old,
            new,
            reason,
        );
        Ok(())
    }

    fn start_child(
        &mut self,
        ctx: &Ctx,
        j: usize,
        info: Option<RestartInfo>,
    ) -> Result<(), SpawnError> {
        let pid = self.children[j]
            .spec
            .start_under(ctx.handle(), ctx.pid(), info)?;
        self.children[j].pid = Some(pid);
        Ok(())
    }

    /// Stops children in `range`, last first, recording why in their history.
    async fn terminate_range(&mut self, ctx: &Ctx, range: std::ops::Range<usize>) {
        for j in range.rev() {
            if let Some(pid) = self.children[j].pid.take() {
                terminate(ctx, pid, self.children[j].spec.shutdown).await;
                let now = self.window.now();
                self.children[j].record_exit(now, pid, ExitReason::Shutdown);
            }
        }
    }

    /// Over the intensity: announce it and exit with `shutdown` (`terminate` stops the
    /// children), so the failure climbs to this supervisor's own supervisor.
    fn give_up(&mut self, ctx: &Ctx) -> ExitReason {
        self.window.announce_escalation(ctx);
        ExitReason::Shutdown
    }
}
