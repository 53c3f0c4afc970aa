//! The trace the sequence diagram shows ([`Tracing`]), starting and stopping it, and turning
//! its events into a [`Diagram`]: lifelines and, in order, arrows and marks.

use bevy_ecs::prelude::*;
use crashcourse_runtime::{Pid, Trace, TraceEnd, TraceEvent, TraceSpec, TraceWhat};

use super::link::RuntimeLink;

/// The trace on show (the last one started from the inspector or handed over by the console).
#[derive(Resource, Default)]
pub struct Tracing {
    pub current: Option<Trace>,
}

impl Tracing {
    /// Whether a trace is still recording (the window keeps repainting while it does).
    pub fn recording(&self) -> bool {
        self.current.as_ref().is_some_and(|t| t.ended().is_none())
    }
}

/// Starts a trace of `pid` with the default bounds (50 events or 1 s) and shows it, stopping
/// the one shown before.
pub fn start_trace(world: &mut World, pid: Pid) -> Result<(), String> {
    let handle = world.resource::<RuntimeLink>().handle.clone();
    if let Some(old) = world.resource_mut::<Tracing>().current.take() {
        old.stop();
    }
    let trace = handle
        .trace(TraceSpec::of(vec![pid]))
        .map_err(|e| format!("could not trace {pid}: {e}"))?;
    show_trace(world, trace);
    Ok(())
}

/// Shows `trace` in the sequence diagram (the console hands its traces over this way).
pub fn show_trace(world: &mut World, trace: Trace) {
    world.resource_mut::<Tracing>().current = Some(trace);
}

/// Stops the trace on show, if it is still recording.
pub fn stop_trace(world: &mut World) {
    if let Some(trace) = &world.resource::<Tracing>().current {
        trace.stop();
    }
}

/// What the diagram's status line says: "recording: 12 events", "stopped: 50 events",
/// "stopped: 1 s", ...
pub fn trace_status(trace: &Trace, events: usize) -> String {
    match trace.ended() {
        None => format!("recording: {events} events"),
        Some(TraceEnd::Count) => format!("stopped: {} events", trace.max_events()),
        Some(TraceEnd::Time) => format!("stopped: {}", seconds(trace.max_time())),
        Some(TraceEnd::Stopped) => format!("stopped by request after {events} events"),
        Some(TraceEnd::AllExited) => "stopped: the traced processes exited".to_string(),
    }
}

fn seconds(d: std::time::Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// A lifeline: a process, or "outside" (the app, a timer: a sender that is no process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lane {
    pub pid: Option<Pid>,
    /// One of the traced processes (the others are peers that appeared in their events).
    pub traced: bool,
}

/// One line of the diagram, in trace order.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A message from one lane to another.
    Message {
        from: usize,
        to: usize,
        text: String,
    },
    /// A spawn, link or unlink between two lanes.
    Relation {
        from: usize,
        to: usize,
        what: &'static str,
    },
    /// The lane's process exited.
    Exit { lane: usize, reason: String },
}

/// Lifelines and steps of a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diagram {
    pub lanes: Vec<Lane>,
    pub steps: Vec<Step>,
}

impl Diagram {
    /// The diagram of `events` of a trace of `traced`: the traced processes' lifelines first,
    /// then peers as they appear. A message between two traced processes is drawn once (its
    /// send); a receive is drawn only when its sender is not traced.
    pub fn of(traced: &[Pid], events: &[TraceEvent]) -> Diagram {
        let mut d = Diagram {
            lanes: traced
                .iter()
                .map(|p| Lane {
                    pid: Some(*p),
                    traced: true,
                })
                .collect(),
            steps: Vec::new(),
        };
        for e in events {
            let me = d.lane(Some(e.pid));
            let step = match &e.what {
                TraceWhat::Send { to, text, .. } => Step::Message {
                    from: me,
                    to: d.lane(Some(*to)),
                    text: text.clone(),
                },
                TraceWhat::Receive { from, text } => {
                    if from.is_some_and(|f| traced.contains(&f)) {
                        continue;
                    }
                    Step::Message {
                        from: d.lane(*from),
                        to: me,
                        text: text.clone(),
                    }
                }
                TraceWhat::Spawn { child } => Step::Relation {
                    from: me,
                    to: d.lane(Some(*child)),
                    what: "spawn",
                },
                TraceWhat::Link { other } => Step::Relation {
                    from: me,
                    to: d.lane(Some(*other)),
                    what: "link",
                },
                TraceWhat::Unlink { other } => Step::Relation {
                    from: me,
                    to: d.lane(Some(*other)),
                    what: "unlink",
                },
                TraceWhat::Exit { reason } => Step::Exit {
                    lane: me,
                    reason: reason.to_string(),
                },
            };
            d.steps.push(step);
        }
        d
    }

    /// The index of `pid`'s lane, added if new.
    fn lane(&mut self, pid: Option<Pid>) -> usize {
        if let Some(i) = self.lanes.iter().position(|l| l.pid == pid) {
            return i;
        }
        self.lanes.push(Lane { pid, traced: false });
        self.lanes.len() - 1
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crashcourse_runtime::ExitReason;

    fn ev(pid: u64, what: TraceWhat) -> TraceEvent {
        TraceEvent {
            at: Duration::ZERO,
            pid: Pid::from_id(pid),
            what,
        }
    }

    #[test]
    fn a_message_between_traced_processes_is_one_arrow_and_peers_get_lanes_as_they_appear() {
        let (a, b, c) = (Pid::from_id(1), Pid::from_id(2), Pid::from_id(3));
        let events = vec![
            ev(
                1,
                TraceWhat::Receive {
                    from: None,
                    text: "go".into(),
                },
            ),
            ev(
                1,
                TraceWhat::Send {
                    from: Some(a),
                    to: b,
                    text: "ping".into(),
                },
            ),
            ev(
                2,
                TraceWhat::Receive {
                    from: Some(a),
                    text: "ping".into(),
                },
            ),
            ev(2, TraceWhat::Spawn { child: c }),
            ev(2, TraceWhat::Link { other: c }),
            ev(
                2,
                TraceWhat::Exit {
                    reason: ExitReason::Normal,
                },
            ),
        ];
        let d = Diagram::of(&[a, b], &events);
        assert_eq!(
            d.lanes,
            vec![
                Lane {
                    pid: Some(a),
                    traced: true
                },
                Lane {
                    pid: Some(b),
                    traced: true
                },
                Lane {
                    pid: None,
                    traced: false
                },
                Lane {
                    pid: Some(c),
                    traced: false
                },
            ]
        );
        assert_eq!(
            d.steps,
            vec![
                Step::Message {
                    from: 2,
                    to: 0,
                    text: "go".into()
                },
                Step::Message {
                    from: 0,
                    to: 1,
                    text: "ping".into()
                },
                Step::Relation {
                    from: 1,
                    to: 3,
                    what: "spawn"
                },
                Step::Relation {
                    from: 1,
                    to: 3,
                    what: "link"
                },
                Step::Exit {
                    lane: 1,
                    reason: "normal".into()
                },
            ]
        );
    }
}
