//! The leak: a spawner that starts processes nobody ever stops, all under a dynamic supervisor
//! labelled "leak", so stopping that supervisor cleans every one of them up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FaultError;
use super::figures::{Counted, Figures};
use crate::dynamic_supervisor::{self, DynamicSpec};
use crate::supervisor::{ChildSpec, Intensity, Restart, Shutdown};
use crate::{Ctx, Handle, Pid, SpawnOpts};

/// Processes leaked per second.
pub const LEAK_PER_SECOND: usize = 1_000;
/// The leak stops adding at this many live processes.
pub const LEAK_LIMIT: usize = 100_000;
/// How often the spawner wakes to start its next batch.
const TICK: Duration = Duration::from_millis(10);
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) fn start(handle: &Handle, figures: &Arc<Figures>) -> Result<Pid, FaultError> {
    let sup = dynamic_supervisor::start(
        handle,
        SpawnOpts::new().label("leak"),
        DynamicSpec::new(Intensity::elixir()).max_children(LEAK_LIMIT + 1),
    )
    .map_err(|e| FaultError::Runtime(e.to_string()))?;
    let f = figures.clone();
    let spawner = ChildSpec::worker("leak spawner", move |ctx| spawn_forever(ctx, f.clone()))
        .restart(Restart::Temporary)
        .shutdown(Shutdown::BrutalKill);
    let started = handle.block_on(dynamic_supervisor::start_child(
        handle,
        sup,
        spawner,
        CALL_TIMEOUT,
    ));
    match started {
        Ok(Ok(_)) => Ok(sup),
        other => {
            let _ = handle.kill(sup);
            Err(FaultError::Runtime(format!(
                "could not start the leak spawner: {other:?}"
            )))
        }
    }
}

/// Starts [`LEAK_PER_SECOND`] processes a second under its supervisor, up to [`LEAK_LIMIT`].
async fn spawn_forever(ctx: Ctx, figures: Arc<Figures>) {
    let Some(sup) = ctx.parent() else { return };
    let per_tick = (LEAK_PER_SECOND as u128 * TICK.as_millis() / 1_000).max(1) as usize;
    let mut next = Instant::now();
    loop {
        next = (next + TICK).max(Instant::now());
        async_io::Timer::at(next).await;
        for _ in 0..per_tick {
            if figures.leaked.load(Ordering::Relaxed) >= LEAK_LIMIT {
                break;
            }
            let started =
                dynamic_supervisor::start_child(ctx.handle(), sup, leaked(&figures), CALL_TIMEOUT)
                    .await;
            if !matches!(started, Ok(Ok(_))) {
                return;
            }
        }
    }
}

/// One leaked process: it waits for a message that never comes.
fn leaked(figures: &Arc<Figures>) -> ChildSpec {
    let f = figures.clone();
    ChildSpec::worker("leaked", move |ctx| {
        let f = f.clone();
        async move { wait_forever(ctx, f).await }
    })
    .restart(Restart::Temporary)
    .shutdown(Shutdown::BrutalKill)
}

/// Counts itself among the leaked and waits for a message that never comes.
async fn wait_forever(ctx: Ctx, figures: Arc<Figures>) {
    let _alive = Counted::new(&figures.leaked);
    loop {
        ctx.recv().await;
    }
}
