//! The bench workload: a supervision tree with many idle processes and a generator causing
//! runtime events at a steady rate.

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec};
use crashcourse_runtime::supervisor::{
    self, ChildSpec, Intensity, Restart, Shutdown, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{Ctx, ExitReason, Handle, Kind, Pid, SpawnOpts};

/// Runtime events (spawns, exits, restarts, messages) the generator aims at per second.
pub const EVENTS_PER_SEC: u64 = 5_000;
/// Workers the generator crashes in turn.
const CRASHERS: usize = 50;

/// One tick's worth of work, per 100 events: 2 start-and-end pairs (each a spawn and an exit),
/// 1 crash (an exit, a restart and a spawn) and the rest messages.
const CHURN_PER_100: u64 = 2;
const CRASH_PER_100: u64 = 1;
const MESSAGES_PER_100: u64 = 100 - 2 * CHURN_PER_100 - 3 * CRASH_PER_100;

/// A message for the idle workers.
#[derive(Debug, Clone, Copy)]
struct Ping;

/// Starts the bench tree and its generator; `ready` hears once `processes` idle workers run.
///
/// ```text
/// bench          supervisor, one_for_one
/// ├── idle       dynamic supervisor: `processes` workers waiting for messages
/// ├── churn      dynamic supervisor: temporary workers that end at once
/// ├── crashers   supervisor: 50 permanent workers, crashed in turn
/// └── generator  seeds `idle`, then causes events at a steady rate
/// ```
pub fn start(
    handle: &Handle,
    processes: usize,
    ready: mpsc::Sender<Result<(), String>>,
) -> Result<Pid, String> {
    let crashers = || {
        let mut spec = SupervisorSpec::new(
            Strategy::OneForOne,
            Intensity::new(1_000_000, Duration::from_secs(1)),
        );
        for i in 0..CRASHERS {
            spec = spec.child(
                ChildSpec::worker(format!("crasher {i}"), wait_for_messages)
                    .label(format!("crasher {}", i + 1)),
            );
        }
        spec
    };
    let dynamic = |name: &'static str| {
        ChildSpec::new(name, move |h, opts| {
            dynamic_supervisor::start(
                h,
                opts.label(name),
                DynamicSpec::new(Intensity::new(1_000_000, Duration::from_secs(1))),
            )
        })
        .kind(Kind::DynamicSupervisor)
        .shutdown(Shutdown::Infinity)
    };
    // The worker's body may be called again on a restart; the sender goes to the first call.
    let ready = Arc::new(Mutex::new(Some(ready)));
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(1_000, Duration::from_secs(1)),
    )
    .child(dynamic("idle"))
    .child(dynamic("churn"))
    .child(ChildSpec::supervisor("crashers", crashers))
    .child(
        ChildSpec::worker("generator", move |ctx: Ctx| {
            let ready = ready.lock().ok().and_then(|mut slot| slot.take());
            generate(ctx, processes, ready)
        })
        .restart(Restart::Temporary),
    );
    supervisor::start(handle, SpawnOpts::new().label("bench"), spec).map_err(|e| e.to_string())
}

async fn wait_for_messages(ctx: Ctx) -> ExitReason {
    loop {
        ctx.recv().await;
    }
}

/// The pid of the sibling started as `id`.
async fn sibling(ctx: &Ctx, id: &str) -> Result<Pid, String> {
    let parent = ctx.parent().ok_or("no supervisor")?;
    let children = supervisor::which_children(ctx.handle(), parent, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    children
        .iter()
        .find(|c| &*c.id == id)
        .and_then(|c| c.pid)
        .ok_or_else(|| format!("no {id} supervisor"))
}

async fn generate(
    ctx: Ctx,
    processes: usize,
    ready: Option<mpsc::Sender<Result<(), String>>>,
) -> ExitReason {
    let handle = ctx.handle().clone();
    const T: Duration = Duration::from_secs(10);
    let seeded = async {
        let idle = sibling(&ctx, "idle").await?;
        let mut pids = Vec::with_capacity(processes);
        for i in 0..processes {
            let spec = ChildSpec::worker("idle", wait_for_messages)
                .label(format!("idle {}", i + 1))
                .restart(Restart::Temporary);
            match dynamic_supervisor::start_child(&handle, idle, spec, T).await {
                Ok(Ok(pid)) => pids.push(pid),
                Ok(Err(e)) => return Err(e.to_string()),
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok::<_, String>(pids)
    }
    .await;
    let idle = match seeded {
        Ok(pids) => pids,
        Err(e) => {
            if let Some(ready) = &ready {
                let _ = ready.send(Err(e.clone()));
            }
            return ExitReason::custom(e);
        }
    };
    let (churn, crashers) = match (
        sibling(&ctx, "churn").await,
        sibling(&ctx, "crashers").await,
    ) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return ExitReason::custom(e),
    };
    if let Some(ready) = ready {
        let _ = ready.send(Ok(()));
    }

    // Work is due by elapsed time, so timer jitter does not change the rate.
    let start = Instant::now();
    let mut done = 0u64;
    let mut next = 0usize;
    loop {
        let _ = ctx.recv_timeout(Duration::from_millis(10)).await;
        let due = (start.elapsed().as_secs_f64() * EVENTS_PER_SEC as f64 / 100.0) as u64;
        while done < due {
            done += 1;
            for _ in 0..CHURN_PER_100 {
                let spec = ChildSpec::worker("churn", |_ctx: Ctx| async { ExitReason::Normal })
                    .label("short-lived")
                    .restart(Restart::Temporary);
                let _ = dynamic_supervisor::start_child(&handle, churn, spec, T).await;
            }
            for _ in 0..CRASH_PER_100 {
                if let Ok(children) = supervisor::which_children(&handle, crashers, T).await {
                    if let Some(pid) = children
                        .get(next % children.len().max(1))
                        .and_then(|c| c.pid)
                    {
                        let _ = handle.crash(pid);
                    }
                }
            }
            for _ in 0..MESSAGES_PER_100 {
                next = next.wrapping_mul(1_103_515_245).wrapping_add(12_345) % idle.len().max(1);
                let _ = handle.send(idle[next], Ping);
            }
        }
    }
}
