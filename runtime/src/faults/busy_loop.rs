//! The busy loop: a process ("busy loop") that spins on its worker thread for [`SLICE`] of
//! wall-clock time, yields once, and spins again, under a supervisor labelled "busy loop
//! fault". The watchdog names it while a slice runs; since exit signals are taken between
//! polls, switching it off takes effect at the end of the current slice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::FaultError;
use super::figures::{Figures, PidSlot};
use crate::supervisor::{self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec};
use crate::{Ctx, Handle, Pid, SpawnOpts};

/// How long each slice spins before it yields once.
pub const SLICE: Duration = Duration::from_millis(200);

pub(super) fn start(handle: &Handle, figures: &Arc<Figures>) -> Result<Pid, FaultError> {
    let f = figures.clone();
    let busy = ChildSpec::worker("busy loop", move |ctx| spin(ctx, f.clone()))
        .shutdown(Shutdown::BrutalKill);
    supervisor::start(
        handle,
        SpawnOpts::new().label("busy loop fault"),
        SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir()).child(busy),
    )
    .map_err(|e| FaultError::Runtime(e.to_string()))
}

async fn spin(ctx: Ctx, figures: Arc<Figures>) {
    let _slot = PidSlot::set(&figures.busy_loop, ctx.pid());
    let mut x = 0u64;
    loop {
        let until = Instant::now() + SLICE;
        while Instant::now() < until {
            for _ in 0..1_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        futures_lite::future::yield_now().await;
    }
}
