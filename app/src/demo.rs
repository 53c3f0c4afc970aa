//! The demo supervision tree the app starts beside the chat server: something small to kill,
//! crash and watch come back without disturbing anyone's chat, and the place to try restart
//! intensity and escalation.
//!
//! ```text
//! demo                   supervisor, one_for_one, 3 restarts in 5 s
//! ├── workers            supervisor, one_for_one, 3 restarts in 5 s
//! │   ├── worker 1..3    permanent workers that wait for messages
//! ├── counter            a server that counts its own ticks and shows its state
//! ├── sessions           dynamic supervisor
//! │   └── session 1..N   temporary workers, started by "seed sessions"
//! └── seed sessions      temporary worker: starts the sessions, then exits normally
//! ```

use std::sync::Arc;
use std::time::Duration;

use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec};
use crashcourse_runtime::server::{Flow, ReplyTo, Server};
use crashcourse_runtime::supervisor::{
    self, ChildSpec, Intensity, Restart, Shutdown, StartError, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{Ctx, ExitReason, Handle, Kind, Msg, Pid, SpawnOpts};

/// The label of the demo's top supervisor.
pub const TOP_LABEL: &str = "demo";

/// How often the counter ticks.
const TICK: Duration = Duration::from_secs(1);

/// A server that counts ticks it sends itself, so its state visibly changes in the inspector.
pub struct Counter {
    count: u64,
}

/// The counter's self-sent timer message.
#[derive(Debug)]
struct Tick;

impl Server for Counter {
    type Call = ();
    type Reply = u64;
    type Cast = u64;

    fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.handle().send_after(ctx.pid(), TICK, Tick);
        Ok(())
    }

    fn handle_call(&mut self, _ctx: &Ctx, _request: (), reply: ReplyTo<u64>) -> Flow {
        reply.send(self.count);
        Flow::Continue
    }

    fn handle_cast(&mut self, _ctx: &Ctx, add: u64) -> Flow {
        self.count += add;
        Flow::Continue
    }

    fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> Flow {
        if msg.is::<Tick>() {
            self.count += 1;
            ctx.handle().send_after(ctx.pid(), TICK, Tick);
        }
        Flow::Continue
    }

    fn render_state(&self) -> String {
        format!("%Counter{{count: {}}}", self.count)
    }
}

/// A worker that waits for messages forever (and drops them).
fn idle_worker(id: &str, label: String) -> ChildSpec {
    ChildSpec::worker(id.to_string(), wait_for_messages).label(label)
}

async fn wait_for_messages(ctx: Ctx) -> ExitReason {
    loop {
        ctx.recv().await;
    }
}

/// Starts the demo tree and returns the top supervisor's pid.
pub fn start(handle: &Handle, sessions: usize) -> Result<Pid, StartError> {
    let workers = || {
        SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
            .child(idle_worker("worker_1", "worker 1".into()))
            .child(idle_worker("worker_2", "worker 2".into()))
            .child(idle_worker("worker_3", "worker 3".into()))
    };
    let spec = SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
        .child(ChildSpec::supervisor("workers", workers))
        .child(ChildSpec::server("counter", || Counter { count: 0 }))
        .child(
            ChildSpec::new("sessions", |h, opts| {
                dynamic_supervisor::start(h, opts, DynamicSpec::new(Intensity::elixir()))
            })
            .kind(Kind::DynamicSupervisor)
            .shutdown(Shutdown::Infinity),
        )
        .child(seed_sessions(sessions));
    supervisor::start(handle, SpawnOpts::new().label(TOP_LABEL), spec)
}

/// A temporary child that asks its supervisor where "sessions" is and starts `n` sessions there.
fn seed_sessions(n: usize) -> ChildSpec {
    ChildSpec::worker("seed sessions", move |ctx: Ctx| async move {
        const T: Duration = Duration::from_secs(2);
        let handle = ctx.handle().clone();
        let Some(parent) = ctx.parent() else {
            return ExitReason::custom("no supervisor");
        };
        let children = match supervisor::which_children(&handle, parent, T).await {
            Ok(children) => children,
            Err(e) => return ExitReason::custom(e.to_string()),
        };
        let Some(sessions) = children
            .iter()
            .find(|c| &*c.id == "sessions")
            .and_then(|c| c.pid)
        else {
            return ExitReason::custom("no sessions supervisor");
        };
        for i in 1..=n {
            let label: Arc<str> = format!("session {i}").into();
            let spec = idle_worker("session", label.to_string()).restart(Restart::Temporary);
            match dynamic_supervisor::start_child(&handle, sessions, spec, T).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return ExitReason::custom(e.to_string()),
                Err(e) => return ExitReason::custom(e.to_string()),
            }
        }
        ExitReason::Normal
    })
    .restart(Restart::Temporary)
}
