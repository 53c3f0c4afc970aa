//! [`FaultKind`]: the faults a learner can switch on, and their names.

use std::fmt;

/// One fault a learner can switch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// Processes started every second that nobody stops, under a supervisor labelled "leak".
    Leak,
    /// A producer ("flood producer") sending faster than its consumer ("flood consumer") reads.
    MailboxFlood,
    /// A process ("unmatched") sent messages its selective receive never matches.
    UnmatchedMessages,
    /// A server ("hoarder") whose state grows without bound.
    UnboundedState,
    /// A process ("busy loop") that keeps a worker thread busy and rarely yields.
    BusyLoop,
    /// Every database query made slow (the pool's latency switch).
    SlowQueries,
    /// SQLite's write lock held from outside the pool.
    WriteLock,
}

impl FaultKind {
    /// Every fault, in the order the app lists them.
    pub const ALL: [FaultKind; 7] = [
        FaultKind::Leak,
        FaultKind::MailboxFlood,
        FaultKind::UnmatchedMessages,
        FaultKind::UnboundedState,
        FaultKind::BusyLoop,
        FaultKind::SlowQueries,
        FaultKind::WriteLock,
    ];

    /// A short snake_case name, as the command line and lessons spell it.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Leak => "leak",
            FaultKind::MailboxFlood => "mailbox_flood",
            FaultKind::UnmatchedMessages => "unmatched_messages",
            FaultKind::UnboundedState => "unbounded_state",
            FaultKind::BusyLoop => "busy_loop",
            FaultKind::SlowQueries => "slow_queries",
            FaultKind::WriteLock => "write_lock",
        }
    }

    /// The fault named `s` (as [`name`](Self::name) spells it; spaces or dashes for `_` too).
    pub fn parse(s: &str) -> Option<FaultKind> {
        let s = s.trim().to_ascii_lowercase().replace([' ', '-'], "_");
        FaultKind::ALL.into_iter().find(|k| k.name() == s)
    }

    /// Whether this fault is a switch on the database pool rather than processes.
    pub fn needs_pool(self) -> bool {
        matches!(self, FaultKind::SlowQueries | FaultKind::WriteLock)
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
