//! What travels on the observer stream: [`Frame`]s from the node to an observer and
//! [`Request`]s the other way, as plain wire types (numbers and strings) that stay stable when
//! the runtime's own types change, with conversions to and from them.
//!
//! `Frame::Error` is variant 0 and `Frame::Hello` variant 1 in every version, so an observer of
//! another version can still read why it was refused.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::db::{PoolMetrics, Quantiles};
use crate::observe::{Event, EventKind, LongPoll, ProcessRow, RuntimeMetrics, SignalOutcome};
use crate::{ExitReason, Kind, MonitorRef, Pid, Status, SupervisorUse};

/// One frame from the node to an observer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Frame {
    /// Why the node refuses or drops this observer; the connection closes after it.
    Error(StreamError),
    /// The first frame after a good handshake: who the node is.
    Hello(Hello),
    /// The whole process table and the counters: an observer rebuilds its view from it.
    Keyframe(Keyframe),
    /// What changed in the process table since the previous keyframe or delta.
    Delta(Delta),
    /// Runtime events, in order, with how many this stream lost (the event ring overtook it).
    Events(EventBatch),
    /// The runtime's counters.
    Metrics(MetricsFrame),
    /// The chat server's counters and its pool.
    Chat(ChatFigures),
    /// The answer to one [`Request`].
    Reply(Reply),
    /// The node is shutting down; the connection closes after it.
    Closing { reason: String },
}

impl Frame {
    /// Its name, for messages and tests.
    pub fn name(&self) -> &'static str {
        match self {
            Frame::Error(_) => "error",
            Frame::Hello(_) => "hello",
            Frame::Keyframe(_) => "keyframe",
            Frame::Delta(_) => "delta",
            Frame::Events(_) => "events",
            Frame::Metrics(_) => "metrics",
            Frame::Chat(_) => "chat",
            Frame::Reply(_) => "reply",
            Frame::Closing { .. } => "closing",
        }
    }
}

/// Why a connection was refused or cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorCode {
    /// The connection did not start with the stream's magic bytes.
    BadMagic,
    /// The observer speaks another version of the stream.
    BadVersion,
    /// The token did not match.
    BadToken,
    /// A frame was longer than the limit.
    Oversized,
    /// A frame could not be decoded.
    Malformed,
    /// The observer read too slowly: its queue went over the bound.
    TooSlow,
    /// Too many observers are attached already.
    Busy,
    /// The handshake did not arrive in time.
    Timeout,
}

/// An error frame: a code to act on and a sentence to show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamError {
    pub code: ErrorCode,
    pub message: String,
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Who the node is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    pub version: u16,
    /// What the node calls itself (e.g. `crashcourse serve`).
    pub node: String,
    /// Its OS process id.
    pub os_pid: u32,
    /// Microseconds between two table deltas.
    pub tick_us: u64,
}

/// A process table row on the wire (durations in microseconds, kinds and statuses as numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub pid: u64,
    pub name: Option<String>,
    pub label: Option<String>,
    /// Index into [`Kind::ALL`].
    pub kind: u8,
    pub parent: Option<u64>,
    /// [`Status`] as its number.
    pub status: u8,
    pub mailbox_len: u64,
    pub messages_in: u64,
    pub messages_out: u64,
    pub memory: u64,
    pub restarts: u32,
    pub age_us: u64,
    pub trap_exit: bool,
    pub supervisor: Option<SupervisorFigures>,
    pub busy_us: u64,
    pub polls: u64,
    pub busy_total_us: u64,
    pub polls_total: u64,
}

/// A supervisor's restart intensity use.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorFigures {
    pub restarts_in_period: u32,
    pub max_restarts: u32,
    pub period_us: u64,
    pub children: u64,
}

/// The whole table at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Keyframe {
    /// Time since the runtime started.
    pub at_us: u64,
    pub rows: Vec<Row>,
    pub metrics: Metrics,
    pub chat: Option<ChatFigures>,
    /// The sequence number of the next event this stream will send.
    pub next_event: u64,
}

/// Rows added or changed (whole rows) and pids gone since the previous table frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delta {
    pub at_us: u64,
    pub changed: Vec<Row>,
    pub removed: Vec<u64>,
}

/// Events in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventBatch {
    pub events: Vec<WireEvent>,
    /// Events the stream lost before these, in all.
    pub dropped: u64,
}

/// The runtime's counters at one instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsFrame {
    pub at_us: u64,
    pub metrics: Metrics,
}

