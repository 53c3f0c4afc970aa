//! The runtime workloads, on a runtime configured as the app configures it (introspection and
//! the event stream on, 2 worker threads): idle spawn (rate, memory, stop), spawn-and-exit, a
//! ring, a fan-out and supervisor restarts.
//!
//! After the figures that compare with the Erlang peer, the cost of busy-time accounting (the
//! same workloads on a runtime with it off) and of a trace to the processes it does not follow
//! (the ring while an unrelated process is traced), each beside its baseline in the same run.
//!
//! Each workload is driven by a process, as `peers/erlang/peer_bench.erl` drives them from an
//! Erlang process, and timed over the same window as that script: a clock starts right after
//! the spawning, whether or not the spawned processes have run yet.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::future::yield_now;

use crashcourse_runtime::alloc::{live_bytes, rss_bytes};
use crashcourse_runtime::supervisor::{
    self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec,
};
use crashcourse_runtime::{
    Ctx, Down, ExitReason, Handle, Pid, Runtime, RuntimeConfig, SpawnOpts, TraceSpec,
    BUSY_WINDOW_BYTES,
};

use crate::{BenchError, Figure};

/// Sizes of one run; `quick` divides process and message counts by ten (the ring keeps 10,000
/// processes and the restart figure 1,000 kills), as the peer script does.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub spawn: usize,
    pub ring_procs: usize,
    pub ring_hops: u64,
    pub fanout: usize,
    pub restarts: usize,
}

impl Sizes {
    pub fn new(quick: bool) -> Sizes {
        let scale = if quick { 10 } else { 1 };
        Sizes {
            spawn: 1_000_000 / scale,
            ring_procs: 10_000,
            ring_hops: 1_000_000 / scale as u64,
            fanout: 100_000 / scale,
            restarts: 1_000,
        }
    }
}

#[derive(Debug)]
struct Stop;

#[derive(Debug)]
struct Done;

#[derive(Debug)]
struct Token(u64);

#[derive(Debug)]
struct Fan(Pid);

#[derive(Debug)]
struct Ack;

/// How often a driver loop yields so the processes it spawns or messages can run.
const YIELD_EVERY: usize = 1024;

/// Runs every workload, calling `report` with each figure as it is measured; stops at the
/// first workload that fails. Then what busy-time accounting and tracing cost, measured in the
/// same run against a baseline that differs only in them (see [`accounting_cost`] and
/// [`trace_cost`]).
pub fn run(sizes: Sizes, mut report: impl FnMut(Figure)) -> Result<(), BenchError> {
    let rt = Runtime::start(RuntimeConfig::default());
    for f in spawn_idle(&rt, sizes.spawn)? {
        report(f);
    }
    // Inline in every process record whether accounting is on or off, so memory per process
    // does not change with it: its size says what it takes.
    report(Figure::new(
        "spawn_idle.busy_window_bytes",
        BUSY_WINDOW_BYTES as f64,
        "B",
    ));
    report(spawn_exit(&rt, sizes.spawn)?);
    report(ring(&rt, sizes.ring_procs, sizes.ring_hops)?);
    report(fanout(&rt, sizes.fanout)?);
    report(restart(&rt, sizes.restarts)?);
    let off = Runtime::start(RuntimeConfig::default().with_busy_accounting(false));
    accounting_cost(&rt, &off, sizes, &mut report)?;
    drop(off);
    trace_cost(&rt, sizes, &mut report)?;
    drop(rt);
    Ok(())
}

/// A workload measured twice on each side of a comparison, in the order A B B A so a drift of
/// the machine over the four runs weighs on both sides alike; returns the two means.
fn abba(
    mut a: impl FnMut() -> Result<f64, BenchError>,
    mut b: impl FnMut() -> Result<f64, BenchError>,
) -> Result<(f64, f64), BenchError> {
    let a1 = a()?;
    let b1 = b()?;
    let b2 = b()?;
    let a2 = a()?;
    Ok(((a1 + a2) / 2.0, (b1 + b2) / 2.0))
}

