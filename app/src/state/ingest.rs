//! Systems that read the runtime: its event stream (every frame, in batches), the observer's
//! process-table diffs and metrics samples, and `process_info` of the selected process.

use std::time::Instant;

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::{EventKind, SignalOutcome};
use crashcourse_runtime::{ExitReason, Kind, Pid, Status};

use super::animation::{Flash, FlashKind};
use super::chat::{ChatServer, ChatStats};
use super::components::{
    Counters, FrameClock, Identity, Inspected, Lingering, Parentage, PidIndex, ProcessId,
    ProcessStatus, RuntimeStats, Selection, SiblingOrder, StopReport, SupervisorLoad,
    TopSupervisors, ViewGeneration,
};
use super::link::RuntimeLink;
use super::neighbourhood::{SeenSignal, SignalTrail};
use super::observer::{MetricsSample, SnapshotDiff};
use super::timeline::{Notable, Timeline, TimelineEntry};
use super::tree_graph::{RecentRestarts, SeenRestart};

/// At most this many events are ingested per frame; the rest wait for the next one.
pub const EVENTS_PER_FRAME: usize = 20_000;

/// What the observer sent this frame.
#[derive(Resource, Default)]
pub struct Observations {
    pub diff: Option<SnapshotDiff>,
    pub samples: Vec<MetricsSample>,
}

/// Run condition: the inspector's `process_info` is due this frame.
pub fn inspection_due(clock: Res<FrameClock>) -> bool {
    clock.snapshot_due
}

/// Applies the events recorded since the last frame: spawns and exits change the process
/// entities at once (so a crash flashes without waiting for a snapshot); restarts,
/// abnormal exits, intensity and escalations go to the timeline.
pub fn ingest_runtime_events(world: &mut World) {
    let (events, dropped) = {
        let mut link = world.resource_mut::<RuntimeLink>();
        let link = &mut *link;
        let events = link.handle.read_events(&mut link.events, EVENTS_PER_FRAME);
        link.behind = events.len() == EVENTS_PER_FRAME;
        (events, link.events.dropped())
    };
    if world.resource::<RuntimeStats>().events_dropped != dropped {
        world.resource_mut::<RuntimeStats>().events_dropped = dropped;
    }
    if events.is_empty() {
        return;
    }
    let now = world.resource::<FrameClock>().now;
    for event in events {
        match event.kind {
            EventKind::Spawned {
                parent,
                kind,
                label,
            } => on_spawned(world, event.pid, parent, kind, label),
            EventKind::Exited { reason } => {
                on_exited(world, event.pid, reason, event.seq, event.at, now)
            }
            EventKind::Restarted {
                child,
                old,
                new,
                reason,
            } => {
                let child_label = label_of(world, new).unwrap_or_else(|| child.to_string());
                let sup = label_of(world, event.pid).unwrap_or_else(|| event.pid.to_string());
                world.resource_mut::<Timeline>().push(TimelineEntry {
                    seq: event.seq,
                    at: event.at,
                    pid: new,
                    what: Notable::Restart,
                    text: format!(
                        "{child_label} restarted by {sup} after: {reason} (was {old}, now {new})"
                    ),
                });
                world.resource_mut::<RecentRestarts>().record(
                    new,
                    SeenRestart {
                        supervisor: event.pid,
                        old,
                        reason: reason.clone(),
                        seen: now,
                    },
                );
                let order = entity_of(world, old)
                    .and_then(|e| world.get::<SiblingOrder>(e).copied())
                    .unwrap_or(SiblingOrder::of(old));
                if let Some(entity) = entity_of(world, new) {
                    world
                        .entity_mut(entity)
                        .insert((Flash::new(FlashKind::Restart, now), order));
                    world.resource_mut::<ViewGeneration>().bump();
                }
                let mut selection = world.resource_mut::<Selection>();
                if selection.pid == Some(old) {
                    *selection = Selection {
                        pid: Some(new),
                        followed: Some((old, new)),
                    };
                }
            }
            EventKind::IntensityExceeded {
                restarts,
                max_restarts,
                period,
            } => {
                let sup = label_of(world, event.pid).unwrap_or_else(|| event.pid.to_string());
                let why = format!(
                    "went over its restart intensity: {restarts} restarts in {}s (at most {max_restarts} allowed)",
                    period.as_secs_f32()
                );
                world.resource_mut::<Timeline>().push(TimelineEntry {
                    seq: event.seq,
                    at: event.at,
                    pid: event.pid,
                    what: Notable::IntensityExceeded,
                    text: format!("{sup} {why}"),
                });
                if let Some(top) = world.resource_mut::<TopSupervisors>().by_pid_mut(event.pid) {
                    top.over_intensity = Some(why);
                }
            }
            EventKind::Escalated { to } => {
                let sup = label_of(world, event.pid).unwrap_or_else(|| event.pid.to_string());
                let text = match to {
                    Some(to) => {
                        let to = label_of(world, to).unwrap_or_else(|| to.to_string());
                        format!("{sup} gave up: the failure goes to {to}")
                    }
                    None => format!("{sup} gave up: nothing supervises it"),
                };
                world.resource_mut::<Timeline>().push(TimelineEntry {
                    seq: event.seq,
                    at: event.at,
                    pid: event.pid,
                    what: Notable::Escalation,
                    text,
                });
            }
            EventKind::Signal {
                from,
                reason,
                outcome,
            } => on_signal(
                world, event.seq, event.at, from, event.pid, reason, outcome, now,
            ),
            _ => {}
        }
    }
}

