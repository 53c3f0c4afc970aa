//! Systems that read the runtime: its event stream (every frame, in batches), process-table
//! snapshots and metrics (on an interval), and `process_info` of the selected process.

use std::collections::HashSet;
use std::time::Instant;

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::{EventKind, EventReader, MetricsSampler, ProcessRow};
use crashcourse_runtime::{ExitReason, Handle, Kind, Pid, Status};

use super::animation::{Flash, FlashKind};
use super::components::{
    Counters, FrameClock, Identity, Inspected, Parentage, PidIndex, ProcessId, ProcessStatus,
    RuntimeStats, Selection, SiblingOrder, StopReport, SupervisorLoad, TopSupervisor,
    ViewGeneration,
};
use super::history::{Notable, Timeline, TimelineEntry};

/// At most this many events are ingested per frame; the rest wait for the next one.
pub const EVENTS_PER_FRAME: usize = 20_000;

/// The view model's connection to the runtime: a handle, an event cursor, a metrics sampler,
/// and a reusable snapshot buffer.
#[derive(Resource)]
pub struct RuntimeLink {
    pub handle: Handle,
    events: EventReader,
    sampler: MetricsSampler,
    rows: Vec<ProcessRow>,
    seen: HashSet<Pid>,
    /// The last batch was full: more events are waiting.
    pub behind: bool,
    /// Snapshots taken so far (derived views re-sort when it moves).
    pub snapshots: u64,
}

impl RuntimeLink {
    /// Reads the stream from the oldest event the runtime still keeps, so processes started
    /// before the app are seen too.
    pub fn new(handle: Handle) -> RuntimeLink {
        RuntimeLink {
            events: handle.events_from_start(),
            handle,
            sampler: MetricsSampler::new(),
            rows: Vec::new(),
            seen: HashSet::new(),
            behind: false,
            snapshots: 0,
        }
    }
}

/// Run condition: a process-table snapshot is due this frame.
pub fn snapshot_due(clock: Res<FrameClock>) -> bool {
    clock.snapshot_due
}

/// Run condition: a metrics sample is due this frame.
pub fn metrics_due(clock: Res<FrameClock>) -> bool {
    clock.metrics_due
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
                let mut top = world.resource_mut::<TopSupervisor>();
                if top.pid == Some(event.pid) {
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
            _ => {}
        }
    }
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
    let identity = Identity {
        label: label.unwrap_or_else(|| kind.name().into()),
        name: None,
        kind,
    };
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
        e.insert(ProcessStatus::Exited {
            reason: Some(reason.clone()),
            at: now,
        });
        if reason.is_abnormal() {
            e.insert(Flash::new(FlashKind::Crash, now));
        }
        world.resource_mut::<ViewGeneration>().bump();
    }
    if reason.is_abnormal() {
        let who = label.clone().unwrap_or_else(|| pid.to_string());
        world.resource_mut::<Timeline>().push(TimelineEntry {
            seq,
            at,
            pid,
            what: Notable::Exit,
            text: format!("{who} {pid} exited: {reason}"),
        });
    }
    let mut top = world.resource_mut::<TopSupervisor>();
    if top.pid == Some(pid) && top.stopped.is_none() {
        let why = top.over_intensity.clone();
        top.stopped = Some(StopReport {
            pid,
            label: label.unwrap_or_else(|| top.label.clone()),
            reason: Some(reason),
            why,
        });
    }
}

/// Brings every process entity up to date with a fresh process-table snapshot: new processes
/// appear, counters and supervisor use change, processes missing from it are marked exited.
#[allow(clippy::too_many_arguments)]
pub fn apply_process_snapshot(
    mut commands: Commands,
    mut link: ResMut<RuntimeLink>,
    mut index: ResMut<PidIndex>,
    mut stats: ResMut<RuntimeStats>,
    mut generation: ResMut<ViewGeneration>,
    mut top: ResMut<TopSupervisor>,
    clock: Res<FrameClock>,
    mut processes: Query<(
        &mut Identity,
        &mut Parentage,
        &mut ProcessStatus,
        &mut Counters,
        Option<&mut SupervisorLoad>,
    )>,
) {
    let link = &mut *link;
    let stopped = link.handle.is_shutting_down();
    if stats.stopped != stopped {
        stats.stopped = stopped;
    }
    if stopped {
        link.rows.clear();
    } else {
        link.handle.process_table_into(&mut link.rows);
    }
    link.seen.clear();
    link.snapshots += 1;
    let mut memory = 0;
    let mut changed = false;
    for row in &link.rows {
        if row.status == Status::Exited {
            continue; // on its way out; its exit event or the next snapshot settles it
        }
        link.seen.insert(row.pid);
        memory += row.memory;
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
                counters.set_if_neq(Counters::from_row(row));
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
            None => {
                let mut entity = commands.spawn((
                    ProcessId(row.pid),
                    Identity::from_row(row),
                    Parentage { parent: row.parent },
                    SiblingOrder::of(row.pid),
                    ProcessStatus::Alive(row.status),
                    Counters::from_row(row),
                ));
                if let Some(sup) = &row.supervisor {
                    entity.insert(SupervisorLoad(sup.clone()));
                }
                index.0.insert(row.pid, entity.id());
                changed = true;
            }
        }
    }
    for (pid, entity) in &index.0 {
        if link.seen.contains(pid) {
            continue;
        }
        if let Ok((_, _, mut status, _, _)) = processes.get_mut(*entity) {
            if status.is_alive() {
                *status = ProcessStatus::Exited {
                    reason: None,
                    at: clock.now,
                };
                changed = true;
            }
        }
    }
    // The top supervisor's exit event may have been lost to a full stream; its absence from
    // the table says the same, and its tombstone still knows the reason.
    if let Some(pid) = top.pid {
        if top.stopped.is_none() && !link.seen.contains(&pid) {
            let reason = link.handle.process_info(pid).and_then(|i| i.last_exit);
            let why = top.over_intensity.clone();
            let label = top.label.clone();
            top.stopped = Some(StopReport {
                pid,
                label,
                reason,
                why,
            });
        }
    }
    if changed {
        generation.bump();
    }
    let count = link.seen.len();
    if stats.process_count != count || stats.memory != memory {
        stats.process_count = count;
        stats.memory = memory;
    }
}

/// Turns the runtime's counters into rates for the status bar.
pub fn sample_runtime_metrics(mut link: ResMut<RuntimeLink>, mut stats: ResMut<RuntimeStats>) {
    let link = &mut *link;
    if link.handle.is_shutting_down() {
        stats.stopped = true;
        stats.messages_per_sec = 0.0;
        stats.busy.iter_mut().for_each(|b| *b = 0.0);
        return;
    }
    let metrics = link.handle.metrics();
    let run_queue = metrics.run_queue;
    let not_yielding = metrics.not_yielding.len();
    let long_polls_total = metrics.long_polls_total;
    let rates = link.sampler.sample(metrics);
    stats.messages_per_sec = rates.messages_per_sec;
    stats.busy = rates.busy_fraction;
    stats.run_queue = run_queue;
    stats.not_yielding = not_yielding;
    stats.long_polls_total = long_polls_total;
}

/// Fetches `process_info` for the selected process (live, or a recent tombstone).
pub fn inspect_selected_process(
    link: Res<RuntimeLink>,
    selection: Res<Selection>,
    mut inspected: ResMut<Inspected>,
) {
    inspected.0 = selection.pid.and_then(|pid| link.handle.process_info(pid));
}
