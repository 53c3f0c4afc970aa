//! Stopping children as their shutdown spec says, and waiting until they are gone: a monitor
//! per child, so a child that unlinked itself is seen to go as well.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_lite::future::poll_once;

use super::spec::Shutdown;
use crate::hash::IdSet;
use crate::{Ctx, Down, Exit, ExitReason, MonitorRef, Msg, Pid};

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

/// Waits for the exit of a child; true if it came within `limit`.
pub(crate) async fn wait_exit(ctx: &Ctx, pid: Pid, limit: Option<Duration>) -> bool {
    let deadline = limit.map(|l| Instant::now() + l);
    wait_exits(ctx, &mut std::iter::once(pid).collect(), deadline).await
}

/// Waits until every pid in `waiting` has exited, or `deadline`; true if all did. Takes each
/// one's exit message (if linked) and DOWN, so none is left in the mailbox. Linear in the
/// number of children when their exits arrive in a row.
pub(crate) async fn wait_exits(
    ctx: &Ctx,
    waiting: &mut IdSet<Pid>,
    deadline: Option<Instant>,
) -> bool {
    // A child already gone answers its monitor at once with `noproc`.
    let mut monitors: HashMap<Pid, MonitorRef> =
        waiting.iter().map(|&p| (p, ctx.monitor(p))).collect();
    while !waiting.is_empty() {
        let ours = |m: &Msg| {
            m.downcast_ref::<Exit>()
                .is_some_and(|e| waiting.contains(&e.from))
                || m.downcast_ref::<Down>()
                    .is_some_and(|d| monitors.get(&d.pid) == Some(&d.monitor))
        };
        let got = match deadline {
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                ctx.recv_match_timeout(left, ours).await
            }
            None => Some(ctx.recv_match(ours).await),
        };
        let Some(msg) = got else {
            break;
        };
        match msg.downcast::<Exit>() {
            Ok(exit) => {
                waiting.remove(&exit.from);
                if let Some(m) = monitors.remove(&exit.from) {
                    forget_monitor(ctx, m).await;
                }
            }
            Err(msg) => {
                if let Ok(down) = msg.downcast::<Down>() {
                    waiting.remove(&down.pid);
                    monitors.remove(&down.pid);
                    // A linked child's exit was delivered before its DOWN.
                    let from = down.pid;
                    let _ =
                        poll_once(ctx.recv_match(|m| {
                            m.downcast_ref::<Exit>().is_some_and(|e| e.from == from)
                        }))
                        .await;
                }
            }
        }
    }
    for (_, m) in monitors.drain() {
        forget_monitor(ctx, m).await;
    }
    waiting.is_empty()
}

/// Removes a monitor; if it has already fired, takes its DOWN (it is in the mailbox by then).
async fn forget_monitor(ctx: &Ctx, monitor: MonitorRef) {
    if !ctx.demonitor(monitor) {
        let _ = poll_once(ctx.recv_match(|m| {
            m.downcast_ref::<Down>()
                .is_some_and(|d| d.monitor == monitor)
        }))
        .await;
    }
}
