//! The view model: a `bevy_ecs` [`World`] with one entity per process, and the [`Schedule`]
//! of systems that keep it in step with the runtime, run once per frame.
//!
//! Data flows one way: the runtime's event stream and process-table snapshots are ingested
//! here; panels read the world and return [`commands::Command`]s; the app applies those to the
//! runtime, and their effects come back through the same stream.

pub mod animation;
pub mod commands;
pub mod components;
pub mod history;
pub mod ingest;
pub mod layout;

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use crashcourse_runtime::Handle;

use animation::{decay_animations, Animating, Flash};
use components::{
    Counters, FrameClock, Identity, Inspected, Notice, Parentage, PidIndex, ProcessId,
    ProcessStatus, RuntimeStats, Selection, SiblingOrder, SupervisorLoad, TopSupervisor,
    ViewGeneration,
};
use history::Timeline;
use ingest::{
    apply_process_snapshot, ingest_runtime_events, inspect_selected_process, metrics_due,
    sample_runtime_metrics, snapshot_due, RuntimeLink,
};
use layout::{layout_supervision_tree, tree_dirty, TreeExpansion, TreeLayout};

/// The one schedule the app runs every frame.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameSchedule;

/// The stages of a frame, in order.
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub enum FrameSet {
    /// Read what happened in the runtime.
    Ingest,
    /// Derive what the panels draw (tree rows).
    Layout,
    /// Advance and retire animations.
    Animate,
}

/// Intervals the systems poll the runtime at.
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    pub snapshot: Duration,
    pub metrics: Duration,
}

/// A world holding every resource the systems and panels use, linked to `handle`.
pub fn build_world(handle: Handle, polling: Polling) -> World {
    let mut world = World::new();
    // Registered up front so panels can query from `&World` before the first process appears.
    world.register_component::<ProcessId>();
    world.register_component::<Identity>();
    world.register_component::<Parentage>();
    world.register_component::<SiblingOrder>();
    world.register_component::<ProcessStatus>();
    world.register_component::<Counters>();
    world.register_component::<SupervisorLoad>();
    world.register_component::<Flash>();
    world.insert_resource(RuntimeLink::new(handle));
    world.insert_resource(FrameClock::new(Instant::now(), polling));
    world.init_resource::<PidIndex>();
    world.init_resource::<RuntimeStats>();
    world.init_resource::<Selection>();
    world.init_resource::<Inspected>();
    world.init_resource::<TopSupervisor>();
    world.init_resource::<Timeline>();
    world.init_resource::<TreeExpansion>();
    world.init_resource::<TreeLayout>();
    world.init_resource::<ViewGeneration>();
    world.init_resource::<Notice>();
    world.init_resource::<Animating>();
    world
}

/// The per-frame schedule: ingest, then lay out, then animate.
pub fn build_schedule() -> Schedule {
    let mut schedule = Schedule::new(FrameSchedule);
    schedule.configure_sets((FrameSet::Ingest, FrameSet::Layout, FrameSet::Animate).chain());
    schedule.add_systems(
        (
            ingest_runtime_events,
            apply_process_snapshot.run_if(snapshot_due),
            sample_runtime_metrics.run_if(metrics_due),
            inspect_selected_process
                // Eager, so the change check sees every frame, not only those without a snapshot.
                .run_if(snapshot_due.or_eager(resource_changed::<Selection>)),
        )
            .chain()
            .in_set(FrameSet::Ingest),
    );
    schedule.add_systems(
        layout_supervision_tree
            .run_if(tree_dirty)
            .in_set(FrameSet::Layout),
    );
    schedule.add_systems(decay_animations.in_set(FrameSet::Animate));
    schedule
}

/// Runs one frame of the view model at time `now`.
pub fn run_frame(world: &mut World, schedule: &mut Schedule, now: Instant) {
    world.resource_mut::<FrameClock>().advance(now);
    schedule.run(world);
}
