//! What a parsed lesson is: a header, an introduction and steps, each step with its prose,
//! optional prediction, actions, hints and exactly one completion check.

use std::time::Duration;

use crashcourse_runtime::Kind;

/// One lesson file, parsed and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// The file name (`01-processes.md`), for messages and ordering.
    pub file: String,
    pub id: String,
    pub title: String,
    pub minutes: u32,
    pub summary: String,
    /// CommonMark shown before the first step.
    pub intro: String,
    pub steps: Vec<Step>,
}

/// One step: prose, an optional prediction, buttons, hints and the check that completes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub id: String,
    pub title: String,
    /// What "Show me" selects.
    pub show: Option<Target>,
    pub hints: Vec<String>,
    pub predict: Option<Predict>,
    pub actions: Vec<Action>,
    pub check: Check,
    /// Prose shown from the start of the step.
    pub before: String,
    /// Prose shown once the check holds (empty if the step has none).
    pub after: String,
}

/// A process a step points at: by registered name, by kind, or by a label substring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Kind(Kind),
    Label(String),
}

/// A question asked before the step's actions are enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Predict {
    pub question: String,
    pub answers: Vec<String>,
}

/// A button: its label and what it does.
#[derive(Clone, Debug, PartialEq)]
pub struct Action {
    pub label: String,
    pub op: Op,
}

/// The reason an `exit` action sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalReason {
    Normal,
    Shutdown,
    Kill,
}

/// A supervisor strategy, as the band is started with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BandStrategy {
    OneForOne,
    RestForOne,
    OneForAll,
}

/// What an action does (the `do` key and its parameters).
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    SpawnIdle {
        count: usize,
    },
    StopSpawned,
    OpenChat {
        room: String,
    },
    Kill(Target),
    Crash(Target),
    Exit {
        target: Target,
        reason: SignalReason,
    },
    StartBand {
        strategy: BandStrategy,
        max_restarts: u32,
        max_seconds: u32,
    },
    Fault {
        fault: String,
        on: bool,
    },
    Chaos {
        per_second: f64,
        seconds: f64,
        kinds: Vec<Kind>,
    },
    StartUsers {
        clients: usize,
        ramp_per_s: Option<f64>,
        rate_per_s: Option<f64>,
        arrival_rate: Option<f64>,
        seconds: f64,
        room: String,
        slow_ms: Option<u64>,
    },
    StopUsers,
    Broadcast {
        room: String,
        text: String,
    },
    Contrast {
        users: usize,
        work_ms: u64,
        seconds: f64,
    },
    Pool {
        size: Option<usize>,
        queue_target_ms: Option<u64>,
        queue_interval_ms: Option<u64>,
    },
    Console {
        command: String,
    },
}

/// The runtime events a check can count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventName {
    Spawned,
    Exited,
    Restarted,
    IntensityExceeded,
    Escalated,
    LongPoll,
    Linked,
    Monitor,
    Registered,
}

/// A check over runtime events: `count` matching events since the step began (inside one
/// sliding window of `within`, if given).
#[derive(Clone, Debug, PartialEq)]
pub struct EventCheck {
    pub event: EventName,
    pub name: Option<String>,
    pub kind_of: Option<Kind>,
    pub label: Option<String>,
    pub reason: Option<String>,
    pub count: u32,
    pub within: Option<Duration>,
}

/// Above or below a threshold.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    Above(f64),
    Below(f64),
}

/// What completes a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    Event(EventCheck),
    Metric {
        metric: String,
        bound: Bound,
        hold: Duration,
    },
    Quiz {
        question: String,
        answers: Vec<String>,
        correct: usize,
        explain: Option<String>,
    },
    Done,
}

impl Check {
    /// A short description of the check for the CLI and tooltips.
    pub fn describe(&self) -> String {
        match self {
            Check::Event(e) => format!("{} x{}", e.event.name(), e.count),
            Check::Metric { metric, bound, .. } => match bound {
                Bound::Above(v) => format!("{metric} > {v}"),
                Bound::Below(v) => format!("{metric} < {v}"),
            },
            Check::Quiz { .. } => "quiz".into(),
            Check::Done => "done".into(),
        }
    }
}

impl EventName {
    pub const ALL: [EventName; 9] = [
        EventName::Spawned,
        EventName::Exited,
        EventName::Restarted,
        EventName::IntensityExceeded,
        EventName::Escalated,
        EventName::LongPoll,
        EventName::Linked,
        EventName::Monitor,
        EventName::Registered,
    ];

    /// The name lesson files use.
    pub fn name(self) -> &'static str {
        match self {
            EventName::Spawned => "spawned",
            EventName::Exited => "exited",
            EventName::Restarted => "restarted",
            EventName::IntensityExceeded => "intensity_exceeded",
            EventName::Escalated => "escalated",
            EventName::LongPoll => "long_poll",
            EventName::Linked => "linked",
            EventName::Monitor => "monitor",
            EventName::Registered => "registered",
        }
    }

    pub fn parse(s: &str) -> Option<EventName> {
        EventName::ALL.into_iter().find(|e| e.name() == s)
    }
}

/// A kind by its name, with `_` standing for a space (`pool_connection`).
pub fn parse_kind(s: &str) -> Option<Kind> {
    Kind::parse(s)
}

/// The fault names lesson files may switch.
pub const FAULTS: [&str; 7] = [
    "leak",
    "mailbox_flood",
    "unmatched_messages",
    "unbounded_state",
    "busy_loop",
    "slow_queries",
    "write_lock",
];

/// Metric names with a fixed spelling (`processes.<kind>` is the one family on top).
pub const METRICS: [&str; 36] = [
    "processes",
    "processes.spawned_by_lesson",
    "memory.total",
    "memory.per_idle_process",
    "messages_per_s",
    "restarts",
    "long_polls",
    "chat.connections",
    "chat.joins",
    "chat.messages_posted",
    "chat.broadcasts",
    "pool.queue_len",
    "pool.queue_time_p99_ms",
    "pool.query_time_p99_ms",
    "pool.drops",
    "pool.slow",
    "load.clients",
    "load.sent",
    "load.acked",
    "load.received",
    "load.p50_ms",
    "load.p99_ms",
    "load.errors",
    "contrast.thread_pool_per_s",
    "contrast.processes_per_s",
    "contrast.thread_pool_p99_ms",
    "contrast.processes_p99_ms",
    "faults.leaked",
    "faults.flood_queue",
    "faults.unmatched_queue",
    "faults.state_bytes",
    "mailbox.max",
    "chaos.killed",
    // Kept beside the others so a typo in a kind is caught the same way.
    "processes.worker",
    "processes.supervisor",
    "processes.server",
];

/// Whether `name` is a metric lesson files may use.
pub fn is_metric(name: &str) -> bool {
    METRICS.contains(&name)
        || name
            .strip_prefix("processes.")
            .is_some_and(|k| parse_kind(k).is_some())
}
