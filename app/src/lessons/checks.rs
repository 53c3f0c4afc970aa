//! Deciding whether a step's check holds: events counted since the step became current (in a
//! sliding window if asked), metrics over or under a threshold for long enough, a quiz answered
//! right, or "Done" pressed. Once a check holds it stays held for that step.

use std::collections::VecDeque;
use std::time::Instant;

use crashcourse_runtime::observe::EventKind;
use crashcourse_runtime::{ExitReason, Kind};

use super::model::{Bound, Check, EventCheck, EventName};

/// Who an event is about, as far as the engine knows.
#[derive(Clone, Debug, Default)]
pub struct Who {
    pub kind: Option<Kind>,
    pub label: String,
    pub name: Option<String>,
}

/// The running state of one step's check.
#[derive(Debug)]
pub struct CheckState {
    /// When matching events were seen (only the last `count` are kept).
    hits: VecDeque<Instant>,
    /// Since when the metric condition has held without a break.
    holding_since: Option<Instant>,
    /// The learner's quiz answer, if any.
    pub answer: Option<usize>,
    /// "Done" pressed.
    pub done: bool,
    held: bool,
}

impl CheckState {
    pub fn new() -> CheckState {
        CheckState {
            hits: VecDeque::new(),
            holding_since: None,
            answer: None,
            done: false,
            held: false,
        }
    }

    /// Whether the check has held (it never un-holds within a step).
    pub fn held(&self) -> bool {
        self.held
    }

    /// Matching events counted so far (for "2 of 3").
    pub fn hits(&self) -> usize {
        self.hits.len()
    }

    /// Counts one runtime event at `at` if it matches an event check.
    pub fn observe(&mut self, check: &Check, kind: &EventKind, who: &Who, at: Instant) {
        let Check::Event(e) = check else { return };
        if self.held || !matches(e, kind, who) {
            return;
        }
        self.hits.push_back(at);
        if let Some(window) = e.within {
            while self
                .hits
                .front()
                .is_some_and(|&t| at.saturating_duration_since(t) > window)
            {
                self.hits.pop_front();
            }
        }
        while self.hits.len() > e.count as usize {
            self.hits.pop_front();
        }
        if self.hits.len() >= e.count as usize {
            self.held = true;
        }
    }

    /// Re-evaluates metric, quiz and done checks at `now`; `value` reads a metric.
    pub fn evaluate(
        &mut self,
        check: &Check,
        now: Instant,
        value: impl FnOnce(&str) -> Option<f64>,
    ) -> bool {
        if self.held {
            return true;
        }
        match check {
            Check::Event(_) => {}
            Check::Metric {
                metric,
                bound,
                hold,
            } => {
                let ok = value(metric).is_some_and(|v| match bound {
                    Bound::Above(t) => v > *t,
                    Bound::Below(t) => v < *t,
                });
                if ok {
                    let since = *self.holding_since.get_or_insert(now);
                    if now.saturating_duration_since(since) >= *hold {
                        self.held = true;
                    }
                } else {
                    self.holding_since = None;
                }
            }
            Check::Quiz { correct, .. } => self.held = self.answer == Some(*correct),
            Check::Done => self.held = self.done,
        }
        self.held
    }
}

impl Default for CheckState {
    fn default() -> Self {
        CheckState::new()
    }
}