/// An exit signal or `DOWN` reached `to`: the neighbourhood view animates it; one between two
/// processes that is not `normal` or `shutdown` also goes to the timeline, saying what the
/// receiver did (a kill or exit from the app is there already as the exit it causes).
#[allow(clippy::too_many_arguments)]
fn on_signal(
    world: &mut World,
    seq: u64,
    at: std::time::Duration,
    from: Pid,
    to: Pid,
    reason: ExitReason,
    outcome: SignalOutcome,
    now: Instant,
) {
    let signal = SeenSignal {
        from,
        to,
        reason,
        outcome,
        seen: now,
    };
    if signal.reason.is_abnormal() && from != Pid::OUTSIDE && !leaked(world, to) {
        let sender = label_of(world, from).unwrap_or_else(|| from.to_string());
        let receiver = label_of(world, to).unwrap_or_else(|| to.to_string());
        let what = match outcome {
            SignalOutcome::Down => "DOWN",
            _ => "exit signal",
        };
        world.resource_mut::<Timeline>().push(TimelineEntry {
            seq,
            at,
            pid: to,
            what: Notable::Signal,
            text: format!(
                "{what} from {sender} to {receiver} {to}: {}",
                signal.describe()
            ),
        });
    }
    world.resource_mut::<SignalTrail>().push(signal);
}

fn entity_of(world: &World, pid: Pid) -> Option<Entity> {
    world
        .resource::<PidIndex>()
        .0
        .get(&pid)
        .copied()
        .filter(|e| world.get_entity(*e).is_ok())
}

fn label_of(world: &World, pid: Pid) -> Option<String> {
    entity_of(world, pid)
        .and_then(|e| world.get::<Identity>(e))
        .map(|i| i.label.to_string())
}

fn on_spawned(
    world: &mut World,
    pid: Pid,
    parent: Option<Pid>,
    kind: Kind,
    label: Option<std::sync::Arc<str>>,
) {
    if entity_of(world, pid).is_some() {
        return;
    }
    let identity = Identity::new(pid, label.unwrap_or_else(|| kind.name().into()), None, kind);
    let entity = world
        .spawn((
            ProcessId(pid),
            identity,
            Parentage { parent },
            SiblingOrder::of(pid),
            ProcessStatus::Alive(Status::Runnable),
            Counters::default(),
        ))
        .id();
    world.resource_mut::<PidIndex>().0.insert(pid, entity);
    world.resource_mut::<ViewGeneration>().bump();
}