/// Reports `<name>_on`/`_off`-style pairs and the cost of `on` in % of `off` (a rate: lower
/// is slower; positive cost means `on` is slower).
fn report_pair(
    report: &mut impl FnMut(Figure),
    name: &str,
    (on, off): (f64, f64),
    (on_label, off_label): (&str, &str),
    unit: &'static str,
) {
    report(Figure::new(format!("{name}.{on_label}"), on, unit));
    report(Figure::new(format!("{name}.{off_label}"), off, unit));
    report(Figure::new(
        format!("{name}.cost"),
        (off - on) / off * 100.0,
        "%",
    ));
}

/// Busy-time accounting's cost: spawn (idle and spawn-and-exit) and the ring on `on` (the
/// default runtime) and on `off` (the same configuration with
/// [`RuntimeConfig::busy_accounting`] off), A B B A.
fn accounting_cost(
    on: &Runtime,
    off: &Runtime,
    sizes: Sizes,
    report: &mut impl FnMut(Figure),
) -> Result<(), BenchError> {
    let idle_rate = |rt: &Runtime| -> Result<f64, BenchError> {
        spawn_idle(rt, sizes.spawn)?
            .into_iter()
            .find(|f| f.name == "spawn_idle.rate")
            .map(|f| f.value)
            .ok_or_else(|| BenchError::new("spawn_idle reported no rate"))
    };
    let pair = abba(|| idle_rate(on), || idle_rate(off))?;
    report_pair(
        report,
        "busy.spawn_idle.rate",
        pair,
        ("on", "off"),
        "proc/s",
    );
    let pair = abba(
        || Ok(spawn_exit(on, sizes.spawn)?.value),
        || Ok(spawn_exit(off, sizes.spawn)?.value),
    )?;
    report_pair(
        report,
        "busy.spawn_exit.rate",
        pair,
        ("on", "off"),
        "proc/s",
    );
    let pair = abba(
        || Ok(ring(on, sizes.ring_procs, sizes.ring_hops)?.value),
        || Ok(ring(off, sizes.ring_procs, sizes.ring_hops)?.value),
    )?;
    report_pair(report, "busy.ring.msgs_per_s", pair, ("on", "off"), "msg/s");
    Ok(())
}

/// Tracing's cost to processes that are not traced: the ring with nothing traced beside the
/// ring while an unrelated idle process is traced (bounds far beyond the run, so the trace is
/// live throughout), A B B A on one runtime.
fn trace_cost(
    rt: &Runtime,
    sizes: Sizes,
    report: &mut impl FnMut(Figure),
) -> Result<(), BenchError> {
    let bystander = rt
        .spawn_with(SpawnOpts::new().label("traced bystander"), |c| async move {
            c.recv().await;
        })
        .map_err(|e| BenchError::new(format!("could not spawn the traced bystander: {e}")))?;
    let untraced = || Ok(ring(rt, sizes.ring_procs, sizes.ring_hops)?.value);
    let traced = || {
        let spec = TraceSpec {
            pids: vec![bystander],
            max_events: usize::MAX,
            max_time: WORKLOAD_LIMIT,
        };
        let trace = rt
            .trace(spec)
            .map_err(|e| BenchError::new(format!("could not trace the bystander: {e}")))?;
        let figure = ring(rt, sizes.ring_procs, sizes.ring_hops)?;
        if let Some(end) = trace.ended() {
            return Err(BenchError::new(format!(
                "the bystander's trace ended during the ring ({end:?}): the figure would not be \
                 a ring beside a live trace"
            )));
        }
        trace.stop();
        Ok(figure.value)
    };
    let pair = abba(untraced, traced)?;
    let _ = rt.send(bystander, Stop);
    report_pair(
        report,
        "trace.ring.msgs_per_s",
        (pair.1, pair.0),
        ("bystander_traced", "nothing_traced"),
        "msg/s",
    );
    Ok(())
}