/// [`RuntimeMetrics`] on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metrics {
    pub process_count: u64,
    pub total_memory: u64,
    pub messages_total: u64,
    pub worker_busy_ns: Vec<u64>,
    pub worker_polls: Vec<u64>,
    pub run_queue: u64,
    pub long_polls_total: u64,
    pub recent_long_polls: Vec<WireLongPoll>,
    /// (pid, wall time in microseconds) of polls running over 10 ms of CPU now.
    pub not_yielding: Vec<(u64, u64)>,
    pub events_recorded: u64,
    pub restarts_total: u64,
    pub uptime_us: u64,
}

/// [`LongPoll`] on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireLongPoll {
    pub pid: u64,
    pub name: String,
    pub worker: u64,
    pub running_for_us: u64,
    pub cpu_us: u64,
    pub finished: bool,
    pub at_us: u64,
}

/// The chat server's counters and its pool at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatFigures {
    pub at_us: u64,
    pub connections: u64,
    pub connections_total: u64,
    pub joins: u64,
    pub frames_in: u64,
    pub frames_out: u64,
    pub messages_posted: u64,
    pub broadcasts: u64,
    pub pool: PoolFigures,
}

/// [`PoolMetrics`] on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolFigures {
    pub pool_size: u64,
    pub size: u64,
    pub checked_out: u64,
    pub idle: u64,
    pub queue_len: u64,
    pub slow: bool,
    pub served: u64,
    pub drops: u64,
    pub unavailable: u64,
    pub timeouts: u64,
    pub cancelled: u64,
    pub connection_exits: u64,
    pub query_latency_us: u64,
    pub write_lock_held: bool,
    pub queue_time: WireQuantiles,
    pub query_time: WireQuantiles,
    pub idle_time: WireQuantiles,
    pub recent_queue_time: WireQuantiles,
    pub recent_query_time: WireQuantiles,
    pub recent_idle_time: WireQuantiles,
}

/// [`Quantiles`] on the wire, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireQuantiles {
    pub count: u64,
    pub p50_us: u64,
    pub p95_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// An [`Event`] on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WireEvent {
    pub seq: u64,
    pub at_us: u64,
    pub pid: u64,
    pub kind: WireEventKind,
}

/// [`EventKind`] on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireEventKind {
    Spawned {
        parent: Option<u64>,
        kind: u8,
        label: Option<String>,
    },
    Exited {
        reason: Reason,
    },
    Registered {
        name: String,
    },
    Linked {
        other: u64,
    },
    Unlinked {
        other: u64,
    },
    Monitor {
        target: u64,
        monitor: u64,
    },
    Restarted {
        child: String,
        old: u64,
        new: u64,
        reason: Reason,
    },
    IntensityExceeded {
        restarts: u32,
        max_restarts: u32,
        period_us: u64,
    },
    Escalated {
        to: Option<u64>,
    },
    LongPoll {
        running_for_us: u64,
        cpu_us: u64,
        finished: bool,
    },
    Signal {
        from: u64,
        reason: Reason,
        /// 0 died, 1 trapped, 2 ignored, 3 down.
        outcome: u8,
    },
}

/// [`ExitReason`] on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reason {
    Normal,
    Shutdown,
    Kill,
    Killed,
    NoProc,
    Panic(String),
    Custom(String),
}

/// A command from an observer, with a number its [`Reply`] carries back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: u64,
    pub command: Command,
}

/// What an observer can ask the node to do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    Kill {
        pid: u64,
    },
    /// An exit signal with a reason (`normal`, `shutdown`, `kill` or any other word).
    Exit {
        pid: u64,
        reason: String,
    },
    Crash {
        pid: u64,
    },
    /// Switch a fault (as [`FaultKind::name`](crate::FaultKind::name) spells it) on or off.
    Fault {
        fault: String,
        on: bool,
    },
    /// One console command line.
    Console {
        line: String,
    },
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub id: u64,
    pub outcome: Outcome,
}

/// What came of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// It was done.
    Done,
    /// It could not be done, and why.
    Failed(String),
    /// A console command's answer (as [`Answer`](crate::Answer) has it).
    Console {
        lines: Vec<String>,
        iex: String,
        error: bool,
    },
}

fn us(d: Duration) -> u64 {
    d.as_micros().min(u64::MAX as u128) as u64
}

fn from_us(us: u64) -> Duration {
    Duration::from_micros(us)
}

fn kind_index(kind: Kind) -> u8 {
    Kind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u8
}

