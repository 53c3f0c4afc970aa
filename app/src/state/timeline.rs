//! The timeline of notable runtime events: abnormal exits (chaos's marked as such), restarts,
//! restart intensity exceeded, escalations, exit signals that are not `normal`. Bounded; the oldest entries go first.

use std::collections::VecDeque;
use std::time::Duration;

use bevy_ecs::prelude::*;
use crashcourse_runtime::Pid;

/// How many entries the timeline keeps.
pub const TIMELINE_CAPACITY: usize = 500;

/// What kind of notable event an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notable {
    /// A process exited with an abnormal reason.
    Exit,
    /// A supervisor restarted a child.
    Restart,
    /// A supervisor went over its restart intensity.
    IntensityExceeded,
    /// A supervisor gave up and passed the failure to its own supervisor.
    Escalation,
    /// Chaos killed the process (an exit with reason `killed` that chaos reported).
    ChaosKill,
    /// An exit signal (or a monitor's `DOWN`) that is not `normal` reached a process; the
    /// entry says what it did (died, trapped it, got the `DOWN`).
    Signal,
}

/// One line of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct TimelineEntry {
    /// The event's sequence number in the runtime's stream.
    pub seq: u64,
    /// Time since the runtime started.
    pub at: Duration,
    /// The process a click selects (the new pid for a restart).
    pub pid: Pid,
    pub what: Notable,
    pub text: String,
}

/// The notable events, oldest first.
#[derive(Resource, Debug, Default)]
pub struct Timeline {
    entries: VecDeque<TimelineEntry>,
    /// Entries recorded since start, including those since dropped.
    pub total: u64,
}

impl Timeline {
    pub fn push(&mut self, entry: TimelineEntry) {
        if self.entries.len() == TIMELINE_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
        self.total += 1;
    }

    /// Newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &TimelineEntry> {
        self.entries.iter().rev()
    }

    /// The newest `n` entries, newest first, to change in place.
    pub fn newest_mut(&mut self, n: usize) -> impl Iterator<Item = &mut TimelineEntry> {
        self.entries.iter_mut().rev().take(n)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry `i` places from the newest.
    pub fn nth_newest(&self, i: usize) -> Option<&TimelineEntry> {
        self.entries
            .len()
            .checked_sub(i + 1)
            .map(|j| &self.entries[j])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> TimelineEntry {
        TimelineEntry {
            seq,
            at: Duration::ZERO,
            pid: Pid::from_id(seq),
            what: Notable::Exit,
            text: format!("event {seq}"),
        }
    }

    #[test]
    fn the_timeline_keeps_the_newest_entries_and_lists_them_newest_first() {
        let mut timeline = Timeline::default();
        for seq in 0..(TIMELINE_CAPACITY as u64 + 10) {
            timeline.push(entry(seq));
        }
        assert_eq!(timeline.len(), TIMELINE_CAPACITY);
        assert_eq!(timeline.total, TIMELINE_CAPACITY as u64 + 10);
        let newest: Vec<u64> = timeline.newest_first().take(2).map(|e| e.seq).collect();
        assert_eq!(
            newest,
            vec![TIMELINE_CAPACITY as u64 + 9, TIMELINE_CAPACITY as u64 + 8]
        );
        assert_eq!(timeline.nth_newest(0).map(|e| e.seq), Some(newest[0]));
        assert_eq!(timeline.nth_newest(TIMELINE_CAPACITY), None);
    }
}
