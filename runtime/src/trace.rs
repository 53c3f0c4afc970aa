//! Bounded traces, in the spirit of `:erlang.trace/3` used carefully (as `recon_trace` does):
//! the messages in and out, spawns, links and exits of up to [`TRACE_MAX_PIDS`] processes,
//! switched off by the trace itself after `max_events` events or `max_time`, whichever comes
//! first. A process that is not traced pays one relaxed atomic load per send.

pub(crate) mod event;
pub(crate) mod tracer;

use std::sync::Arc;
use std::time::Duration;

use crate::trace::tracer::{StartError, TraceState};
use crate::{Handle, Pid};

pub use event::{TraceEnd, TraceEvent, TraceWhat, TRACE_TEXT_MAX};

/// The most processes one trace may follow.
pub const TRACE_MAX_PIDS: usize = 8;

/// What to trace and for how long.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceSpec {
    pub pids: Vec<Pid>,
    /// The trace stops after this many events (default 50).
    pub max_events: usize,
    /// The trace stops after this long (default 1 s).
    pub max_time: Duration,
}

impl Default for TraceSpec {
    fn default() -> TraceSpec {
        TraceSpec {
            pids: Vec::new(),
            max_events: 50,
            max_time: Duration::from_secs(1),
        }
    }
}

impl TraceSpec {
    /// The default bounds (50 events, 1 s) on `pids`.
    pub fn of(pids: Vec<Pid>) -> TraceSpec {
        TraceSpec {
            pids,
            ..TraceSpec::default()
        }
    }
}

/// Why a trace could not start.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    #[error("no process {0}")]
    NoProc(Pid),
    #[error("nothing to trace: no pids given")]
    Empty,
    #[error("too many processes: a trace follows at most {TRACE_MAX_PIDS}")]
    TooMany,
    #[error("{0} is already being traced")]
    Busy(Pid),
}

/// A running or finished trace. Cheap to clone; every clone sees the same events.
#[derive(Clone)]
pub struct Trace {
    state: Arc<TraceState>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("pids", &self.state.pids)
            .field("ended", &self.ended())
            .finish()
    }
}

impl Trace {
    /// The events recorded so far, in order.
    pub fn events(&self) -> Vec<TraceEvent> {
        self.state.events()
    }

    /// How the trace ended; `None` while it is still recording.
    pub fn ended(&self) -> Option<TraceEnd> {
        self.state.end()
    }

    /// Stops the trace now (ends it with [`TraceEnd::Stopped`] unless it had ended already).
    pub fn stop(&self) {
        self.state.finish(TraceEnd::Stopped);
    }

    /// Waits up to `timeout` for the trace to end, and says how it ended.
    pub fn wait(&self, timeout: Duration) -> Option<TraceEnd> {
        self.state.wait(timeout)
    }

    /// The traced processes.
    pub fn pids(&self) -> &[Pid] {
        &self.state.pids
    }

    /// The count bound it was started with.
    pub fn max_events(&self) -> usize {
        self.state.max_events
    }

    /// The time bound it was started with.
    pub fn max_time(&self) -> Duration {
        self.state.max_time
    }
}

impl Handle {
    /// Starts a bounded trace of `spec.pids` (at most [`TRACE_MAX_PIDS`], each alive and not
    /// traced already).
    pub fn trace(&self, spec: TraceSpec) -> Result<Trace, TraceError> {
        let mut pids = spec.pids;
        let mut seen = Vec::with_capacity(pids.len());
        pids.retain(|p| {
            let new = !seen.contains(p);
            seen.push(*p);
            new
        });
        if pids.is_empty() {
            return Err(TraceError::Empty);
        }
        if pids.len() > TRACE_MAX_PIDS {
            return Err(TraceError::TooMany);
        }
        let mut targets = Vec::with_capacity(pids.len());
        for pid in pids {
            targets.push(self.0.table.get(pid).ok_or(TraceError::NoProc(pid))?);
        }
        let state = self
            .0
            .tracers
            .start(targets, spec.max_events, spec.max_time)
            .map_err(|e| match e {
                StartError::NoProc(p) => TraceError::NoProc(p),
                StartError::Busy(p) => TraceError::Busy(p),
            })?;
        Ok(Trace { state })
    }
}