/// The kind with this index into [`Kind::ALL`] (a worker for a number this version lacks).
pub fn kind_of(index: u8) -> Kind {
    Kind::ALL
        .get(index as usize)
        .copied()
        .unwrap_or(Kind::Worker)
}

fn arc(s: Option<String>) -> Option<Arc<str>> {
    s.map(Arc::from)
}

impl From<&ProcessRow> for Row {
    fn from(r: &ProcessRow) -> Row {
        Row {
            pid: r.pid.id(),
            name: r.name.as_deref().map(str::to_string),
            label: r.label.as_deref().map(str::to_string),
            kind: kind_index(r.kind),
            parent: r.parent.map(Pid::id),
            status: r.status as u8,
            mailbox_len: r.mailbox_len as u64,
            messages_in: r.messages_in,
            messages_out: r.messages_out,
            memory: r.memory as u64,
            restarts: r.restarts,
            age_us: us(r.age),
            trap_exit: r.trap_exit,
            supervisor: r.supervisor.as_ref().map(|s| SupervisorFigures {
                restarts_in_period: s.restarts_in_period,
                max_restarts: s.max_restarts,
                period_us: us(s.period),
                children: s.children as u64,
            }),
            busy_us: us(r.busy),
            polls: r.polls,
            busy_total_us: us(r.busy_total),
            polls_total: r.polls_total,
        }
    }
}

impl Row {
    /// The row as the runtime's own type, for panels that draw [`ProcessRow`]s.
    pub fn to_process_row(&self) -> ProcessRow {
        ProcessRow {
            pid: Pid::from_id(self.pid),
            name: arc(self.name.clone()),
            label: arc(self.label.clone()),
            kind: kind_of(self.kind),
            parent: self.parent.map(Pid::from_id),
            status: Status::from_u8(self.status),
            mailbox_len: self.mailbox_len as usize,
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            memory: self.memory as usize,
            restarts: self.restarts,
            age: from_us(self.age_us),
            trap_exit: self.trap_exit,
            supervisor: self.supervisor.as_ref().map(|s| SupervisorUse {
                restarts_in_period: s.restarts_in_period,
                max_restarts: s.max_restarts,
                period: from_us(s.period_us),
                children: s.children as usize,
            }),
            busy: from_us(self.busy_us),
            polls: self.polls,
            busy_total: from_us(self.busy_total_us),
            polls_total: self.polls_total,
        }
    }

    /// Whether two rows of one process show the same thing, age aside (it always moves) and
    /// busy time to a tenth of a millisecond (the window slides continuously).
    pub fn same_as(&self, other: &Row) -> bool {
        self.pid == other.pid
            && self.status == other.status
            && self.mailbox_len == other.mailbox_len
            && self.messages_in == other.messages_in
            && self.messages_out == other.messages_out
            && self.memory == other.memory
            && self.restarts == other.restarts
            && self.trap_exit == other.trap_exit
            && self.busy_us / 100 == other.busy_us / 100
            && self.polls == other.polls
            && self.parent == other.parent
            && self.kind == other.kind
            && self.supervisor == other.supervisor
            && self.label == other.label
            && self.name == other.name
    }
}

impl From<&RuntimeMetrics> for Metrics {
    fn from(m: &RuntimeMetrics) -> Metrics {
        Metrics {
            process_count: m.process_count as u64,
            total_memory: m.total_memory as u64,
            messages_total: m.messages_total,
            worker_busy_ns: m.worker_busy_ns.clone(),
            worker_polls: m.worker_polls.clone(),
            run_queue: m.run_queue as u64,
            long_polls_total: m.long_polls_total,
            recent_long_polls: m
                .recent_long_polls
                .iter()
                .map(|p| WireLongPoll {
                    pid: p.pid.id(),
                    name: p.name.clone(),
                    worker: p.worker as u64,
                    running_for_us: us(p.running_for),
                    cpu_us: us(p.cpu),
                    finished: p.finished,
                    at_us: us(p.at),
                })
                .collect(),
            not_yielding: m
                .not_yielding
                .iter()
                .map(|(p, d)| (p.id(), us(*d)))
                .collect(),
            events_recorded: m.events_recorded,
            restarts_total: m.restarts_total,
            uptime_us: us(m.uptime),
        }
    }
}

