//! Warnings: the production signals a learner should notice without staring at every chart.
//! Checked once per metrics sample against the histories and the process counters, each with a
//! paragraph on what it means and what to check.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::Pid;

use super::components::{Counters, Identity, PidMap, ProcessId, ProcessStatus};
use super::history::Histories;
use super::ingest::Observations;

/// Samples of process count a leak is judged over.
pub const LEAK_SAMPLES: usize = 20;
/// A mailbox at least this long that keeps growing is a warning.
pub const MAILBOX_GROWING: usize = 100;
/// A mailbox this long is a warning whether it grows or not.
pub const MAILBOX_LONG: usize = 10_000;
/// A process with at least this much memory that keeps growing is a warning.
pub const MEMORY_GROWING: usize = 128 * 1024;
/// Samples kept per watched process.
const TRACK_SAMPLES: usize = 8;
/// How long a warning about something that happened (not a state) stays active.
const STICKY: Duration = Duration::from_secs(30);
/// How long a resolved warning stays in the list.
const RESOLVED_KEPT: Duration = Duration::from_secs(300);
/// The most warnings listed.
const MAX_WARNINGS: usize = 200;

/// What a warning is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WarningKind {
    ProcessLeak,
    MailboxGrowing,
    MemoryGrowing,
    PoolSaturated,
    PoolDropping,
    LongPoll,
}

impl WarningKind {
    pub fn title(self) -> &'static str {
        match self {
            WarningKind::ProcessLeak => "Process count climbing steadily",
            WarningKind::MailboxGrowing => "A mailbox is growing",
            WarningKind::MemoryGrowing => "A process's memory keeps growing",
            WarningKind::PoolSaturated => "Database pool saturated",
            WarningKind::PoolDropping => "Database pool dropping requests",
            WarningKind::LongPoll => "A poll hogged a scheduler thread",
        }
    }

    /// About something that happened rather than a state: it stays active for a while after.
    pub fn is_sticky(self) -> bool {
        matches!(self, WarningKind::PoolDropping | WarningKind::LongPoll)
    }

    /// One paragraph: what it means and what to check.
    pub fn explanation(self) -> &'static str {
        match self {
            WarningKind::ProcessLeak => {
                "The number of processes has risen at almost every recent sample. Processes are \
                 cheap, but each one keeps its memory until it exits, so a count that only \
                 climbs is usually a leak: something starts a process per request, connection \
                 or timer and nothing ever stops it. Check which supervisor's child count is \
                 climbing in the tree, sort the table by age to see what the newest processes \
                 are, and make sure each one has a way to end: a reply, a timeout, or a \
                 supervisor that owns it."
            }
            WarningKind::MailboxGrowing => {
                "This process receives messages faster than it handles them, so its mailbox \
                 keeps growing. Nothing pushes back on the senders: the queue grows until memory \
                 runs out, and every message waits longer than the one before. Check what sends \
                 to it, whether it is stuck on something slow (a database call, a long \
                 computation, a selective receive that skips most messages), and whether the \
                 work could be spread over several processes or the senders made to wait for a \
                 reply (a call instead of a cast)."
            }
            WarningKind::MemoryGrowing => {
                "This process's memory has grown at every recent sample. A server that keeps \
                 adding to its state (a cache without eviction, a list of every message, a map \
                 of clients that never forgets anyone) grows without bound until the operating \
                 system kills the whole program. Open it in the inspector and read its state: \
                 look for collections that only grow, and give them a limit or a time to live, \
                 or keep the data in the database instead."
            }
            WarningKind::PoolSaturated => {
                "Every database connection is checked out and requests wait in the pool's \
                 queue. The pool is the usual bottleneck: more traffic only makes the queue \
                 longer, and once requests wait longer than queue_target for a whole \
                 queue_interval the pool starts dropping them. Check the dashboard's queue and \
                 query times: slow queries hold connections longer (is the database slow, or a \
                 lock held?); if queries are fast and the queue is still full, the pool is too \
                 small for the load."
            }
            WarningKind::PoolDropping => {
                "The pool dropped or refused requests, or they timed out: their callers got an \
                 error instead of an answer. Like DBConnection, the pool drops requests while \
                 its queue is slow, so that the system sheds load rather than making everyone \
                 wait. Check the dashboard's queue time and drops, find what made the queries \
                 slow or the pool too small, and decide whether pool_size, queue_target and \
                 queue_interval fit the load."
            }
            WarningKind::LongPoll => {
                "One poll of this process kept a scheduler thread busy for more than 10 ms. The \
                 BEAM would have preempted it; this runtime cannot, so every process waiting for \
                 that thread waited too, and latency rose for all of them. Check what the \
                 process does between two awaits: a long loop, a blocking call (file or network \
                 I/O, a sleep, a lock) or heavy computation. Make it yield, or move the blocking \
                 work to a thread of its own."
            }
        }
    }
}

