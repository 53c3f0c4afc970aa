//! The view model: a `bevy_ecs` [`World`] with one entity per process, and the [`Schedule`]
//! of systems that keep it in step with the runtime, run once per frame.
//!
//! Data flows one way: the runtime's event stream (read each frame, in bounded batches) and
//! the [`observer`] thread's process-table diffs and metrics samples are ingested here; panels
//! read the world and return [`commands::Command`]s; the app applies those to the runtime, and
//! their effects come back through the same stream.
//!
//! Nothing a frame does costs in proportion to the number of processes: snapshots and metrics
//! (which walk every process) happen on the observer thread, only what changed reaches the
//! world, the tree index is kept up to date from component changes, and the tree's layout
//! costs the rows it shows.

pub mod animation;
pub mod chat;
pub mod commands;
pub mod components;
pub mod console;
pub mod contrast;
pub mod faults;
pub mod history;
pub mod ingest;
pub mod layout;
pub mod link;
pub mod load;
pub mod neighbourhood;
pub mod observer;
pub mod scripted;
pub mod timeline;
pub mod trace;
pub mod tree_graph;
pub mod warnings;

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::ScheduleLabel;
use crashcourse_runtime::chat::ChatConfig;
use crashcourse_runtime::Handle;

use animation::{decay_animations, Animating, Flash};
use chat::{ChatServer, ChatStats};
use components::{
    Counters, FrameClock, Identity, Inspected, Lingering, Notice, Parentage, PidIndex, ProcessId,
    ProcessStatus, RuntimeStats, Selection, SiblingOrder, SupervisorLoad, TopSupervisors,
    ViewGeneration,
};
use contrast::{follow_contrast_run, ContrastRun};
use faults::{link_faults_to_pool, mark_chaos_kills, read_faults, record_chaos_history};
use history::{record_histories, Histories};
use ingest::{
    apply_snapshot_diff, diff_arrived, ingest_runtime_events, inspect_selected_process,
    inspection_due, read_connection_gauge, samples_arrived, take_observations,
    update_runtime_stats, Observations,
};
use layout::{
    index_supervision_tree, layout_supervision_tree, tree_dirty, TreeExpansion, TreeIndex,
    TreeLayout,
};
use link::RuntimeLink;
use load::{follow_load_run, record_load_history, LoadRun};
use neighbourhood::{animate_signals, follow_neighbourhood, Neighbourhood, SignalTrail};
use timeline::Timeline;
use tree_graph::{place_tree_graph, RecentRestarts, TreeGraph};
use warnings::{check_warnings, Warnings};

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

/// Intervals the view model polls the runtime at.
#[derive(Clone, Copy, Debug)]
pub struct Polling {
    /// Process-table snapshots (on the observer thread) and `process_info` of the selection.
    pub snapshot: Duration,
    /// Runtime, chat and pool metrics (on the observer thread), histories and warnings.
    pub metrics: Duration,
}

/// A world holding every resource the systems and panels use, linked to `handle`; `chat` is
/// the chat server's configuration (started later by [`chat::start_chat`]).
pub fn build_world(handle: Handle, polling: Polling, chat: Option<ChatConfig>) -> World {
    let mut world = view_world(Instant::now(), polling);
    faults::insert_resources(&mut world, &handle);
    world.insert_resource(RuntimeLink::new(handle, polling));
    world.insert_resource(ChatServer::new(chat));
    world
}

/// Every resource the panels read, at clock `now`, with no runtime behind it (that is
/// [`build_world`]'s part; [`scripted`] fills this one by hand).
fn view_world(now: Instant, polling: Polling) -> World {
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
    world.register_component::<Lingering>();
    world.insert_resource(FrameClock::new(now, polling));
    world.insert_resource(Histories::new(now));
    world.init_resource::<ChatStats>();
    world.init_resource::<Observations>();
    world.init_resource::<PidIndex>();
    world.init_resource::<RuntimeStats>();
    world.init_resource::<Selection>();
    world.init_resource::<Inspected>();
    world.init_resource::<TopSupervisors>();
    world.init_resource::<Timeline>();
    world.init_resource::<Warnings>();
    world.init_resource::<TreeExpansion>();
    world.init_resource::<TreeIndex>();
    world.init_resource::<TreeLayout>();
    world.init_resource::<ViewGeneration>();
    world.init_resource::<Notice>();
    world.init_resource::<Animating>();
    world.init_resource::<LoadRun>();
    world.init_resource::<ContrastRun>();
    world.init_resource::<faults::FaultsView>();
    world.init_resource::<trace::Tracing>();
    world.init_resource::<SignalTrail>();
    world.init_resource::<Neighbourhood>();
    world.init_resource::<RecentRestarts>();
    world.init_resource::<TreeGraph>();
    world.init_resource::<console::ConsoleLog>();
    world
}

/// The per-frame schedule: ingest, then lay out, then animate.
pub fn build_schedule() -> Schedule {
    let mut schedule = Schedule::new(FrameSchedule);
    schedule.configure_sets((FrameSet::Ingest, FrameSet::Layout, FrameSet::Animate).chain());
    schedule.add_systems(
        (
            take_observations,
            ingest_runtime_events,
            apply_snapshot_diff.run_if(diff_arrived),
            read_connection_gauge,
            (
                link_faults_to_pool,
                read_faults,
                mark_chaos_kills,
                follow_load_run,
                follow_contrast_run,
            )
                .chain(),
            (
                update_runtime_stats,
                record_histories,
                record_load_history,
                record_chaos_history,
                check_warnings,
            )
                .chain()
                .run_if(samples_arrived),
            inspect_selected_process
                // Eager, so the change check sees every frame, not only those without a poll.
                .run_if(inspection_due.or_eager(resource_changed::<Selection>)),
            follow_neighbourhood,
        )
            .chain()
            .in_set(FrameSet::Ingest),
    );
    schedule.add_systems(
        (
            index_supervision_tree,
            layout_supervision_tree.run_if(tree_dirty),
            place_tree_graph,
        )
            .chain()
            .in_set(FrameSet::Layout),
    );
    schedule.add_systems(
        (decay_animations, animate_signals)
            .chain()
            .in_set(FrameSet::Animate),
    );
    schedule
}

/// Runs one frame of the view model at time `now`.
pub fn run_frame(world: &mut World, schedule: &mut Schedule, now: Instant) {
    world.resource_mut::<FrameClock>().advance(now);
    schedule.run(world);
}
