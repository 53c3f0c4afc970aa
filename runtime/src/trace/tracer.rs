//! The recording side of traces: [`Tracers`], one per runtime (which traced pid belongs to
//! which trace), and [`TraceState`], one per trace (its events and how it ended).
//!
//! A process carries a `traced` flag; only when it is set does a send, spawn, link or exit
//! look here, so an untraced process pays one relaxed load. A trace switches itself off at its
//! bounds: the flags are cleared and the pids forgotten, under the map's lock so a new trace on
//! the same pid never has its flag cleared by an old one.
//!
//! Lock order: the map, then a process's state (starting a trace checks it is alive), or the
//! map, then a trace's record. Nothing here is called with a process's state locked.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::hash::IdMap;
use crate::process::record::ProcessInner;
use crate::trace::event::{TraceEnd, TraceEvent, TraceWhat};
use crate::{ExitReason, Pid};

/// Which trace each traced pid belongs to.
#[derive(Default)]
pub(crate) struct Tracers {
    map: Mutex<IdMap<Pid, Arc<TraceState>>>,
}

/// Why a trace could not start (see [`TraceError`](crate::TraceError)).
pub(crate) enum StartError {
    NoProc(Pid),
    Busy(Pid),
}

impl Tracers {
    /// Starts tracing `targets` (distinct, alive) with the given bounds.
    pub(crate) fn start(
        self: &Arc<Self>,
        targets: Vec<Arc<ProcessInner>>,
        max_events: usize,
        max_time: Duration,
    ) -> Result<Arc<TraceState>, StartError> {
        let state = Arc::new(TraceState {
            pids: targets.iter().map(|t| t.pid).collect(),
            targets: targets.iter().map(Arc::downgrade).collect(),
            max_events: max_events.max(1),
            max_time,
            started: Instant::now(),
            tracers: Arc::downgrade(self),
            rec: Mutex::new(Recorded::default()),
            ended: Condvar::new(),
        });
        let mut expired = Vec::new();
        {
            let mut map = self.map.lock();
            for t in &targets {
                if let Some(old) = map.get(&t.pid) {
                    if old.expired() {
                        expired.push(old.clone());
                    } else if old.rec.lock().end.is_none() {
                        return Err(StartError::Busy(t.pid));
                    }
                }
            }
            for t in &targets {
                if !t.state.lock().alive {
                    return Err(StartError::NoProc(t.pid));
                }
            }
            for t in &targets {
                map.insert(t.pid, state.clone());
                t.traced.store(true, Ordering::Relaxed);
            }
        }
        for old in expired {
            old.finish(TraceEnd::Time);
        }
        Ok(state)
    }

    /// The live trace `pid` belongs to, if any.
    fn of(&self, pid: Pid) -> Option<Arc<TraceState>> {
        self.map.lock().get(&pid).cloned()
    }

    /// Records `what` for traced process `pid` (call only when its flag is set).
    pub(crate) fn record(&self, pid: Pid, what: TraceWhat) {
        if let Some(state) = self.of(pid) {
            state.record(pid, what);
        }
    }

    /// Records the exit of traced process `pid`; the trace ends once all its pids are gone.
    pub(crate) fn exited(&self, pid: Pid, reason: ExitReason) {
        if let Some(state) = self.of(pid) {
            state.record(pid, TraceWhat::Exit { reason });
            let all_gone = {
                let mut rec = state.rec.lock();
                if !rec.exited.contains(&pid) {
                    rec.exited.push(pid);
                }
                rec.exited.len() == state.pids.len()
            };
            if all_gone {
                state.finish(TraceEnd::AllExited);
            }
            // An exited pid is never reused: forget it even if its trace goes on.
            let mut map = self.map.lock();
            if map.get(&pid).is_some_and(|s| Arc::ptr_eq(s, &state)) {
                map.remove(&pid);
            }
        }
    }
}

#[derive(Default)]
struct Recorded {
    events: Vec<TraceEvent>,
    end: Option<TraceEnd>,
    exited: Vec<Pid>,
}

/// One trace: its bounds, what it recorded, and how it ended.
pub(crate) struct TraceState {
    pub(crate) pids: Vec<Pid>,
    targets: Vec<Weak<ProcessInner>>,
    pub(crate) max_events: usize,
    pub(crate) max_time: Duration,
    started: Instant,
    tracers: Weak<Tracers>,
    rec: Mutex<Recorded>,
    ended: Condvar,
}

impl TraceState {
    /// Whether `max_time` has passed (the trace may not know it yet).
    fn expired(&self) -> bool {
        self.started.elapsed() >= self.max_time
    }

    fn record(self: &Arc<Self>, pid: Pid, what: TraceWhat) {
        let at = self.started.elapsed();
        if at >= self.max_time {
            self.finish(TraceEnd::Time);
            return;
        }
        let full = {
            let mut rec = self.rec.lock();
            if rec.end.is_some() {
                return;
            }
            rec.events.push(TraceEvent { at, pid, what });
            rec.events.len() >= self.max_events
        };
        if full {
            self.finish(TraceEnd::Count);
        }
    }

    /// The events so far.
    pub(crate) fn events(&self) -> Vec<TraceEvent> {
        self.rec.lock().events.clone()
    }

    /// How it ended; ends it with [`TraceEnd::Time`] first if its time is up.
    pub(crate) fn end(self: &Arc<Self>) -> Option<TraceEnd> {
        let end = self.rec.lock().end;
        if end.is_none() && self.expired() {
            self.finish(TraceEnd::Time);
            return self.rec.lock().end;
        }
        end
    }

    /// Waits up to `timeout` for the trace to end.
    pub(crate) fn wait(self: &Arc<Self>, timeout: Duration) -> Option<TraceEnd> {
        let deadline = Instant::now() + timeout;
        let time_up = self.started + self.max_time;
        loop {
            if let Some(end) = self.end() {
                return Some(end);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let mut rec = self.rec.lock();
            if rec.end.is_none() {
                // Wake at the time bound too, to end the trace then.
                let until = deadline.min(time_up.max(now + Duration::from_millis(1)));
                self.ended.wait_until(&mut rec, until);
            }
        }
    }

    /// Ends the trace (the first reason wins): no more events, flags cleared, pids forgotten.
    pub(crate) fn finish(self: &Arc<Self>, end: TraceEnd) {
        {
            let mut rec = self.rec.lock();
            if rec.end.is_some() {
                return;
            }
            rec.end = Some(end);
        }
        self.ended.notify_all();
        let Some(tracers) = self.tracers.upgrade() else {
            return;
        };
        let mut map = tracers.map.lock();
        for (pid, target) in self.pids.iter().zip(&self.targets) {
            if map.get(pid).is_some_and(|s| Arc::ptr_eq(s, self)) {
                map.remove(pid);
                if let Some(p) = target.upgrade() {
                    p.traced.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}