impl Metrics {
    /// The counters as the runtime's own type.
    pub fn to_runtime_metrics(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            process_count: self.process_count as usize,
            total_memory: self.total_memory as usize,
            messages_total: self.messages_total,
            worker_busy_ns: self.worker_busy_ns.clone(),
            worker_polls: self.worker_polls.clone(),
            run_queue: self.run_queue as usize,
            long_polls_total: self.long_polls_total,
            recent_long_polls: self
                .recent_long_polls
                .iter()
                .map(|p| LongPoll {
                    pid: Pid::from_id(p.pid),
                    name: p.name.clone(),
                    worker: p.worker as usize,
                    running_for: from_us(p.running_for_us),
                    cpu: from_us(p.cpu_us),
                    finished: p.finished,
                    at: from_us(p.at_us),
                })
                .collect(),
            not_yielding: self
                .not_yielding
                .iter()
                .map(|(p, d)| (Pid::from_id(*p), from_us(*d)))
                .collect(),
            events_recorded: self.events_recorded,
            restarts_total: self.restarts_total,
            uptime: from_us(self.uptime_us),
        }
    }
}

impl From<Quantiles> for WireQuantiles {
    fn from(q: Quantiles) -> WireQuantiles {
        WireQuantiles {
            count: q.count,
            p50_us: us(q.p50),
            p95_us: us(q.p95),
            p99_us: us(q.p99),
            max_us: us(q.max),
        }
    }
}

impl From<WireQuantiles> for Quantiles {
    fn from(q: WireQuantiles) -> Quantiles {
        Quantiles {
            count: q.count,
            p50: from_us(q.p50_us),
            p95: from_us(q.p95_us),
            p99: from_us(q.p99_us),
            max: from_us(q.max_us),
        }
    }
}

impl From<&PoolMetrics> for PoolFigures {
    fn from(p: &PoolMetrics) -> PoolFigures {
        PoolFigures {
            pool_size: p.pool_size as u64,
            size: p.size as u64,
            checked_out: p.checked_out as u64,
            idle: p.idle as u64,
            queue_len: p.queue_len as u64,
            slow: p.slow,
            served: p.served,
            drops: p.drops,
            unavailable: p.unavailable,
            timeouts: p.timeouts,
            cancelled: p.cancelled,
            connection_exits: p.connection_exits,
            query_latency_us: us(p.query_latency),
            write_lock_held: p.write_lock_held,
            queue_time: p.queue_time.into(),
            query_time: p.query_time.into(),
            idle_time: p.idle_time.into(),
            recent_queue_time: p.recent_queue_time.into(),
            recent_query_time: p.recent_query_time.into(),
            recent_idle_time: p.recent_idle_time.into(),
        }
    }
}

impl PoolFigures {
    /// The pool's figures as the runtime's own type.
    pub fn to_pool_metrics(&self) -> PoolMetrics {
        PoolMetrics {
            pool_size: self.pool_size as usize,
            size: self.size as usize,
            checked_out: self.checked_out as usize,
            idle: self.idle as usize,
            queue_len: self.queue_len as usize,
            slow: self.slow,
            served: self.served,
            drops: self.drops,
            unavailable: self.unavailable,
            timeouts: self.timeouts,
            cancelled: self.cancelled,
            connection_exits: self.connection_exits,
            query_latency: from_us(self.query_latency_us),
            write_lock_held: self.write_lock_held,
            queue_time: self.queue_time.into(),
            query_time: self.query_time.into(),
            idle_time: self.idle_time.into(),
            recent_queue_time: self.recent_queue_time.into(),
            recent_query_time: self.recent_query_time.into(),
            recent_idle_time: self.recent_idle_time.into(),
        }
    }
}

impl From<&ExitReason> for Reason {
    fn from(r: &ExitReason) -> Reason {
        match r {
            ExitReason::Normal => Reason::Normal,
            ExitReason::Shutdown => Reason::Shutdown,
            ExitReason::Kill => Reason::Kill,
            ExitReason::Killed => Reason::Killed,
            ExitReason::NoProc => Reason::NoProc,
            ExitReason::Panic(m) => Reason::Panic(m.to_string()),
            ExitReason::Custom(m) => Reason::Custom(m.to_string()),
        }
    }
}

impl From<&Reason> for ExitReason {
    fn from(r: &Reason) -> ExitReason {
        match r {
            Reason::Normal => ExitReason::Normal,
            Reason::Shutdown => ExitReason::Shutdown,
            Reason::Kill => ExitReason::Kill,
            Reason::Killed => ExitReason::Killed,
            Reason::NoProc => ExitReason::NoProc,
            Reason::Panic(m) => ExitReason::Panic(Arc::from(m.as_str())),
            Reason::Custom(m) => ExitReason::Custom(Arc::from(m.as_str())),
        }
    }
}

