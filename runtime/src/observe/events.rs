//! A bounded stream of runtime events. Writers never block on readers: the buffer keeps the
//! newest events, and a reader that falls behind skips ahead and is told how many it lost.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::{ExitReason, Kind, MonitorRef, Pid};

/// Something that happened in the runtime.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    Spawned {
        parent: Option<Pid>,
        kind: Kind,
        label: Option<Arc<str>>,
    },
    Exited {
        reason: ExitReason,
    },
    Registered {
        name: Arc<str>,
    },
    Linked {
        other: Pid,
    },
    Unlinked {
        other: Pid,
    },
    /// The event's pid now monitors `target`.
    Monitor {
        target: Pid,
        monitor: MonitorRef,
    },
    /// The supervisor (the event's pid) restarted a child.
    Restarted {
        child: Arc<str>,
        old: Pid,
        new: Pid,
        reason: ExitReason,
    },
    /// The supervisor (the event's pid) went over its restart intensity.
    IntensityExceeded {
        restarts: u32,
        max_restarts: u32,
        period: Duration,
    },
    /// The supervisor (the event's pid) gave up and exits, passing the failure to `to`.
    Escalated {
        to: Option<Pid>,
    },
    /// A poll of the event's pid kept its worker on the CPU for longer than 10 ms (`finished`
    /// false: it is still running). `running_for` is its wall-clock time, `cpu` its CPU time.
    LongPoll {
        running_for: Duration,
        cpu: Duration,
        finished: bool,
    },
    /// An exit signal from `from` reached the event's pid (through a link, or sent with
    /// `exit`), or a monitor's `DOWN` about `from` did; `outcome` is what the receiver did.
    Signal {
        from: Pid,
        reason: ExitReason,
        outcome: SignalOutcome,
    },
}

/// What a process did with an exit signal or a monitor's `DOWN` (the [`EventKind::Signal`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalOutcome {
    /// It ends with the signal's reason (it does not trap exits, or the signal was `kill`).
    Died,
    /// It traps exits: the signal became an `Exit` message in its mailbox.
    Trapped,
    /// A `normal` exit signal to a process that does not trap exits: nothing happens.
    Ignored,
    /// A monitor fired: a `Down` message is in the watcher's mailbox.
    Down,
}

/// One event, numbered in the order it was recorded.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub seq: u64,
    /// Time since the runtime started.
    pub at: Duration,
    pub pid: Pid,
    pub kind: EventKind,
}

pub(crate) struct EventBus {
    cap: usize,
    started: Instant,
    inner: Mutex<Ring>,
}

struct Ring {
    next_seq: u64,
    events: VecDeque<Event>,
}

impl EventBus {
    pub(crate) fn new(cap: usize, started: Instant) -> EventBus {
        EventBus {
            cap: cap.max(1),
            started,
            inner: Mutex::new(Ring {
                next_seq: 0,
                events: VecDeque::new(),
            }),
        }
    }

    /// Records an event stamped with the time since the runtime started.
    pub(crate) fn push(&self, pid: Pid, kind: EventKind) {
        self.push_at(self.started.elapsed(), pid, kind);
    }

    pub(crate) fn push_at(&self, at: Duration, pid: Pid, kind: EventKind) {
        let mut ring = self.inner.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.events.len() == self.cap {
            ring.events.pop_front();
        }
        ring.events.push_back(Event { seq, at, pid, kind });
    }

    /// The sequence number the next event will get.
    pub(crate) fn head(&self) -> u64 {
        self.inner.lock().next_seq
    }

    fn read(&self, from: u64, max: usize, out: &mut Vec<Event>) -> (u64, u64) {
        let ring = self.inner.lock();
        let oldest = ring.events.front().map_or(ring.next_seq, |e| e.seq);
        let start = from.max(oldest);
        let dropped = start - from;
        let skip = (start - oldest) as usize;
        let mut next = start;
        for e in ring.events.iter().skip(skip).take(max) {
            out.push(e.clone());
            next = e.seq + 1;
        }
        (next, dropped)
    }
}

/// A cursor into the event stream.
pub struct EventReader {
    pub(crate) next: u64,
    dropped: u64,
}

impl EventReader {
    pub(crate) fn new(next: u64) -> EventReader {
        EventReader { next, dropped: 0 }
    }

    pub(crate) fn read_from(&mut self, bus: &EventBus, max: usize) -> Vec<Event> {
        let mut out = Vec::new();
        let (next, dropped) = bus.read(self.next, max, &mut out);
        self.next = next;
        self.dropped += dropped;
        out
    }

    /// How many events this reader has lost by falling behind, in all.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exited(bus: &EventBus, n: u64) {
        bus.push_at(
            Duration::ZERO,
            Pid(n),
            EventKind::Exited {
                reason: ExitReason::Normal,
            },
        );
    }

    #[test]
    fn a_slow_reader_loses_the_oldest_events_and_is_told_how_many() {
        let bus = EventBus::new(4, Instant::now());
        let mut reader = EventReader::new(bus.head());
        for n in 0..10 {
            exited(&bus, n);
        }
        let got = reader.read_from(&bus, 100);
        assert_eq!(
            got.iter().map(|e| e.pid.0).collect::<Vec<_>>(),
            vec![6, 7, 8, 9]
        );
        assert_eq!(reader.dropped(), 6);
        exited(&bus, 10);
        let got = reader.read_from(&bus, 100);
        assert_eq!(got.len(), 1);
        assert_eq!(reader.dropped(), 6);
    }

    #[test]
    fn reading_in_batches_keeps_order() {
        let bus = EventBus::new(100, Instant::now());
        let mut reader = EventReader::new(0);
        for n in 0..10 {
            exited(&bus, n);
        }
        let a = reader.read_from(&bus, 3);
        let b = reader.read_from(&bus, 100);
        let seqs: Vec<u64> = a.iter().chain(&b).map(|e| e.seq).collect();
        assert_eq!(seqs, (0..10).collect::<Vec<_>>());
        assert_eq!(reader.dropped(), 0);
    }
}
