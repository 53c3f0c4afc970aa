//! What every virtual user of a run shares: the plan, the counters, and when sending ends.

use std::time::{Duration, Instant};

use smol::channel::Receiver;

use crate::plan::Plan;
use crate::stats::Stats;

/// After the drain, how long stuck users are given before the executor is dropped with them.
const GRACE: Duration = Duration::from_secs(2);

/// What every virtual user of a run shares.
pub(crate) struct Shared {
    pub plan: Plan,
    pub stats: Stats,
    pub started: Instant,
    /// No send starts after this.
    pub end: Instant,
    /// Closed (never sent on) when the run is stopped early.
    pub stop: Receiver<()>,
    /// The open model's schedule: each item is one send's scheduled time.
    pub jobs: Option<Receiver<Instant>>,
}

impl Shared {
    /// True once no new send may start.
    pub fn sending_over(&self) -> bool {
        Instant::now() >= self.end || self.stop.is_closed()
    }

    /// When replies still in flight stop being waited for, for a user that stops sending now.
    pub fn drain_end(&self) -> Instant {
        Instant::now().min(self.end) + self.plan.drain
    }

    /// No wait of any user lasts past this.
    pub fn hard_end(&self) -> Instant {
        self.end + self.plan.drain + GRACE
    }
}