const OUTCOMES: [SignalOutcome; 4] = [
    SignalOutcome::Died,
    SignalOutcome::Trapped,
    SignalOutcome::Ignored,
    SignalOutcome::Down,
];

impl From<&Event> for WireEvent {
    fn from(e: &Event) -> WireEvent {
        let kind = match &e.kind {
            EventKind::Spawned {
                parent,
                kind,
                label,
            } => WireEventKind::Spawned {
                parent: parent.map(Pid::id),
                kind: kind_index(*kind),
                label: label.as_deref().map(str::to_string),
            },
            EventKind::Exited { reason } => WireEventKind::Exited {
                reason: reason.into(),
            },
            EventKind::Registered { name } => WireEventKind::Registered {
                name: name.to_string(),
            },
            EventKind::Linked { other } => WireEventKind::Linked { other: other.id() },
            EventKind::Unlinked { other } => WireEventKind::Unlinked { other: other.id() },
            EventKind::Monitor { target, monitor } => WireEventKind::Monitor {
                target: target.id(),
                monitor: monitor.0,
            },
            EventKind::Restarted {
                child,
                old,
                new,
                reason,
            } => WireEventKind::Restarted {
                child: child.to_string(),
                old: old.id(),
                new: new.id(),
                reason: reason.into(),
            },
            EventKind::IntensityExceeded {
                restarts,
                max_restarts,
                period,
            } => WireEventKind::IntensityExceeded {
                restarts: *restarts,
                max_restarts: *max_restarts,
                period_us: us(*period),
            },
            EventKind::Escalated { to } => WireEventKind::Escalated {
                to: to.map(Pid::id),
            },
            EventKind::LongPoll {
                running_for,
                cpu,
                finished,
            } => WireEventKind::LongPoll {
                running_for_us: us(*running_for),
                cpu_us: us(*cpu),
                finished: *finished,
            },
            EventKind::Signal {
                from,
                reason,
                outcome,
            } => WireEventKind::Signal {
                from: from.id(),
                reason: reason.into(),
                outcome: OUTCOMES.iter().position(|o| o == outcome).unwrap_or(0) as u8,
            },
        };
        WireEvent {
            seq: e.seq,
            at_us: us(e.at),
            pid: e.pid.id(),
            kind,
        }
    }
}

impl WireEvent {
    /// The event as the runtime's own type, for the timeline and the warnings.
    pub fn to_event(&self) -> Event {
        let pid = Pid::from_id;
        let kind = match &self.kind {
            WireEventKind::Spawned {
                parent,
                kind,
                label,
            } => EventKind::Spawned {
                parent: parent.map(pid),
                kind: kind_of(*kind),
                label: arc(label.clone()),
            },
            WireEventKind::Exited { reason } => EventKind::Exited {
                reason: reason.into(),
            },
            WireEventKind::Registered { name } => EventKind::Registered {
                name: Arc::from(name.as_str()),
            },
            WireEventKind::Linked { other } => EventKind::Linked { other: pid(*other) },
            WireEventKind::Unlinked { other } => EventKind::Unlinked { other: pid(*other) },
            WireEventKind::Monitor { target, monitor } => EventKind::Monitor {
                target: pid(*target),
                monitor: MonitorRef(*monitor),
            },
            WireEventKind::Restarted {
                child,
                old,
                new,
                reason,
            } => EventKind::Restarted {
                child: Arc::from(child.as_str()),
                old: pid(*old),
                new: pid(*new),
                reason: reason.into(),
            },
            WireEventKind::IntensityExceeded {
                restarts,
                max_restarts,
                period_us,
            } => EventKind::IntensityExceeded {
                restarts: *restarts,
                max_restarts: *max_restarts,
                period: from_us(*period_us),
            },
            WireEventKind::Escalated { to } => EventKind::Escalated { to: to.map(pid) },
            WireEventKind::LongPoll {
                running_for_us,
                cpu_us,
                finished,
            } => EventKind::LongPoll {
                running_for: from_us(*running_for_us),
                cpu: from_us(*cpu_us),
                finished: *finished,
            },
            WireEventKind::Signal {
                from,
                reason,
                outcome,
            } => EventKind::Signal {
                from: pid(*from),
                reason: reason.into(),
                outcome: OUTCOMES
                    .get(*outcome as usize)
                    .copied()
                    .unwrap_or(SignalOutcome::Died),
            },
        };
        Event {
            seq: self.seq,
            at: from_us(self.at_us),
            pid: pid(self.pid),
            kind,
        }
    }
}
