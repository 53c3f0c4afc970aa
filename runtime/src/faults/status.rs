//! [`FaultStatus`]: what is on, with the live figures that show each fault, as the app and
//! lessons read it.

use std::sync::atomic::{AtomicU64, Ordering};

use super::chaos::ChaosReport;
use super::figures::{mailbox, pid_in, Figures};
use super::kind::FaultKind;
use crate::{Handle, Pid};

/// What is on, with the figures that show each fault.
#[derive(Clone, Debug)]
pub struct FaultStatus {
    pub on: Vec<FaultKind>,
    /// Live processes the leak has started.
    pub leaked: usize,
    /// Messages waiting in the flood consumer's mailbox.
    pub flood_queue: usize,
    /// Messages waiting (never to be matched) in the unmatched process's mailbox.
    pub unmatched_queue: usize,
    /// Bytes the hoarder's state holds.
    pub state_bytes: usize,
    /// The busy loop, while it runs.
    pub busy_loop: Option<Pid>,
    /// The running chaos, or the last one.
    pub chaos: Option<ChaosReport>,
}

pub(super) fn read(
    handle: &Handle,
    figures: &Figures,
    on: Vec<FaultKind>,
    chaos: Option<ChaosReport>,
) -> FaultStatus {
    let queue = |slot: &AtomicU64| pid_in(slot).map_or(0, |p| mailbox(handle, p).0);
    FaultStatus {
        on,
        leaked: figures.leaked.load(Ordering::Relaxed),
        flood_queue: queue(&figures.flood_consumer),
        unmatched_queue: queue(&figures.unmatched),
        state_bytes: figures.state_bytes.load(Ordering::Relaxed),
        busy_loop: pid_in(&figures.busy_loop),
        chaos,
    }
}
