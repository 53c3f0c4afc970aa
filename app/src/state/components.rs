//! The nouns of the view model: per-process components and the resources the panels read.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::{ProcessInfo, ProcessRow};
use crashcourse_runtime::{ExitReason, Kind, Pid, Status, SupervisorUse};

use super::Polling;

/// Which runtime process an entity stands for.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessId(pub Pid);

/// What a process is called and what it is.
#[derive(Component, Clone, Debug)]
pub struct Identity {
    /// The label, else the registered name, else the kind.
    pub label: Arc<str>,
    pub name: Option<Arc<str>>,
    pub kind: Kind,
}

impl Identity {
    /// The identity as a snapshot row shows it.
    pub fn from_row(row: &ProcessRow) -> Identity {
        Identity {
            label: row
                .label
                .clone()
                .or_else(|| row.name.clone())
                .unwrap_or_else(|| row.kind.name().into()),
            name: row.name.clone(),
            kind: row.kind,
        }
    }

    /// Whether `row` still shows this identity (checked without allocating).
    pub fn agrees_with(&self, row: &ProcessRow) -> bool {
        *self.label == *row.display_name() && self.name == row.name && self.kind == row.kind
    }

    /// Whether `needle` (already lower-case) occurs in the label, name, kind or pid.
    pub fn matches(&self, pid: Pid, needle: &str) -> bool {
        needle.is_empty()
            || self.label.to_lowercase().contains(needle)
            || self
                .name
                .as_deref()
                .is_some_and(|n| n.to_lowercase().contains(needle))
            || self.kind.name().contains(needle)
            || pid.to_string().contains(needle)
    }
}

/// The supervisor that owns a process, if any.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parentage {
    pub parent: Option<Pid>,
}

/// Where a process sits among its siblings: its supervisor's start order. A restarted child
/// takes over the place of the one it replaces, so the tree does not reshuffle on a crash.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct SiblingOrder(pub u64);

impl SiblingOrder {
    /// A process's own place: pids grow in spawn order.
    pub fn of(pid: Pid) -> SiblingOrder {
        SiblingOrder(pid.id())
    }
}

/// Alive (with what the scheduler last said), or gone and lingering for its exit animation.
#[derive(Component, Clone, Debug, PartialEq)]
pub enum ProcessStatus {
    Alive(Status),
    Exited {
        /// `None` when the exit was only noticed by its absence from a snapshot.
        reason: Option<ExitReason>,
        at: Instant,
    },
}

impl ProcessStatus {
    pub fn is_alive(&self) -> bool {
        matches!(self, ProcessStatus::Alive(_))
    }

    /// A short lower-case word for the table.
    pub fn describe(&self) -> String {
        match self {
            ProcessStatus::Alive(s) => s.name().to_string(),
            ProcessStatus::Exited {
                reason: Some(r), ..
            } => format!("exited: {r}"),
            ProcessStatus::Exited { reason: None, .. } => "exited".to_string(),
        }
    }
}

/// The counters of the last snapshot.
#[derive(Component, Clone, Debug, Default, PartialEq)]
pub struct Counters {
    pub mailbox_len: usize,
    pub messages_in: u64,
    pub messages_out: u64,
    pub memory: usize,
    pub restarts: u32,
    pub age: Duration,
    pub trap_exit: bool,
}

impl Counters {
    pub fn from_row(row: &ProcessRow) -> Counters {
        Counters {
            mailbox_len: row.mailbox_len,
            messages_in: row.messages_in,
            messages_out: row.messages_out,
            memory: row.memory,
            restarts: row.restarts,
            age: row.age,
            trap_exit: row.trap_exit,
        }
    }
}

/// A supervisor's restart intensity use ("n of max in period") and child count.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct SupervisorLoad(pub SupervisorUse);

/// Pid → entity, for events and commands that name a pid.
#[derive(Resource, Default, Debug)]
pub struct PidIndex(pub HashMap<Pid, Entity>);

