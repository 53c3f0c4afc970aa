//! The state every handle and process of one runtime shares: executor, tables, event stream,
//! clock and counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::executor::{Executor, LongPollReport};
use crate::observe::events::EventBus;
use crate::observe::events::EventKind;
use crate::observe::metrics::LongPoll;
use crate::process::tombstones::Tombstones;
use crate::pubsub::topics::PubSub;
use crate::registry::names::Registry;
use crate::table::ProcessTable;
use crate::timer::timers::Timers;
use crate::trace::tracer::Tracers;
use crate::{Clock, ExitReason, Pid};

/// The state every handle and process shares.
pub(crate) struct Shared {
    pub(crate) executor: Executor,
    pub(crate) table: ProcessTable,
    pub(crate) registry: Registry,
    pub(crate) pubsub: PubSub,
    pub(crate) timers: Timers,
    pub(crate) events: EventBus,
    pub(crate) tombstones: Tombstones,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) started: Instant,
    pub(crate) next_pid: AtomicU64,
    pub(crate) next_ref: AtomicU64,
    pub(crate) shutting_down: AtomicBool,
    pub(crate) long_polls: Mutex<std::collections::VecDeque<LongPoll>>,
    pub(crate) long_polls_total: AtomicU64,
    pub(crate) restarts_total: AtomicU64,
    /// Running traces, by traced pid.
    pub(crate) tracers: Arc<Tracers>,
    /// Record each poll in the process's busy window ([`crate::RuntimeConfig::busy_accounting`]).
    pub(crate) busy_accounting: bool,
}

const LONG_POLL_HISTORY: usize = 64;

impl Shared {
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Real time since the runtime started (for ages and event times).
    pub(crate) fn now(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counts a restart by supervisor `sup` and records its event.
    pub(crate) fn record_restart(
        &self,
        sup: Pid,
        child: Arc<str>,
        old: Pid,
        new: Pid,
        reason: ExitReason,
    ) {
        self.restarts_total.fetch_add(1, Ordering::Relaxed);
        self.events.push(
            sup,
            EventKind::Restarted {
                child,
                old,
                new,
                reason,
            },
        );
    }

    pub(crate) fn record_long_poll(&self, report: LongPollReport) {
        let pid = Pid(report.pid);
        let name = match self.table.get(pid) {
            Some(p) => {
                let extra_name = p.state.lock().extra.as_ref().and_then(|e| e.name.clone());
                p.label
                    .clone()
                    .or(extra_name)
                    .map_or_else(|| p.kind.name().to_string(), |s| s.to_string())
            }
            None => "(exited)".to_string(),
        };
        let at = self.now();
        self.long_polls_total.fetch_add(1, Ordering::Relaxed);
        {
            let mut recent = self.long_polls.lock();
            if recent.len() == LONG_POLL_HISTORY {
                recent.pop_front();
            }
            recent.push_back(LongPoll {
                pid,
                name,
                worker: report.worker,
                running_for: report.running_for,
                cpu: report.cpu,
                finished: report.finished,
                at,
            });
        }
        self.events.push_at(
            at,
            pid,
            EventKind::LongPoll {
                running_for: report.running_for,
                cpu: report.cpu,
                finished: report.finished,
            },
        );
    }
}
