//! What a trace records: one [`TraceEvent`] per message in or out, spawn, link, unlink or exit
//! of a traced process, and why a trace ended ([`TraceEnd`]).

use std::time::Duration;

use crate::{ExitReason, Pid};

/// How many characters of a message's rendering a trace keeps.
pub const TRACE_TEXT_MAX: usize = 80;

/// One thing a traced process did, in the order the trace saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    /// Time since the trace started.
    pub at: Duration,
    /// The traced process this event concerns.
    pub pid: Pid,
    pub what: TraceWhat,
}

/// The kinds of trace event, as in `:erlang.trace/3` with `[:send, :receive, :procs]`.
#[derive(Clone, Debug, PartialEq)]
pub enum TraceWhat {
    /// The traced process sent a message (`from` is the traced process itself).
    Send {
        from: Option<Pid>,
        to: Pid,
        text: String,
    },
    /// A message reached the traced process's mailbox; `from` is `None` when it came from
    /// outside any process (the app, a timer).
    Receive {
        from: Option<Pid>,
        text: String,
    },
    Spawn {
        child: Pid,
    },
    Link {
        other: Pid,
    },
    Unlink {
        other: Pid,
    },
    Exit {
        reason: ExitReason,
    },
}

/// Why a trace stopped recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEnd {
    /// It recorded `max_events` events.
    Count,
    /// `max_time` passed.
    Time,
    /// [`Trace::stop`](crate::Trace::stop) was called.
    Stopped,
    /// Every traced process exited.
    AllExited,
}

/// A message's rendering cut to [`TRACE_TEXT_MAX`] characters (an ellipsis marks the cut).
pub(crate) fn cut(text: String) -> String {
    match text.char_indices().nth(TRACE_TEXT_MAX) {
        None => text,
        Some((at, _)) => {
            let mut short = text;
            short.truncate(at);
            short.push('…');
            short
        }
    }
}