fn on_exited(
    world: &mut World,
    pid: Pid,
    reason: ExitReason,
    seq: u64,
    at: std::time::Duration,
    now: Instant,
) {
    let label = label_of(world, pid);
    if let Some(entity) = entity_of(world, pid) {
        let mut e = world.entity_mut(entity);
        let at = match e.get::<ProcessStatus>() {
            Some(ProcessStatus::Exited { at, .. }) => *at,
            _ => now,
        };
        e.insert((
            ProcessStatus::Exited {
                reason: Some(reason.clone()),
                at,
            },
            Lingering,
        ));
        if reason.is_abnormal() {
            e.insert(Flash::new(FlashKind::Crash, now));
        }
        world.resource_mut::<ViewGeneration>().bump();
    }
    if reason.is_abnormal() && !leaked(world, pid) {
        let who = label.clone().unwrap_or_else(|| pid.to_string());
        world.resource_mut::<Timeline>().push(TimelineEntry {
            seq,
            at,
            pid,
            what: Notable::Exit,
            text: format!("{who} {pid} exited: {reason}"),
        });
    }
    let mut tops = world.resource_mut::<TopSupervisors>();
    if let Some(top) = tops.by_pid_mut(pid) {
        let why = top.over_intensity.clone();
        let label = label.unwrap_or_else(|| top.label.clone());
        match &mut top.stopped {
            // Noticed first by its absence from a snapshot: now the reason is known.
            Some(report) if report.reason.is_none() => report.reason = Some(reason),
            Some(_) => {}
            None => {
                top.stopped = Some(StopReport {
                    pid: Some(pid),
                    label,
                    reason: Some(reason),
                    why,
                })
            }
        }
    }
}

/// Whether `pid` is one of the leak fault's processes (under its supervisor "leak"): they end
/// only when the fault is switched off, thousands at once, which is cleanup, not a failure
/// worth a line of the timeline each.
fn leaked(world: &World, pid: Pid) -> bool {
    entity_of(world, pid)
        .and_then(|e| world.get::<Parentage>(e))
        .and_then(|p| p.parent)
        .and_then(|parent| label_of(world, parent))
        .is_some_and(|label| label == LEAK_SUPERVISOR)
}

/// The label of the leak fault's supervisor.
const LEAK_SUPERVISOR: &str = "leak";

/// Takes what the observer thread gathered since the last frame.
pub fn take_observations(link: Res<RuntimeLink>, mut observations: ResMut<Observations>) {
    let (diff, samples) = link.observer.take();
    observations.diff = diff;
    observations.samples = samples;
}

/// Run condition: the observer sent a process-table diff this frame.
pub fn diff_arrived(observations: Res<Observations>) -> bool {
    observations.diff.is_some()
}

/// Run condition: the observer sent metrics samples this frame.
pub fn samples_arrived(observations: Res<Observations>) -> bool {
    !observations.samples.is_empty()
}

