//! The selected process's neighbourhood: its links and monitors (kept after it is gone, since
//! a dead process no longer has any), and the exit signals and `DOWN`s recently seen crossing
//! them, with what each receiver did — the inspector draws it as a small graph.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::SignalOutcome;
use crashcourse_runtime::{ExitReason, Pid};

use super::animation::Animating;
use super::components::{FrameClock, Inspected, Selection};

/// How many recent signals the trail keeps (any process's).
pub const TRAIL_CAPACITY: usize = 2_000;

/// How long a signal's edge animates from sender to receiver.
pub const TRAVEL: Duration = Duration::from_millis(900);

/// How long a receiver shows what it did with a signal.
pub const SHOWN_FOR: Duration = Duration::from_secs(8);

/// One exit signal (or monitor `DOWN`) seen in the event stream.
#[derive(Clone, Debug, PartialEq)]
pub struct SeenSignal {
    pub from: Pid,
    pub to: Pid,
    pub reason: ExitReason,
    pub outcome: SignalOutcome,
    /// When the view model ingested it (the frame clock).
    pub seen: Instant,
}

impl SeenSignal {
    /// How far along its edge the signal is drawn, 0.0 (at the sender) to 1.0 (arrived).
    pub fn progress(&self, now: Instant) -> f32 {
        let t = now.saturating_duration_since(self.seen).as_secs_f32() / TRAVEL.as_secs_f32();
        t.clamp(0.0, 1.0)
    }

    /// How much of its showing time has passed, 0.0 to 1.0.
    pub fn age_fraction(&self, now: Instant) -> f32 {
        let t = now.saturating_duration_since(self.seen).as_secs_f32() / SHOWN_FOR.as_secs_f32();
        t.clamp(0.0, 1.0)
    }

    /// Whether it is still worth drawing at `now`.
    pub fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.seen) < SHOWN_FOR
    }

    /// What the receiver did, in a few words.
    pub fn describe(&self) -> String {
        match self.outcome {
            SignalOutcome::Died => format!("died: {}", self.reason),
            SignalOutcome::Trapped => format!("trapped {{:EXIT, {}}}", self.reason),
            SignalOutcome::Ignored => format!("ignored {}", self.reason),
            SignalOutcome::Down => format!("got DOWN: {}", self.reason),
        }
    }
}

/// The newest signals, any process's, oldest first. Bounded.
#[derive(Resource, Debug, Default)]
pub struct SignalTrail {
    signals: VecDeque<SeenSignal>,
}

impl SignalTrail {
    pub fn push(&mut self, signal: SeenSignal) {
        if self.signals.len() == TRAIL_CAPACITY {
            self.signals.pop_front();
        }
        self.signals.push_back(signal);
    }

    /// Fresh signals sent or received by `pid`, oldest first.
    pub fn around(&self, pid: Pid, now: Instant) -> impl Iterator<Item = &SeenSignal> {
        self.signals
            .iter()
            .filter(move |s| (s.from == pid || s.to == pid) && s.fresh(now))
    }

    /// Whether some signal is still travelling along its edge.
    pub fn travelling(&self, now: Instant) -> bool {
        self.signals.back().is_some_and(|s| s.progress(now) < 1.0)
    }
}

/// How a neighbour is tied to the selected process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tie {
    /// Linked, both ways.
    Link,
    /// The selected process monitors it.
    Watches,
    /// It monitors the selected process.
    WatchedBy,
}

/// The links and monitors of the selected process as last seen alive.
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct Neighbourhood {
    /// The process these ties belong to.
    pub pid: Option<Pid>,
    pub ties: Vec<(Pid, Tie)>,
}

/// Keeps [`Neighbourhood`] on the selected process: its ties from the last `process_info`,
/// kept as they were when the process is gone (its exit removed them).
pub fn follow_neighbourhood(
    selection: Res<Selection>,
    inspected: Res<Inspected>,
    mut hood: ResMut<Neighbourhood>,
) {
    let Some(pid) = selection.pid else {
        if hood.pid.is_some() {
            *hood = Neighbourhood::default();
        }
        return;
    };
    if hood.pid != Some(pid) {
        *hood = Neighbourhood {
            pid: Some(pid),
            ties: Vec::new(),
        };
    }
    let Some(info) = inspected.0.as_ref().filter(|i| i.pid == pid) else {
        return;
    };
    if info.status == crashcourse_runtime::Status::Exited {
        return;
    }
    let ties: Vec<(Pid, Tie)> = info
        .links
        .iter()
        .map(|p| (*p, Tie::Link))
        .chain(info.monitors.iter().map(|(_, p)| (*p, Tie::Watches)))
        .chain(info.monitored_by.iter().map(|(_, p)| (*p, Tie::WatchedBy)))
        .collect();
    if hood.ties != ties {
        hood.ties = ties;
    }
}

/// Keeps frames coming at animation rate while a signal travels or its outcome shows.
pub fn animate_signals(
    clock: Res<FrameClock>,
    trail: Res<SignalTrail>,
    mut animating: ResMut<Animating>,
) {
    if !animating.0 && trail.travelling(clock.now) {
        animating.0 = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signal_travels_then_stays_shown_a_while_then_is_forgotten() {
        let now = Instant::now();
        let signal = SeenSignal {
            from: Pid::from_id(1),
            to: Pid::from_id(2),
            reason: ExitReason::Shutdown,
            outcome: SignalOutcome::Trapped,
            seen: now,
        };
        assert_eq!(signal.progress(now), 0.0);
        assert_eq!(signal.progress(now + TRAVEL), 1.0);
        let mut trail = SignalTrail::default();
        trail.push(signal);
        assert_eq!(trail.around(Pid::from_id(2), now).count(), 1);
        assert_eq!(trail.around(Pid::from_id(3), now).count(), 0);
        assert_eq!(trail.around(Pid::from_id(1), now + SHOWN_FOR).count(), 0);
        assert!(trail.travelling(now));
        assert!(!trail.travelling(now + TRAVEL));
    }
}
