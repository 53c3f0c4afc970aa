//! The runtime workloads of `shared/bench/README.md`, on a runtime configured as the app
//! configures it (introspection and the event stream on, 2 worker threads).
//!
//! Each workload is driven by a process, as `peer_bench.erl` drives them from an Erlang
//! process, and measured the way that script measures them.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_lite::future::yield_now;

use super::Figure;
use crate::alloc::{live_bytes, rss_bytes};
use crate::supervisor::{self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec};
use crate::{Ctx, Down, Pid, Runtime, RuntimeConfig, SpawnOpts};

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

/// Runs every workload, calling `report` with each figure as it is measured.
pub fn run(sizes: Sizes, mut report: impl FnMut(Figure)) {
    let rt = Runtime::start(RuntimeConfig::default());
    for f in spawn_idle(&rt, sizes.spawn) {
        report(f);
    }
    report(spawn_exit(&rt, sizes.spawn));
    report(ring(&rt, sizes.ring_procs, sizes.ring_hops));
    report(fanout(&rt, sizes.fanout));
    report(restart(&rt, sizes.restarts));
    drop(rt);
}

/// Runs `body` as a driver process and waits for what it sends back.
fn drive<T: Send + 'static, Fut>(rt: &Runtime, body: impl FnOnce(Ctx) -> Fut + Send + 'static) -> T
where
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    rt.spawn_with(
        SpawnOpts::new().label("bench driver"),
        move |ctx| async move {
            let out = body(ctx).await;
            let _ = tx.send(out);
        },
    )
    .expect("spawn the bench driver");
    rx.recv().expect("the bench driver crashed")
}

/// Waits until no task is queued: every spawned process has run up to its first wait.
async fn settle(ctx: &Ctx) {
    while ctx.handle().run_queue_len() > 0 {
        yield_now().await;
    }
}

fn spawn_idle(rt: &Runtime, n: usize) -> Vec<Figure> {
    drive(rt, move |ctx| async move {
        let m0 = live_bytes().unwrap_or(0);
        let r0 = rss_bytes().unwrap_or(0);
        let t0 = Instant::now();
        let mut pids = Vec::with_capacity(n);
        for i in 0..n {
            let pid = ctx
                .spawn(|c| async move {
                    c.recv().await;
                })
                .expect("spawn");
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
        vec![
            Figure::new(
                "spawn_idle.rate",
                n as f64 / spawn_time.as_secs_f64(),
                "proc/s",
            ),
            Figure::new(
                "spawn_idle.bytes_per_process",
                m1.saturating_sub(m0) as f64 / n as f64,
                "B",
            ),
            Figure::new(
                "spawn_idle.rss_per_process",
                r1.saturating_sub(r0) as f64 / n as f64,
                "B",
            ),
            Figure::new("spawn_idle.stop_all", stop_time.as_secs_f64() * 1e3, "ms"),
        ]
    })
}

fn spawn_exit(rt: &Runtime, n: usize) -> Figure {
    drive(rt, move |ctx| async move {
        let me = ctx.pid();
        let t0 = Instant::now();
        for i in 0..n {
            ctx.spawn(move |c| async move {
                let _ = c.send(me, Done);
            })
            .expect("spawn");
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
        Figure::new(
            "spawn_exit.rate",
            n as f64 / t0.elapsed().as_secs_f64(),
            "proc/s",
        )
    })
}

fn ring(rt: &Runtime, procs: usize, hops: u64) -> Figure {
    drive(rt, move |ctx| async move {
        let mut next = ctx.pid();
        for _ in 0..procs.saturating_sub(1) {
            let to = next;
            next = ctx
                .spawn(move |c| async move {
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
                })
                .expect("spawn");
        }
        let first = next;
        settle(&ctx).await;
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
        Figure::new("ring.msgs_per_s", hops as f64 / took.as_secs_f64(), "msg/s")
    })
}

fn fanout(rt: &Runtime, subs: usize) -> Figure {
    drive(rt, move |ctx| async move {
        let mut pids = Vec::with_capacity(subs);
        for i in 0..subs {
            pids.push(
                ctx.spawn(|c| async move {
                    if let Ok(Fan(from)) = c.recv().await.downcast::<Fan>() {
                        let _ = c.send(from, Ack);
                    }
                })
                .expect("spawn"),
            );
            if i.is_multiple_of(YIELD_EVERY) {
                yield_now().await;
            }
        }
        settle(&ctx).await;
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
        Figure::new("fanout.deliver_all", t0.elapsed().as_secs_f64() * 1e3, "ms")
    })
}

fn restart(rt: &Runtime, kills: usize) -> Figure {
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
        .expect("start the bench supervisor");
    let figure = drive(rt, move |ctx| async move {
        let h = ctx.handle().clone();
        let t0 = Instant::now();
        for _ in 0..kills {
            let old = wait_registered(&h, None).await;
            h.kill(old)
                .expect("a registered worker is in the process table");
            wait_registered(&h, Some(old)).await;
        }
        Figure::new(
            "restart.mean",
            t0.elapsed().as_secs_f64() * 1e6 / kills as f64,
            "us",
        )
    });
    let _ = rt.exit(sup, crate::ExitReason::Shutdown);
    figure
}

async fn wait_registered(h: &crate::Handle, old: Option<Pid>) -> Pid {
    loop {
        match h.whereis("peer_worker") {
            Some(p) if Some(p) != old => return p,
            _ => yield_now().await,
        }
    }
}