/// Brings the process entities up to date with the observer's diff of the process table: new
/// processes appear, changed counters and supervisor use are written, processes gone from the
/// table are marked exited. Costs what changed, not what exists.
#[allow(clippy::too_many_arguments)]
pub fn apply_snapshot_diff(
    mut commands: Commands,
    mut observations: ResMut<Observations>,
    mut link: ResMut<RuntimeLink>,
    mut index: ResMut<PidIndex>,
    mut stats: ResMut<RuntimeStats>,
    mut generation: ResMut<ViewGeneration>,
    mut tops: ResMut<TopSupervisors>,
    clock: Res<FrameClock>,
    mut processes: Query<(
        &mut Identity,
        &mut Parentage,
        &mut ProcessStatus,
        &mut Counters,
        Option<&mut SupervisorLoad>,
    )>,
) {
    let Some(diff) = observations.diff.take() else {
        return;
    };
    let link = &mut *link;
    link.snapshots += 1;
    let taken_at = diff.taken_at.unwrap_or(clock.now);
    let mut changed = false;
    for row in &diff.changed {
        let existing = index.0.get(&row.pid).copied();
        match existing.and_then(|e| processes.get_mut(e).ok()) {
            Some((mut identity, mut parentage, mut status, mut counters, load)) => {
                if !identity.agrees_with(row) {
                    *identity = Identity::from_row(row);
                    changed = true;
                }
                changed |= parentage.set_if_neq(Parentage { parent: row.parent });
                if status.is_alive() {
                    status.set_if_neq(ProcessStatus::Alive(row.status));
                }
                let mut fresh = Counters::from_row(row, taken_at);
                // Keep the first estimate of its birth: re-deriving it would only jitter.
                fresh.born = counters.born.or(fresh.born);
                counters.set_if_neq(fresh);
                match (load, &row.supervisor) {
                    (Some(mut load), Some(sup)) => {
                        load.set_if_neq(SupervisorLoad(sup.clone()));
                    }
                    (None, Some(sup)) => {
                        if let Some(e) = existing {
                            commands.entity(e).insert(SupervisorLoad(sup.clone()));
                        }
                    }
                    _ => {}
                }
            }
            None if link.departed.contains(&row.pid) => {}
            None => {
                let mut entity = commands.spawn((
                    ProcessId(row.pid),
                    Identity::from_row(row),
                    Parentage { parent: row.parent },
                    SiblingOrder::of(row.pid),
                    ProcessStatus::Alive(row.status),
                    Counters::from_row(row, taken_at),
                ));
                if let Some(sup) = &row.supervisor {
                    entity.insert(SupervisorLoad(sup.clone()));
                }
                index.0.insert(row.pid, entity.id());
                changed = true;
            }
        }
    }
    for pid in &diff.gone {
        let Some(entity) = index.0.get(pid).copied() else {
            continue;
        };
        if let Ok((_, _, mut status, _, _)) = processes.get_mut(entity) {
            if status.is_alive() {
                *status = ProcessStatus::Exited {
                    reason: None,
                    at: clock.now,
                };
                commands.entity(entity).insert(Lingering);
                changed = true;
            }
        }
        // A top supervisor's exit event may have been lost to a full stream; its absence from
        // the table says the same, and its tombstone still knows the reason.
        if let Some(top) = tops.by_pid_mut(*pid) {
            if top.stopped.is_none() {
                let reason = link.handle.process_info(*pid).and_then(|i| i.last_exit);
                top.stopped = Some(StopReport {
                    pid: Some(*pid),
                    label: top.label.clone(),
                    reason,
                    why: top.over_intensity.clone(),
                });
            }
        }
    }
    if changed {
        generation.bump();
    }
    if stats.process_count != diff.process_count || stats.memory != diff.memory {
        stats.process_count = diff.process_count;
        stats.memory = diff.memory;
    }
    if stats.stopped != diff.stopped {
        stats.stopped = diff.stopped;
    }
}

/// Turns the newest metrics sample into the figures the status bar shows.
pub fn update_runtime_stats(
    observations: Res<Observations>,
    mut stats: ResMut<RuntimeStats>,
    mut chat: ResMut<ChatStats>,
) {
    let Some(sample) = observations.samples.last() else {
        return;
    };
    stats.messages_per_sec = sample.rates.messages_per_sec;
    stats.busy.clone_from(&sample.rates.busy_fraction);
    stats.run_queue = sample.runtime.run_queue;
    stats.not_yielding = sample.runtime.not_yielding.len();
    stats.long_polls_total = sample.runtime.long_polls_total;
    stats.restarts_total = sample.runtime.restarts_total;
    if let Some(c) = &sample.chat {
        chat.connections = c.connections;
        chat.joins = c.joins;
        chat.pool = Some(c.pool.clone());
    }
}

/// Reads the chat server's connection gauge every frame (one atomic load), so a new
/// connection shows without waiting for the next metrics sample.
pub fn read_connection_gauge(server: Res<ChatServer>, mut chat: ResMut<ChatStats>) {
    let now = server.connections();
    if chat.connections != now {
        chat.connections = now;
    }
}

/// Fetches `process_info` for the selected process (live, or a recent tombstone).
pub fn inspect_selected_process(
    link: Res<RuntimeLink>,
    selection: Res<Selection>,
    mut inspected: ResMut<Inspected>,
) {
    let fresh = selection.pid.and_then(|pid| link.handle.process_info(pid));
    match (fresh, inspected.0.take()) {
        (Some(info), _) => inspected.0 = Some(info),
        // Gone, and its tombstone too (thousands exited since): keep what was last seen.
        (None, Some(mut last)) if Some(last.pid) == selection.pid => {
            last.status = Status::Exited;
            inspected.0 = Some(last);
        }
        (None, _) => {}
    }
}
