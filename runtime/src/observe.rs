//! The read side of the runtime: what the GUI, lessons and tests look at.
//!
//! - [`ProcessRow`] snapshots of the whole process table, cheap enough for every frame;
//! - [`ProcessInfo`] for one process (state as text, first messages, links, monitors, history);
//! - the bounded [`events`] stream (spawns, exits, links, monitors, restarts, escalations);
//! - [`RuntimeMetrics`] counters and the [`MetricsSampler`] that turns them into rates.

pub mod events;
mod info;
pub(crate) mod metrics;
mod snapshot;

pub use events::{Event, EventKind, EventReader, SignalOutcome};
pub use info::ProcessInfo;
pub use metrics::{LongPoll, MetricsSampler, RuntimeMetrics, RuntimeRates, TableSizes};
pub use snapshot::ProcessRow;

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::timeout::with_timeout;
use crate::{Handle, Pid, Status};

impl Handle {
    /// Number of live processes.
    pub fn process_count(&self) -> usize {
        self.0.table.len()
    }

    /// One row per live process, in no particular order.
    pub fn process_table(&self) -> Vec<ProcessRow> {
        let mut rows = Vec::new();
        self.process_table_into(&mut rows);
        rows
    }

    /// Like [`process_table`](Self::process_table), reusing `rows`' allocation.
    pub fn process_table_into(&self, rows: &mut Vec<ProcessRow>) {
        rows.clear();
        let now = self.0.now().as_nanos() as u64;
        let hogs = self.0.executor.hogs();
        let poll_now = self.0.executor.now_ns();
        self.0
            .table
            .for_each(|p| rows.push(ProcessRow::read(p, now, poll_now, &hogs)));
    }

    /// A detailed look at one process; also asks it to render its state afresh.
    pub fn process_info(&self, pid: Pid) -> Option<ProcessInfo> {
        // A process on its way out (not alive, still in the table) is told by its tombstone.
        if let Some(inner) = self.0.table.get(pid).filter(|p| p.state.lock().alive) {
            let now = self.0.now().as_nanos() as u64;
            let poll_now = self.0.executor.now_ns();
            let row = ProcessRow::read(&inner, now, poll_now, &self.0.executor.hogs());
            let info = ProcessInfo::read(&inner, row);
            self.request_state(pid);
            return Some(info);
        }
        let t = self.0.tombstones.find(pid)?;
        Some(ProcessInfo {
            pid,
            name: None,
            label: t.label,
            kind: t.kind,
            parent: t.parent,
            status: Status::Exited,
            row: None,
            state: None,
            mailbox_head: Vec::new(),
            mailbox_len: 0,
            links: Vec::new(),
            monitors: Vec::new(),
            monitored_by: Vec::new(),
            trap_exit: false,
            subscriptions: Vec::new(),
            last_exit: Some(t.reason),
            restarts: 0,
            restart_history: Vec::new(),
            busy: Duration::ZERO,
            polls: 0,
            busy_total: Duration::ZERO,
            polls_total: 0,
        })
    }

    /// Asks `pid` to render its state for the inspector at its next chance.
    pub fn request_state(&self, pid: Pid) -> bool {
        let Some(inner) = self.0.table.get(pid) else {
            return false;
        };
        let mut st = inner.state.lock();
        if !st.alive {
            return false;
        }
        st.extra().state_requested = true;
        st.wake();
        true
    }

    /// Asks `pid` to render its state and waits (up to `timeout`) until it has: the process
    /// tells this waiter when it publishes (no polling).
    pub async fn fresh_state(&self, pid: Pid, timeout: Duration) -> Option<String> {
        let published = {
            let inner = self.0.table.get(pid)?;
            let mut st = inner.state.lock();
            if !st.alive {
                return None;
            }
            let (tx, rx) = futures_channel::oneshot::channel();
            st.extra().state_waiters.push(tx);
            rx
        };
        self.request_state(pid);
        match with_timeout(timeout, published).await {
            Some(Ok(())) => self.process_info(pid).and_then(|i| i.state),
            _ => None,
        }
    }

    /// The sequence number the next event will get: cheap, for "did anything happen?".
    pub fn events_head(&self) -> u64 {
        self.0.events.head()
    }

    /// A reader of the event stream, starting at the next event.
    pub fn events(&self) -> EventReader {
        EventReader::new(self.0.events.head())
    }

    /// A reader of the event stream, starting at the oldest event still kept.
    pub fn events_from_start(&self) -> EventReader {
        EventReader::new(0)
    }

    /// Up to `max` events after the reader's position.
    pub fn read_events(&self, reader: &mut EventReader, max: usize) -> Vec<Event> {
        reader.read_from(&self.0.events, max)
    }

    /// The runtime's counters right now.
    pub fn metrics(&self) -> RuntimeMetrics {
        let mut process_count = 0;
        let mut total_memory = 0;
        self.0.table.for_each(|p| {
            process_count += 1;
            total_memory += p.memory(&p.state.lock());
        });
        let ex = &self.0.executor;
        RuntimeMetrics {
            process_count,
            total_memory,
            messages_total: ex.messages_total(),
            worker_busy_ns: ex
                .worker_stats()
                .map(|s| s.busy_ns.load(Ordering::Relaxed))
                .collect(),
            worker_polls: ex
                .worker_stats()
                .map(|s| s.polls.load(Ordering::Relaxed))
                .collect(),
            run_queue: ex.run_queue_len(),
            long_polls_total: self.0.long_polls_total.load(Ordering::Relaxed),
            recent_long_polls: self.0.long_polls.lock().iter().cloned().collect(),
            not_yielding: ex.hogs().into_iter().map(|(p, d)| (Pid(p), d)).collect(),
            events_recorded: self.0.events.head(),
            restarts_total: self.0.restarts_total.load(Ordering::Relaxed),
            uptime: self.0.now(),
        }
    }

    /// Sizes of the runtime's tables (for leak checks).
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            processes: self.0.table.len(),
            names: self.0.registry.len(),
            subscriptions: self.0.pubsub.len(),
            timers: self.0.timers.len(),
        }
    }

    /// Number of tasks waiting for a worker thread.
    pub fn run_queue_len(&self) -> usize {
        self.0.executor.run_queue_len()
    }
}