/// Whether runtime event `kind` about `who` is one `e` counts.
pub fn matches(e: &EventCheck, kind: &EventKind, who: &Who) -> bool {
    let (name_of_event, reason): (EventName, Option<&ExitReason>) = match kind {
        EventKind::Spawned { .. } => (EventName::Spawned, None),
        EventKind::Exited { reason } => (EventName::Exited, Some(reason)),
        EventKind::Registered { .. } => (EventName::Registered, None),
        EventKind::Linked { .. } => (EventName::Linked, None),
        EventKind::Unlinked { .. } | EventKind::Signal { .. } => return false,
        EventKind::Monitor { .. } => (EventName::Monitor, None),
        EventKind::Restarted { reason, .. } => (EventName::Restarted, Some(reason)),
        EventKind::IntensityExceeded { .. } => (EventName::IntensityExceeded, None),
        EventKind::Escalated { .. } => (EventName::Escalated, None),
        EventKind::LongPoll { .. } => (EventName::LongPoll, None),
    };
    if name_of_event != e.event {
        return false;
    }
    // A restart is about the child the supervisor restarted: match its id as well.
    let child = match kind {
        EventKind::Restarted { child, .. } => Some(&**child),
        EventKind::Registered { name } => Some(&**name),
        _ => None,
    };
    if let Some(want) = &e.name {
        let by_name = who.name.as_deref() == Some(want.as_str());
        if !by_name && child != Some(want.as_str()) {
            return false;
        }
    }
    if let Some(want) = e.kind_of {
        if who.kind != Some(want) {
            return false;
        }
    }
    if let Some(want) = &e.label {
        let in_label = who.label.contains(want.as_str());
        if !in_label && !child.is_some_and(|c| c.contains(want.as_str())) {
            return false;
        }
    }
    if let Some(want) = &e.reason {
        let Some(reason) = reason else { return false };
        if !reason_matches(want, reason) {
            return false;
        }
    }
    true
}

/// `normal`, `shutdown`, `killed`, `kill`, `panic` name a reason exactly; anything else is a
/// substring of the reason's text.
fn reason_matches(want: &str, reason: &ExitReason) -> bool {
    match want {
        "normal" => *reason == ExitReason::Normal,
        "shutdown" => *reason == ExitReason::Shutdown,
        "killed" => *reason == ExitReason::Killed,
        "kill" => matches!(reason, ExitReason::Kill | ExitReason::Killed),
        "panic" => matches!(reason, ExitReason::Panic(_)),
        other => reason.to_string().contains(other),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn exit_check(count: u32, within: Option<Duration>) -> Check {
        Check::Event(EventCheck {
            event: EventName::Exited,
            name: None,
            kind_of: Some(Kind::Worker),
            label: Some("singer".into()),
            reason: Some("killed".into()),
            count,
            within,
        })
    }

    fn singer() -> Who {
        Who {
            kind: Some(Kind::Worker),
            label: "singer".into(),
            name: Some("singer".into()),
        }
    }

    #[test]
    fn event_checks_count_only_matching_events_inside_their_window() {
        let check = exit_check(3, Some(Duration::from_secs(5)));
        let mut state = CheckState::new();
        let t0 = Instant::now();
        let killed = EventKind::Exited {
            reason: ExitReason::Killed,
        };
        let normal = EventKind::Exited {
            reason: ExitReason::Normal,
        };
        state.observe(&check, &normal, &singer(), t0);
        state.observe(&check, &killed, &Who::default(), t0);
        state.observe(&check, &killed, &singer(), t0);
        state.observe(&check, &killed, &singer(), t0 + Duration::from_secs(6));
        state.observe(&check, &killed, &singer(), t0 + Duration::from_secs(7));
        assert!(!state.held(), "the first kill fell out of the 5 s window");
        state.observe(&check, &killed, &singer(), t0 + Duration::from_secs(8));
        assert!(state.held());
    }

    #[test]
    fn metric_checks_must_hold_for_their_duration() {
        let check = Check::Metric {
            metric: "processes".into(),
            bound: Bound::Above(10.0),
            hold: Duration::from_secs(2),
        };
        let mut state = CheckState::new();
        let t0 = Instant::now();
        assert!(
            !state.evaluate(&check, t0, |_| None),
            "not available never holds"
        );
        assert!(!state.evaluate(&check, t0, |_| Some(11.0)));
        assert!(!state.evaluate(&check, t0 + Duration::from_secs(1), |_| Some(9.0)));
        assert!(!state.evaluate(&check, t0 + Duration::from_secs(2), |_| Some(11.0)));
        assert!(state.evaluate(&check, t0 + Duration::from_secs(4), |_| Some(11.0)));
    }
}
