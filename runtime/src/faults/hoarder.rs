//! Unbounded state: a server ("hoarder") that adds to its state on every tick and never lets
//! go, under a supervisor labelled "unbounded state". Its memory figure climbs until
//! [`HOARD_LIMIT`]; stopping it frees all of it.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::error::FaultError;
use super::figures::Figures;
use crate::server::{Flow, ReplyTo, Server};
use crate::supervisor::{self, ChildSpec, Intensity, Shutdown, Strategy, SupervisorSpec};
use crate::{Ctx, ExitReason, Handle, Msg, Pid, SpawnOpts};

/// The hoarder stops growing at this many bytes.
pub const HOARD_LIMIT: usize = 256 << 20;
/// Bytes added per tick.
const CHUNK: usize = 128 << 10;
const TICK: Duration = Duration::from_millis(10);

#[derive(Debug)]
struct Grow;

struct Hoarder {
    chunks: Vec<Box<[u8]>>,
    bytes: usize,
    figures: Arc<Figures>,
}

impl Drop for Hoarder {
    fn drop(&mut self) {
        self.figures
            .state_bytes
            .fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl Server for Hoarder {
    type Call = ();
    type Reply = usize;
    type Cast = Infallible;

    fn init(&mut self, ctx: &Ctx) -> Result<(), ExitReason> {
        ctx.handle().send_after(ctx.pid(), TICK, Grow);
        Ok(())
    }

    /// Answers how many bytes it holds.
    fn handle_call(&mut self, _ctx: &Ctx, _: (), reply: ReplyTo<usize>) -> Flow {
        reply.send(self.bytes);
        Flow::Continue
    }

    fn handle_info(&mut self, ctx: &Ctx, msg: Msg) -> Flow {
        if msg.is::<Grow>() && self.bytes < HOARD_LIMIT {
            // Filled, not zeroed, so the pages are really taken.
            self.chunks.push(vec![0x5a; CHUNK].into_boxed_slice());
            self.bytes += CHUNK;
            self.figures.state_bytes.fetch_add(CHUNK, Ordering::Relaxed);
            if self.bytes < HOARD_LIMIT {
                ctx.handle().send_after(ctx.pid(), TICK, Grow);
            }
        }
        Flow::Continue
    }

    fn render_state(&self) -> String {
        format!(
            "{} chunks, {} bytes, never freed",
            self.chunks.len(),
            self.bytes
        )
    }

    fn state_size(&self) -> usize {
        self.bytes + self.chunks.capacity() * std::mem::size_of::<Box<[u8]>>()
    }
}

pub(super) fn start(handle: &Handle, figures: &Arc<Figures>) -> Result<Pid, FaultError> {
    let f = figures.clone();
    let hoarder = ChildSpec::server("hoarder", move || Hoarder {
        chunks: Vec::new(),
        bytes: 0,
        figures: f.clone(),
    })
    .shutdown(Shutdown::BrutalKill);
    supervisor::start(
        handle,
        SpawnOpts::new().label("unbounded state"),
        SupervisorSpec::new(Strategy::OneForOne, Intensity::elixir()).child(hoarder),
    )
    .map_err(|e| FaultError::Runtime(e.to_string()))
}
