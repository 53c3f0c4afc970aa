//! `crashcourse bench gui`: what one frame of the app costs the UI thread while the runtime is
//! big and busy.
//!
//! The real app runs headless in an `egui_kittest` harness (no rendering) with 100,000 idle
//! processes under a dynamic supervisor (10,000 for `quick`) and a generator process causing
//! about 5,000 runtime events a second in a steady mix: temporary workers that start and end,
//! workers that crash and are restarted, and messages. Each frame is paced at 60 Hz, and the UI
//! thread's CPU time is measured over the app's whole update: ingest, the ECS schedule,
//! layout, drawing into egui, and tessellation.
//!
//! ```no_run
//! crashcourse_app::bench::run(true, |line| println!("{line}")).unwrap();
//! ```

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec};
use crashcourse_runtime::supervisor::{
    self, ChildSpec, Intensity, Restart, Shutdown, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{Ctx, ExitReason, Handle, Kind, Pid, SpawnOpts};
use egui_kittest::Harness;

use crate::{egui, AppConfig, CrashcourseApp};

/// Frames measured.
pub const FRAMES: usize = 300;
/// Runtime events (spawns, exits, restarts, messages) the generator aims at per second.
pub const EVENTS_PER_SEC: u64 = 5_000;
/// The frame period the bench paces at.
const FRAME: Duration = Duration::from_micros(16_667);
/// Workers the generator crashes in turn.
const CRASHERS: usize = 50;
/// How long setting up may take before the bench gives up.
const SETUP_LIMIT: Duration = Duration::from_secs(300);

/// One tick's worth of work, per 100 events: 2 start-and-end pairs (each a spawn and an exit),
/// 1 crash (an exit, a restart and a spawn) and the rest messages.
const CHURN_PER_100: u64 = 2;
const CRASH_PER_100: u64 = 1;
const MESSAGES_PER_100: u64 = 100 - 2 * CHURN_PER_100 - 3 * CRASH_PER_100;

/// Runs the benchmark and reports `bench gui.<figure> <value> <unit>` lines.
pub fn run(quick: bool, mut report: impl FnMut(String)) -> Result<(), String> {
    let processes = if quick { 10_000 } else { 100_000 };
    let dir = tempfile::tempdir().map_err(|e| format!("no temporary directory: {e}"))?;
    let config = AppConfig::isolated(&dir.path().join("chat.db"));
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 900.0))
        .build_eframe(move |_cc| CrashcourseApp::new(config));
    let handle = harness.state().handle();

    let setup = Instant::now();
    let (ready_tx, ready_rx) = mpsc::channel();
    start_workload(&handle, processes, ready_tx)?;
    // Keep drawing while the runtime fills, as the real window would.
    loop {
        harness.step();
        match ready_rx.try_recv() {
            Ok(result) => {
                result?;
                break;
            }
            Err(mpsc::TryRecvError::Empty) => {}
            Err(mpsc::TryRecvError::Disconnected) => {
                return Err("the workload generator stopped before it was ready".into())
            }
        }
        if setup.elapsed() > SETUP_LIMIT {
            return Err(format!(
                "setting up {processes} processes took over {SETUP_LIMIT:?}"
            ));
        }
        std::thread::sleep(FRAME);
    }
    // Until the view model holds them all and has settled.
    let deadline = Instant::now() + SETUP_LIMIT;
    while view_count(&harness) < processes {
        if Instant::now() > deadline {
            return Err("the view model never caught up with the runtime".into());
        }
        harness.step();
        std::thread::sleep(FRAME);
    }
    for _ in 0..60 {
        paced_frame(&mut harness);
    }
    report(format!(
        "# crashcourse gui: {} processes in the view, {} ms setup",
        view_count(&harness),
        setup.elapsed().as_millis()
    ));

    let before = handle.metrics();
    let started = Instant::now();
    let mut cpu = Vec::with_capacity(FRAMES);
    let (mut model, mut draw) = (Vec::with_capacity(FRAMES), Vec::with_capacity(FRAMES));
    for _ in 0..FRAMES {
        cpu.push(paced_frame(&mut harness));
        let costs = harness.state().frame_costs();
        model.push(costs.view_model.as_secs_f64() * 1000.0);
        draw.push(costs.draw.as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let after = handle.metrics();
    let events = (after.events_recorded - before.events_recorded)
        + (after.messages_total - before.messages_total);

    let figure = |name: &str, value: f64, unit: &str| format!("bench gui.{name} {value:.3} {unit}");
    let mean = cpu.iter().sum::<f64>() / cpu.len() as f64;
    report(figure("frame_mean", mean, "ms"));
    report(figure("frame_p99", p99(&mut cpu), "ms"));
    report(figure("frame_max", cpu[cpu.len() - 1], "ms"));
    // Wall time of the two parts the app itself does (the rest is egui, AccessKit and
    // tessellation), to see where a slow frame went.
    report(figure("view_model_p99", p99(&mut model), "ms"));
    report(figure("draw_p99", p99(&mut draw), "ms"));
    report(figure("events_per_sec", events as f64 / elapsed, "/s"));
    report(figure("processes", handle.process_count() as f64, "count"));
    drop(harness);
    Ok(())
}

/// Sorts `values` and returns their 99th percentile.
fn p99(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[((values.len() as f64 * 0.99).ceil() as usize).clamp(1, values.len()) - 1]
}

fn view_count(harness: &Harness<'_, CrashcourseApp>) -> usize {
    harness
        .state()
        .world()
        .resource::<crate::state::components::RuntimeStats>()
        .process_count
}

/// One frame at 60 Hz; returns the UI thread's CPU time for it in milliseconds.
fn paced_frame(harness: &mut Harness<'_, CrashcourseApp>) -> f64 {
    let start = Instant::now();
    let cpu = thread_cpu_time();
    harness.step();
    let output = harness.output();
    let ctx = harness.ctx.clone();
    let primitives = ctx.tessellate(output.shapes.clone(), ctx.pixels_per_point());
    std::hint::black_box(primitives);
    let spent = thread_cpu_time().saturating_sub(cpu);
    if let Some(rest) = FRAME.checked_sub(start.elapsed()) {
        std::thread::sleep(rest);
    }
    spent.as_secs_f64() * 1000.0
}

/// CPU time of the calling thread.
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID needs nothing else.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Elsewhere, wall time (an upper bound of the CPU time).
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    use std::sync::OnceLock;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed()
}

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
fn start_workload(
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
