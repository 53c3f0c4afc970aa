//! The nouns of the view model: per-process components and the resources the panels read.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::{ProcessInfo, ProcessRow};
use crashcourse_runtime::{ExitReason, Kind, Pid, Status, SupervisorUse};

use super::Polling;

/// Hashes a pid (one `u64`) with one multiplication: pids are keys in maps of 100,000.
#[derive(Default, Clone, Copy)]
pub struct PidHasher(u64);

impl Hasher for PidHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map keyed by pid.
pub type PidMap<V> = HashMap<Pid, V, BuildHasherDefault<PidHasher>>;

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
    /// Label, name, kind and pid in lower case, for searches over 100,000 processes.
    haystack: Box<str>,
}

impl Identity {
    pub fn new(pid: Pid, label: Arc<str>, name: Option<Arc<str>>, kind: Kind) -> Identity {
        let haystack = format!(
            "{}\n{}\n{}\n{pid}",
            label.to_lowercase(),
            name.as_deref().unwrap_or("").to_lowercase(),
            kind.name()
        )
        .into_boxed_str();
        Identity {
            label,
            name,
            kind,
            haystack,
        }
    }

    /// The identity as a snapshot row shows it.
    pub fn from_row(row: &ProcessRow) -> Identity {
        Identity::new(
            row.pid,
            row.label
                .clone()
                .or_else(|| row.name.clone())
                .unwrap_or_else(|| row.kind.name().into()),
            row.name.clone(),
            row.kind,
        )
    }

    /// Whether `row` still shows this identity (checked without allocating).
    pub fn agrees_with(&self, row: &ProcessRow) -> bool {
        *self.label == *row.display_name() && self.name == row.name && self.kind == row.kind
    }

    /// Whether `needle` (already lower-case) occurs in the label, name, kind or pid.
    pub fn matches(&self, needle: &str) -> bool {
        needle.is_empty() || self.haystack.contains(needle)
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
    /// When it was spawned (its age is `now - born`), if a snapshot has said.
    pub born: Option<Instant>,
    pub trap_exit: bool,
    /// Time in polls over the runtime's busy window (the last 5 s).
    pub busy: Duration,
    /// Polls over the same window.
    pub polls: u64,
}

impl Counters {
    /// The counters of `row`, read from a snapshot taken at `taken_at`.
    pub fn from_row(row: &ProcessRow, taken_at: Instant) -> Counters {
        Counters {
            mailbox_len: row.mailbox_len,
            messages_in: row.messages_in,
            messages_out: row.messages_out,
            memory: row.memory,
            restarts: row.restarts,
            born: taken_at.checked_sub(row.age),
            trap_exit: row.trap_exit,
            busy: row.busy,
            polls: row.polls,
        }
    }

    /// How long the process has lived at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        self.born
            .map_or(Duration::ZERO, |b| now.saturating_duration_since(b))
    }
}

/// A supervisor's restart intensity use ("n of max in period") and child count.
#[derive(Component, Clone, Debug, PartialEq, Eq)]
pub struct SupervisorLoad(pub SupervisorUse);

/// Marks an exited process that stays in the view for its exit animation.
#[derive(Component, Clone, Copy, Debug, Default)]
#[component(storage = "SparseSet")]
pub struct Lingering;

/// Pid → entity, for events and commands that name a pid.
#[derive(Resource, Default, Debug)]
pub struct PidIndex(pub PidMap<Entity>);

/// The frame's time and which polls are due in it.
#[derive(Resource, Debug)]
pub struct FrameClock {
    pub now: Instant,
    polling: Polling,
    last_snapshot: Option<Instant>,
    pub snapshot_due: bool,
}

impl FrameClock {
    pub fn new(now: Instant, polling: Polling) -> FrameClock {
        FrameClock {
            now,
            polling,
            last_snapshot: None,
            snapshot_due: false,
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
    /// Children restarted by supervisors since the runtime started.
    pub restarts_total: u64,
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

/// The parts of the app that run under a top supervisor of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subsystem {
    /// The embedded chat server (its endpoint supervisor).
    Chat,
    /// The small demo tree for supervision-strategy experiments.
    Demo,
}

impl Subsystem {
    /// What the learner calls it.
    pub fn title(self) -> &'static str {
        match self {
            Subsystem::Chat => "chat server",
            Subsystem::Demo => "demo",
        }
    }
}

/// One top supervisor the app started, and why it stopped if it did.
#[derive(Debug, Clone)]
pub struct TopSupervisor {
    pub subsystem: Subsystem,
    pub pid: Option<Pid>,
    pub label: String,
    pub stopped: Option<StopReport>,
    /// The last time it went over its restart intensity, as text (explains a `shutdown`).
    pub over_intensity: Option<String>,
}

/// The app's top supervisors: nothing supervises them, so the app watches them.
#[derive(Resource, Debug, Default)]
pub struct TopSupervisors(pub Vec<TopSupervisor>);

impl TopSupervisors {
    pub fn get(&self, subsystem: Subsystem) -> Option<&TopSupervisor> {
        self.0.iter().find(|t| t.subsystem == subsystem)
    }

    /// The top supervisor whose pid is `pid`.
    pub fn by_pid_mut(&mut self, pid: Pid) -> Option<&mut TopSupervisor> {
        self.0.iter_mut().find(|t| t.pid == Some(pid))
    }

    /// Records that `subsystem` runs under `pid`.
    pub fn running(&mut self, subsystem: Subsystem, pid: Pid, label: &str) {
        self.set(TopSupervisor {
            subsystem,
            pid: Some(pid),
            label: label.to_string(),
            stopped: None,
            over_intensity: None,
        });
    }

    /// Records that `subsystem` could not be started, and why.
    pub fn failed(&mut self, subsystem: Subsystem, label: &str, why: String) {
        self.set(TopSupervisor {
            subsystem,
            pid: None,
            label: label.to_string(),
            stopped: Some(StopReport {
                pid: None,
                label: label.to_string(),
                reason: None,
                why: Some(why),
            }),
            over_intensity: None,
        });
    }

    fn set(&mut self, top: TopSupervisor) {
        match self.0.iter_mut().find(|t| t.subsystem == top.subsystem) {
            Some(slot) => *slot = top,
            None => self.0.push(top),
        }
    }

    /// The top supervisors that have stopped.
    pub fn stopped(&self) -> impl Iterator<Item = (&TopSupervisor, &StopReport)> {
        self.0
            .iter()
            .filter_map(|t| t.stopped.as_ref().map(|s| (t, s)))
    }
}

/// What stopped and why.
#[derive(Debug, Clone, PartialEq)]
pub struct StopReport {
    /// `None` when it never started.
    pub pid: Option<Pid>,
    pub label: String,
    pub reason: Option<ExitReason>,
    /// A sentence on the cause beyond the reason (restart intensity, a start error).
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
        let pid = Pid::from_id(42);
        let identity = Identity::new(pid, "Worker 1".into(), Some("ticker".into()), Kind::Worker);
        for needle in ["", "worker 1", "tick", "worker", "0.42"] {
            assert!(identity.matches(needle), "{needle:?} should match");
        }
        assert!(!identity.matches("session"));
    }
}