/// One warning, active or resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Warning {
    pub kind: WarningKind,
    /// The process concerned, if it is about one.
    pub pid: Option<Pid>,
    /// Its label when the warning was raised.
    pub subject: Option<String>,
    /// The figures behind it, as a sentence.
    pub detail: String,
    pub since: Instant,
    pub last_seen: Instant,
    /// `Some(when)` once the condition no longer holds.
    pub resolved: Option<Instant>,
}

impl Warning {
    pub fn is_active(&self) -> bool {
        self.resolved.is_none()
    }
}

/// What one check found.
struct Finding {
    kind: WarningKind,
    pid: Option<Pid>,
    subject: Option<String>,
    detail: String,
}

/// A watched process's recent mailbox lengths and memory.
#[derive(Default)]
struct Track {
    mailbox: VecDeque<usize>,
    memory: VecDeque<usize>,
}

/// The warnings, and what the checks remember between samples.
#[derive(Resource, Default)]
pub struct Warnings {
    list: Vec<Warning>,
    tracks: PidMap<Track>,
    long_polls_seen: Option<u64>,
    last_long_poll_at: Duration,
    saturated_streak: u32,
    failed_requests: Option<u64>,
}

impl Warnings {
    /// Active warnings first (oldest first), then resolved ones (newest first).
    pub fn list(&self) -> impl Iterator<Item = &Warning> {
        let active = self.list.iter().filter(|w| w.is_active());
        let mut resolved: Vec<&Warning> = self.list.iter().filter(|w| !w.is_active()).collect();
        resolved.sort_by_key(|w| std::cmp::Reverse(w.resolved));
        active.chain(resolved)
    }

    pub fn active(&self) -> usize {
        self.list.iter().filter(|w| w.is_active()).count()
    }

    /// How many kinds of warning are active (what the tab counts: forty slow polls are one
    /// thing to look at).
    pub fn active_kinds(&self) -> usize {
        let mut kinds: Vec<WarningKind> = self
            .list
            .iter()
            .filter(|w| w.is_active())
            .map(|w| w.kind)
            .collect();
        kinds.sort_by_key(|k| *k as u8);
        kinds.dedup();
        kinds.len()
    }

    /// Lists `warning` as it is, without a check raising it: for scripted views
    /// ([`super::scripted`]).
    pub fn push(&mut self, warning: Warning) {
        self.list.push(warning);
    }

    fn merge(&mut self, findings: Vec<Finding>, now: Instant) {
        let mut found = vec![false; self.list.len()];
        for f in findings {
            let existing = self
                .list
                .iter()
                .position(|w| w.kind == f.kind && w.pid == f.pid && w.is_active());
            match existing {
                Some(i) => {
                    let w = &mut self.list[i];
                    w.detail = f.detail;
                    w.last_seen = now;
                    found[i] = true;
                }
                None => {
                    self.list.push(Warning {
                        kind: f.kind,
                        pid: f.pid,
                        subject: f.subject,
                        detail: f.detail,
                        since: now,
                        last_seen: now,
                        resolved: None,
                    });
                    found.push(true);
                }
            }
        }
        for (w, found) in self.list.iter_mut().zip(found) {
            let holds = found
                || (w.kind.is_sticky() && now.saturating_duration_since(w.last_seen) < STICKY);
            if w.resolved.is_none() && !holds {
                w.resolved = Some(now);
            }
        }
        self.list.retain(|w| {
            w.resolved
                .is_none_or(|at| now.saturating_duration_since(at) < RESOLVED_KEPT)
        });
        if self.list.len() > MAX_WARNINGS {
            let excess = self.list.len() - MAX_WARNINGS;
            self.list.drain(..excess);
        }
    }
}

