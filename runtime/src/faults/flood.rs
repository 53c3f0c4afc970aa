//! The mailbox flood: a producer ("flood producer") that sends far faster than its consumer
//! ("flood consumer") takes, so the consumer's mailbox grows, under a supervisor labelled
//! "mailbox flood". The producer holds off at [`FLOOD_LIMIT`] queued messages or
//! [`FLOOD_BYTES`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FaultError;
use super::figures::{mailbox, pid_in, Figures, PidSlot};
use crate::supervisor::{self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec};
use crate::{Ctx, Handle, Pid, SpawnOpts};

/// The most messages the producer lets wait in the consumer's mailbox.
pub const FLOOD_LIMIT: usize = 1_000_000;
/// The most bytes the producer lets wait in the consumer's mailbox.
pub const FLOOD_BYTES: usize = 256 << 20;
/// Messages the producer sends per second (while under the limits).
pub const FLOOD_PER_SECOND: usize = 100_000;
/// How long the consumer takes over each message.
const CONSUME_EVERY: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_millis(10);

/// One message of the flood: a little payload, so the queue shows in memory too.
#[derive(Debug)]
struct Flood(#[allow(dead_code)] [u8; 200]);

pub(super) fn start(handle: &Handle, figures: &Arc<Figures>) -> Result<Pid, FaultError> {
    let f = figures.clone();
    let consumer = ChildSpec::worker("flood consumer", move |ctx| consume(ctx, f.clone()))
        .shutdown(Shutdown::BrutalKill);
    let f = figures.clone();
    let producer = ChildSpec::worker("flood producer", move |ctx| produce(ctx, f.clone()))
        .shutdown(Shutdown::BrutalKill);
    supervisor::start(
        handle,
        SpawnOpts::new().label("mailbox flood"),
        SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir())
            .child(consumer)
            .child(producer),
    )
    .map_err(|e| FaultError::Runtime(e.to_string()))
}

/// Takes one message at a time, slowly.
async fn consume(ctx: Ctx, figures: Arc<Figures>) {
    let _slot = PidSlot::set(&figures.flood_consumer, ctx.pid());
    loop {
        ctx.recv().await;
        async_io::Timer::after(CONSUME_EVERY).await;
    }
}

/// Sends [`FLOOD_PER_SECOND`] to the consumer while its mailbox is under the limits.
async fn produce(ctx: Ctx, figures: Arc<Figures>) {
    let per_tick = (FLOOD_PER_SECOND as u128 * TICK.as_millis() / 1_000).max(1) as usize;
    let mut next = Instant::now();
    loop {
        next = (next + TICK).max(Instant::now());
        async_io::Timer::at(next).await;
        let Some(consumer) = pid_in(&figures.flood_consumer) else {
            continue;
        };
        let (queued, bytes) = mailbox(ctx.handle(), consumer);
        if queued >= FLOOD_LIMIT || bytes >= FLOOD_BYTES {
            continue;
        }
        for _ in 0..per_tick.min(FLOOD_LIMIT - queued) {
            if ctx.send(consumer, Flood([7; 200])).is_err() {
                break;
            }
        }
    }
}