/// The frame's time and which polls are due in it.
#[derive(Resource, Debug)]
pub struct FrameClock {
    pub now: Instant,
    polling: Polling,
    last_snapshot: Option<Instant>,
    last_metrics: Option<Instant>,
    pub snapshot_due: bool,
    pub metrics_due: bool,
}

impl FrameClock {
    pub fn new(now: Instant, polling: Polling) -> FrameClock {
        FrameClock {
            now,
            polling,
            last_snapshot: None,
            last_metrics: None,
            snapshot_due: false,
            metrics_due: false,
        }
    }

    /// Moves to `now` and decides which polls this frame makes.
    pub fn advance(&mut self, now: Instant) {
        fn due(last: &mut Option<Instant>, every: Duration, now: Instant) -> bool {
            let due = last.is_none_or(|t| now.saturating_duration_since(t) >= every);
            if due {
                *last = Some(now);
            }
            due
        }
        self.now = now;
        self.snapshot_due = due(&mut self.last_snapshot, self.polling.snapshot, now);
        self.metrics_due = due(&mut self.last_metrics, self.polling.metrics, now);
    }

    /// Makes the next frame take a snapshot whatever the interval (after a command).
    pub fn hurry_snapshot(&mut self) {
        self.last_snapshot = None;
    }

    pub fn snapshot_interval(&self) -> Duration {
        self.polling.snapshot
    }
}

/// Runtime-wide figures for the status bar.
#[derive(Resource, Debug, Default, Clone)]
pub struct RuntimeStats {
    pub process_count: usize,
    pub memory: usize,
    pub messages_per_sec: f64,
    /// Fraction of time each scheduler (worker thread) was busy.
    pub busy: Vec<f64>,
    pub run_queue: usize,
    pub not_yielding: usize,
    pub long_polls_total: u64,
    /// Events the view model lost by falling behind the stream.
    pub events_dropped: u64,
    /// The runtime has shut down: nothing more will happen.
    pub stopped: bool,
}

/// The process the inspector shows.
#[derive(Resource, Debug, Default, Clone, PartialEq, Eq)]
pub struct Selection {
    pub pid: Option<Pid>,
    /// Set when the selection followed a restart: (old pid, new pid).
    pub followed: Option<(Pid, Pid)>,
}

/// The last `process_info` of the selected process.
#[derive(Resource, Debug, Default)]
pub struct Inspected(pub Option<ProcessInfo>);

/// The app's top supervisor, and why it stopped if it did.
#[derive(Resource, Debug, Default)]
pub struct TopSupervisor {
    pub pid: Option<Pid>,
    pub label: String,
    pub stopped: Option<StopReport>,
    /// The last time it went over its restart intensity, as text (explains a `shutdown`).
    pub over_intensity: Option<String>,
}

/// What stopped and why.
#[derive(Debug, Clone, PartialEq)]
pub struct StopReport {
    pub pid: Pid,
    pub label: String,
    pub reason: Option<ExitReason>,
    /// A sentence on the cause beyond the reason (restart intensity).
    pub why: Option<String>,
}

/// Bumped whenever processes appear, go, or change in what the tree and table show, so
/// derived views (tree rows, sorted table) rebuild only then.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ViewGeneration(pub u64);

impl ViewGeneration {
    pub fn bump(&mut self) {
        self.0 += 1;
    }
}

/// A message for the learner about the last command (e.g. "no process <0.7.0>").
#[derive(Resource, Debug, Default)]
pub struct Notice(pub Option<(String, Instant)>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_matches_label_name_kind_or_pid_ignoring_case_of_the_label() {
        let identity = Identity {
            label: "Worker 1".into(),
            name: Some("ticker".into()),
            kind: Kind::Worker,
        };
        let pid = Pid::from_id(42);
        for needle in ["", "worker 1", "tick", "worker", "0.42"] {
            assert!(identity.matches(pid, needle), "{needle:?} should match");
        }
        assert!(!identity.matches(pid, "session"));
    }
}