/// Runs `body` as a driver process and waits for what it sends back.
fn drive<T: Send + 'static, Fut>(
    rt: &Runtime,
    body: impl FnOnce(Ctx) -> Fut + Send + 'static,
) -> Result<T, BenchError>
where
    Fut: std::future::Future<Output = Result<T, BenchError>> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    rt.spawn_with(
        SpawnOpts::new().label("bench driver"),
        move |ctx| async move {
            let out = body(ctx).await;
            let _ = tx.send(out);
        },
    )
    .map_err(|e| BenchError::new(format!("could not spawn the bench driver: {e}")))?;
    match rx.recv_timeout(WORKLOAD_LIMIT) {
        Ok(out) => out,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(BenchError::new(format!(
            "a workload did not finish within {} s",
            WORKLOAD_LIMIT.as_secs()
        ))),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            Err(BenchError::new("the bench driver exited without a result"))
        }
    }
}

/// The longest one workload may take before the benchmark gives up with an error.
const WORKLOAD_LIMIT: Duration = Duration::from_secs(600);

/// Spawns a workload process, or says why it could not.
fn spawned<E: std::fmt::Display>(r: Result<Pid, E>) -> Result<Pid, BenchError> {
    r.map_err(|e| BenchError::new(format!("spawn: {e}")))
}

/// Waits until no task is queued: every spawned process has run up to its first wait.
async fn settle(ctx: &Ctx) {
    while ctx.handle().run_queue_len() > 0 {
        yield_now().await;
    }
}

fn spawn_idle(rt: &Runtime, n: usize) -> Result<Vec<Figure>, BenchError> {
    drive(rt, move |ctx| async move {
        let m0 = live_bytes().unwrap_or(0);
        let r0 = rss_bytes().unwrap_or(0);
        let t0 = Instant::now();
        let mut pids = Vec::with_capacity(n);
        for i in 0..n {
            let pid = spawned(ctx.spawn(|c| async move {
                c.recv().await;
            }))?;
            pids.push(pid);
            if i.is_multiple_of(YIELD_EVERY) {
                yield_now().await;
            }
        }
        settle(&ctx).await;
        let spawn_time = t0.elapsed();
        let m1 = live_bytes().unwrap_or(0);
        let r1 = rss_bytes().unwrap_or(0);
        for &p in &pids {
            ctx.monitor(p);
        }
        let t2 = Instant::now();
        for (i, &p) in pids.iter().enumerate() {
            let _ = ctx.send(p, Stop);
            if i.is_multiple_of(YIELD_EVERY) {
                yield_now().await;
            }
        }
        let mut down = 0;
        while down < n {
            if ctx.recv().await.is::<Down>() {
                down += 1;
            }
        }
        let stop_time = t2.elapsed();
        // RSS first: the allocator's counter omits the allocator's size-class rounding.
        Ok(vec![
            Figure::new(
                "spawn_idle.rate",
                n as f64 / spawn_time.as_secs_f64(),
                "proc/s",
            ),
            Figure::new(
                "spawn_idle.rss_per_process",
                r1.saturating_sub(r0) as f64 / n as f64,
                "B",
            ),
            Figure::new(
                "spawn_idle.bytes_per_process",
                m1.saturating_sub(m0) as f64 / n as f64,
                "B",
            ),
            Figure::new("spawn_idle.stop_all", stop_time.as_secs_f64() * 1e3, "ms"),
        ])
    })
}

fn spawn_exit(rt: &Runtime, n: usize) -> Result<Figure, BenchError> {
    drive(rt, move |ctx| async move {
        let me = ctx.pid();
        let t0 = Instant::now();
        for i in 0..n {
            spawned(ctx.spawn(move |c| async move {
                let _ = c.send(me, Done);
            }))?;
            if i.is_multiple_of(YIELD_EVERY) {
                yield_now().await;
            }
        }
        let mut got = 0;
        while got < n {
            if ctx.recv().await.is::<Done>() {
                got += 1;
            }
        }
        Ok(Figure::new(
            "spawn_exit.rate",
            n as f64 / t0.elapsed().as_secs_f64(),
            "proc/s",
        ))
    })
}

