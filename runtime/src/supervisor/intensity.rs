//! Restart intensity: at most so many restarts within a period, or the supervisor gives up and
//! the failure climbs to its own supervisor.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::observe::EventKind;
use crate::{Clock, Ctx, SupervisorUse};

/// At most `max_restarts` restarts within `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Intensity {
    pub max_restarts: u32,
    pub period: Duration,
}

impl Intensity {
    pub fn new(max_restarts: u32, period: Duration) -> Intensity {
        Intensity {
            max_restarts,
            period,
        }
    }

    /// Erlang/OTP's default: 1 restart in 5 seconds.
    pub fn otp() -> Intensity {
        Intensity::new(1, Duration::from_secs(5))
    }

    /// Elixir's default: 3 restarts in 5 seconds.
    pub fn elixir() -> Intensity {
        Intensity::new(3, Duration::from_secs(5))
    }
}

/// Tracks restarts within the intensity period.
pub(crate) struct RestartWindow {
    intensity: Intensity,
    clock: Arc<dyn Clock>,
    restarts: VecDeque<Duration>,
}

impl RestartWindow {
    pub(crate) fn new(intensity: Intensity, clock: Arc<dyn Clock>) -> RestartWindow {
        RestartWindow {
            intensity,
            clock,
            restarts: VecDeque::new(),
        }
    }

    /// Records one restart; true if that goes over the intensity.
    pub(crate) fn add(&mut self) -> bool {
        let now = self.clock.now();
        self.restarts.push_back(now);
        self.expire(now);
        self.restarts.len() as u32 > self.intensity.max_restarts
    }

    fn expire(&mut self, now: Duration) {
        while let Some(&t) = self.restarts.front() {
            if now.saturating_sub(t) >= self.intensity.period {
                self.restarts.pop_front();
            } else {
                break;
            }
        }
    }

    pub(crate) fn in_period(&mut self) -> u32 {
        self.expire(self.clock.now());
        self.restarts.len() as u32
    }

    pub(crate) fn intensity(&self) -> Intensity {
        self.intensity
    }

    pub(crate) fn now(&self) -> Duration {
        self.clock.now()
    }

    /// Shows the supervisor behind `ctx` with `children` and its restarts in the period to
    /// the inspector.
    pub(crate) fn publish_use(&mut self, ctx: &Ctx, children: usize) {
        let usage = SupervisorUse {
            restarts_in_period: self.in_period(),
            max_restarts: self.intensity.max_restarts,
            period: self.intensity.period,
            children,
        };
        ctx.inner.state.lock().extra().supervisor = Some(usage);
    }

    /// Records that the supervisor behind `ctx` went over its intensity and passes the
    /// failure on to its own supervisor.
    pub(crate) fn announce_escalation(&mut self, ctx: &Ctx) {
        let restarts = self.in_period();
        let events = &ctx.handle().0.events;
        events.push(
            ctx.pid(),
            EventKind::IntensityExceeded {
                restarts,
                max_restarts: self.intensity.max_restarts,
                period: self.intensity.period,
            },
        );
        events.push(ctx.pid(), EventKind::Escalated { to: ctx.parent() });
    }
}