/// Checks every warning against the newest samples.
pub fn check_warnings(
    observations: Res<Observations>,
    histories: Res<Histories>,
    processes: Query<(&ProcessId, &Identity, &Counters, &ProcessStatus)>,
    mut warnings: ResMut<Warnings>,
) {
    let Some(sample) = observations.samples.last() else {
        return;
    };
    let now = sample.at;
    let warnings = &mut *warnings;
    let mut findings = Vec::new();

    if let Some(detail) = steady_climb(&histories) {
        findings.push(Finding {
            kind: WarningKind::ProcessLeak,
            pid: None,
            subject: None,
            detail,
        });
    }

    let mut watched = PidMap::default();
    for (pid, identity, counters, status) in &processes {
        if !status.is_alive() {
            continue;
        }
        let worth_watching = counters.mailbox_len >= MAILBOX_GROWING / 10
            || counters.memory >= MEMORY_GROWING / 2
            || warnings.tracks.contains_key(&pid.0);
        if !worth_watching {
            continue;
        }
        let mut track = warnings.tracks.remove(&pid.0).unwrap_or_default();
        push_bounded(&mut track.mailbox, counters.mailbox_len);
        push_bounded(&mut track.memory, counters.memory);
        if let Some(detail) = mailbox_growing(&track.mailbox) {
            findings.push(Finding {
                kind: WarningKind::MailboxGrowing,
                pid: Some(pid.0),
                subject: Some(identity.label.to_string()),
                detail,
            });
        }
        if let Some(detail) = memory_growing(&track.memory) {
            findings.push(Finding {
                kind: WarningKind::MemoryGrowing,
                pid: Some(pid.0),
                subject: Some(identity.label.to_string()),
                detail,
            });
        }
        let quiet = counters.mailbox_len < MAILBOX_GROWING / 10
            && counters.memory < MEMORY_GROWING / 2
            && track.mailbox.iter().all(|m| *m < MAILBOX_GROWING / 10);
        if !quiet {
            watched.insert(pid.0, track);
        }
    }
    warnings.tracks = watched;

    if let Some(pool) = sample.chat.as_ref().map(|c| &c.pool) {
        let saturated = pool.size > 0 && pool.checked_out >= pool.size && pool.queue_len > 0;
        warnings.saturated_streak = if saturated {
            warnings.saturated_streak + 1
        } else {
            0
        };
        if warnings.saturated_streak >= 3 || (saturated && pool.slow) {
            findings.push(Finding {
                kind: WarningKind::PoolSaturated,
                pid: None,
                subject: Some("db_pool".into()),
                detail: format!(
                    "{} of {} connections checked out, {} requests queued; queue time p99 {:.0} ms",
                    pool.checked_out,
                    pool.size,
                    pool.queue_len,
                    pool.recent_queue_time.p99.as_secs_f64() * 1000.0
                ),
            });
        }
        let failed = pool.drops + pool.timeouts + pool.unavailable;
        if warnings
            .failed_requests
            .is_some_and(|before| failed > before)
        {
            findings.push(Finding {
                kind: WarningKind::PoolDropping,
                pid: None,
                subject: Some("db_pool".into()),
                detail: format!(
                    "{} dropped while the queue was slow, {} refused, {} timed out since start",
                    pool.drops, pool.unavailable, pool.timeouts
                ),
            });
        }
        warnings.failed_requests = Some(failed);
    }

    let runtime = &sample.runtime;
    if warnings
        .long_polls_seen
        .is_some_and(|seen| runtime.long_polls_total > seen)
    {
        for poll in runtime
            .recent_long_polls
            .iter()
            .filter(|p| p.at > warnings.last_long_poll_at)
        {
            findings.push(Finding {
                kind: WarningKind::LongPoll,
                pid: Some(poll.pid),
                subject: Some(poll.name.clone()),
                detail: format!(
                    "one poll ran {:.0} ms on scheduler {}{}",
                    poll.running_for.as_secs_f64() * 1000.0,
                    poll.worker + 1,
                    if poll.finished {
                        ""
                    } else {
                        " and was still running"
                    }
                ),
            });
        }
    }
    if let Some(last) = runtime.recent_long_polls.last() {
        warnings.last_long_poll_at = last.at;
    }
    warnings.long_polls_seen = Some(runtime.long_polls_total);
    for (pid, running) in &runtime.not_yielding {
        findings.push(Finding {
            kind: WarningKind::LongPoll,
            pid: Some(*pid),
            subject: None,
            detail: format!(
                "not yielding: its current poll has run {:.0} ms",
                running.as_secs_f64() * 1000.0
            ),
        });
    }

    warnings.merge(findings, now);
}

fn push_bounded(values: &mut VecDeque<usize>, value: usize) {
    if values.len() == TRACK_SAMPLES {
        values.pop_front();
    }
    values.push_back(value);
}

