//! The runtime workloads, on a runtime configured as the app configures it (introspection and
//! the event stream on, 2 worker threads): idle spawn (rate, memory, stop), spawn-and-exit, a
//! ring, a fan-out and supervisor restarts.
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
use crashcourse_runtime::{Ctx, Down, ExitReason, Handle, Pid, Runtime, RuntimeConfig, SpawnOpts};

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
/// first workload that fails.
pub fn run(sizes: Sizes, mut report: impl FnMut(Figure)) -> Result<(), BenchError> {
    let rt = Runtime::start(RuntimeConfig::default());
    for f in spawn_idle(&rt, sizes.spawn)? {
        report(f);
    }
    report(spawn_exit(&rt, sizes.spawn)?);
    report(ring(&rt, sizes.ring_procs, sizes.ring_hops)?);
    report(fanout(&rt, sizes.fanout)?);
    report(restart(&rt, sizes.restarts)?);
    drop(rt);
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