fn ring(rt: &Runtime, procs: usize, hops: u64) -> Result<Figure, BenchError> {
    drive(rt, move |ctx| async move {
        let mut next = ctx.pid();
        for _ in 0..procs.saturating_sub(1) {
            let to = next;
            next = spawned(ctx.spawn(move |c| async move {
                loop {
                    let msg = c.recv().await;
                    match msg.downcast::<Token>() {
                        Ok(Token(k)) => {
                            let _ = c.send(to, Token(k.saturating_sub(1)));
                        }
                        Err(_) => {
                            let _ = c.send(to, Stop);
                            return;
                        }
                    }
                }
            }))?;
        }
        let first = next;
        // The clock starts right after spawning, as the peer's does: the ring's processes need
        // not have run yet.
        let t0 = Instant::now();
        let _ = ctx.send(first, Token(hops - 1));
        loop {
            if let Ok(Token(k)) = ctx.recv().await.downcast::<Token>() {
                if k == 0 {
                    break;
                }
                let _ = ctx.send(first, Token(k - 1));
            }
        }
        let took = t0.elapsed();
        let _ = ctx.send(first, Stop);
        // The stop message comes round to us; wait for it so the ring is gone before the next
        // workload.
        ctx.recv_match(|m| m.is::<Stop>()).await;
        Ok(Figure::new(
            "ring.msgs_per_s",
            hops as f64 / took.as_secs_f64(),
            "msg/s",
        ))
    })
}

fn fanout(rt: &Runtime, subs: usize) -> Result<Figure, BenchError> {
    drive(rt, move |ctx| async move {
        let mut pids = Vec::with_capacity(subs);
        for i in 0..subs {
            pids.push(spawned(ctx.spawn(|c| async move {
                if let Ok(Fan(from)) = c.recv().await.downcast::<Fan>() {
                    let _ = c.send(from, Ack);
                }
            }))?);
            if i.is_multiple_of(YIELD_EVERY) {
                yield_now().await;
            }
        }
        // The clock starts right after spawning, as the peer's does: subscribers still queued
        // to run for the first time are part of the time measured.
        let me = ctx.pid();
        let t0 = Instant::now();
        for &p in &pids {
            let _ = ctx.send(p, Fan(me));
        }
        let mut acks = 0;
        while acks < subs {
            if ctx.recv().await.is::<Ack>() {
                acks += 1;
            }
        }
        Ok(Figure::new(
            "fanout.deliver_all",
            t0.elapsed().as_secs_f64() * 1e3,
            "ms",
        ))
    })
}

fn restart(rt: &Runtime, kills: usize) -> Result<Figure, BenchError> {
    let spec = SupervisorSpec::new(
        Strategy::OneForOne,
        Intensity::new(kills as u32 * 2, Duration::from_secs(5)),
    )
    .child(
        ChildSpec::worker("peer_worker", |ctx| async move {
            ctx.recv().await;
        })
        .name("peer_worker")
        .shutdown(Shutdown::BrutalKill),
    );
    let sup = supervisor::start(rt, SpawnOpts::new().label("bench supervisor"), spec)
        .map_err(|e| BenchError::new(format!("could not start the bench supervisor: {e}")))?;
    let figure = drive(rt, move |ctx| async move {
        let h = ctx.handle().clone();
        let t0 = Instant::now();
        for _ in 0..kills {
            let old = wait_registered(&h, None).await;
            h.kill(old).map_err(|e| {
                BenchError::new(format!("the registered worker could not be killed: {e}"))
            })?;
            wait_registered(&h, Some(old)).await;
        }
        Ok(Figure::new(
            "restart.mean",
            t0.elapsed().as_secs_f64() * 1e6 / kills as f64,
            "us",
        ))
    });
    let _ = rt.exit(sup, ExitReason::Shutdown);
    figure
}

async fn wait_registered(h: &Handle, old: Option<Pid>) -> Pid {
    loop {
        match h.whereis("peer_worker") {
            Some(p) if Some(p) != old => return p,
            _ => yield_now().await,
        }
    }
}