/// The process count rose at nearly every one of the last samples, by a real amount.
fn steady_climb(histories: &Histories) -> Option<String> {
    if histories.processes.len() < LEAK_SAMPLES {
        return None;
    }
    let counts: Vec<f64> = histories.processes.newest(LEAK_SAMPLES).collect();
    let rises = counts.windows(2).filter(|w| w[1] > w[0]).count();
    let falls = counts.windows(2).filter(|w| w[1] < w[0]).count();
    let (first, last) = (counts[0], counts[counts.len() - 1]);
    let grew = last - first;
    let intervals = LEAK_SAMPLES - 1;
    // Rising at four of five intervals, falling at no more than one in ten.
    let steady = rises * 5 >= intervals * 4 && falls * 10 <= intervals;
    (steady && grew >= 100.0_f64.max(first * 0.05)).then(|| {
        format!(
            "from {first:.0} to {last:.0} processes over the last {LEAK_SAMPLES} samples, \
             rising at {rises} of {}",
            LEAK_SAMPLES - 1
        )
    })
}

/// Long and rising at each of the last three samples, or simply very long.
fn mailbox_growing(lens: &VecDeque<usize>) -> Option<String> {
    let last = *lens.back()?;
    if last >= MAILBOX_LONG {
        return Some(format!("{last} messages waiting"));
    }
    if last < MAILBOX_GROWING || lens.len() < 4 {
        return None;
    }
    let recent: Vec<usize> = lens.iter().rev().take(4).rev().copied().collect();
    recent.windows(2).all(|w| w[1] > w[0]).then(|| {
        format!(
            "from {} to {last} messages waiting over the last {} samples",
            recent[0],
            recent.len()
        )
    })
}

/// Large, never shrinking, rising at most samples and by at least a fifth.
fn memory_growing(memory: &VecDeque<usize>) -> Option<String> {
    let last = *memory.back()?;
    if last < MEMORY_GROWING || memory.len() < 6 {
        return None;
    }
    let first = memory[0];
    let never_shrinks = memory
        .iter()
        .zip(memory.iter().skip(1))
        .all(|(a, b)| b >= a);
    let rises = memory
        .iter()
        .zip(memory.iter().skip(1))
        .filter(|(a, b)| b > a)
        .count();
    (never_shrinks && rises * 3 >= (memory.len() - 1) * 2 && last * 5 >= first * 6).then(|| {
        format!(
            "from {} to {} over the last {} samples",
            crate::panels::format_bytes(first),
            crate::panels::format_bytes(last),
            memory.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mailbox_warns_when_long_and_rising_three_times_in_a_row() {
        let lens = |v: &[usize]| v.iter().copied().collect::<VecDeque<_>>();
        assert!(mailbox_growing(&lens(&[100, 200, 300, 400])).is_some());
        assert!(mailbox_growing(&lens(&[100, 200, 200, 400])).is_none());
        assert!(mailbox_growing(&lens(&[10, 20, 30, 40])).is_none(), "short");
        assert!(
            mailbox_growing(&lens(&[MAILBOX_LONG])).is_some(),
            "very long"
        );
    }

    #[test]
    fn memory_warns_when_it_only_grows_by_a_fifth_or_more() {
        let kib = |v: &[usize]| v.iter().map(|k| k * 1024).collect::<VecDeque<_>>();
        assert!(memory_growing(&kib(&[200, 210, 220, 230, 240, 250])).is_some());
        assert!(memory_growing(&kib(&[200, 210, 205, 230, 240, 250])).is_none());
        assert!(memory_growing(&kib(&[200, 201, 202, 203, 204, 205])).is_none());
    }

    #[test]
    fn a_warning_resolves_when_its_condition_ends_and_sticky_ones_linger() {
        let mut warnings = Warnings::default();
        let t0 = Instant::now();
        let finding = |kind| Finding {
            kind,
            pid: None,
            subject: None,
            detail: String::new(),
        };
        warnings.merge(
            vec![
                finding(WarningKind::PoolSaturated),
                finding(WarningKind::PoolDropping),
            ],
            t0,
        );
        assert_eq!(warnings.active(), 2);
        warnings.merge(Vec::new(), t0 + Duration::from_secs(1));
        assert_eq!(warnings.active(), 1, "the drop warning lingers");
        warnings.merge(Vec::new(), t0 + STICKY + Duration::from_secs(1));
        assert_eq!(warnings.active(), 0);
        assert_eq!(warnings.list().count(), 2, "resolved ones stay listed");
    }
}
