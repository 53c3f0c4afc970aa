//! Unmatched messages: a process ("unmatched") whose selective receive waits for a message
//! that never comes, while a sender ("unmatched sender") keeps sending it others, which pile up
//! in its mailbox (and make every receive scan them all), under a supervisor labelled
//! "unmatched messages".

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FaultError;
use super::figures::{mailbox, pid_in, Figures, PidSlot};
use crate::supervisor::{self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec};
use crate::{Ctx, Handle, Pid, SpawnOpts};

/// The most messages left waiting: each receive scans them all, so more would burn the CPU.
pub const UNMATCHED_LIMIT: usize = 100_000;
/// Messages sent per second (while under the limit).
pub const UNMATCHED_PER_SECOND: usize = 2_000;
const TICK: Duration = Duration::from_millis(50);

/// What the receive waits for; nobody sends it.
#[derive(Debug)]
struct Wanted;

/// What it is sent instead.
#[derive(Debug)]
struct Unwanted(#[allow(dead_code)] u64);

pub(super) fn start(handle: &Handle, figures: &Arc<Figures>) -> Result<Pid, FaultError> {
    let f = figures.clone();
    let receiver = ChildSpec::worker("unmatched", move |ctx| receive(ctx, f.clone()))
        .shutdown(Shutdown::BrutalKill);
    let f = figures.clone();
    let sender = ChildSpec::worker("unmatched sender", move |ctx| send(ctx, f.clone()))
        .shutdown(Shutdown::BrutalKill);
    supervisor::start(
        handle,
        SpawnOpts::new().label("unmatched messages"),
        SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
            .child(receiver)
            .child(sender),
    )
    .map_err(|e| FaultError::Runtime(e.to_string()))
}

async fn receive(ctx: Ctx, figures: Arc<Figures>) {
    let _slot = PidSlot::set(&figures.unmatched, ctx.pid());
    loop {
        ctx.recv_match(|m| m.is::<Wanted>()).await;
    }
}

async fn send(ctx: Ctx, figures: Arc<Figures>) {
    let per_tick = (UNMATCHED_PER_SECOND as u128 * TICK.as_millis() / 1_000).max(1) as usize;
    let mut next = Instant::now();
    let mut n = 0u64;
    loop {
        next = (next + TICK).max(Instant::now());
        async_io::Timer::at(next).await;
        let Some(to) = pid_in(&figures.unmatched) else {
            continue;
        };
        let queued = mailbox(ctx.handle(), to).0;
        for _ in 0..per_tick.min(UNMATCHED_LIMIT.saturating_sub(queued)) {
            n += 1;
            if ctx.send(to, Unwanted(n)).is_err() {
                break;
            }
        }
    }
}
