//! Scripted view models: a world with no runtime behind it, its clock stopped at a given
//! instant, filled by hand with processes at fixed pids, flashes of a fixed age, warnings and
//! stops. The image snapshots (`tests/snapshots.rs`) draw panels from these, so nothing live
//! (a runtime's pids, a clock, an age) reaches the picture.
//!
//! It fills the world the way the ingest systems do (a process as a snapshot row shows it, the
//! tree laid out by the same systems), so a panel cannot tell it from the real thing.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::ProcessRow;
use crashcourse_runtime::{Kind, Pid, Status};

use super::animation::{Flash, FlashKind};
use super::chat::ChatServer;
use super::components::{
    Counters, FrameClock, Identity, Parentage, PidIndex, ProcessId, ProcessStatus, SiblingOrder,
    SupervisorLoad, ViewGeneration,
};
use super::layout::{index_supervision_tree, layout_supervision_tree};
use super::Polling;

/// What a scripted world claims to poll at (nothing polls it).
const POLLING: Polling = Polling {
    snapshot: Duration::from_millis(100),
    metrics: Duration::from_secs(1),
};

/// A view model with every resource the panels read, no processes, no runtime, and its clock
/// at `now` (ages, flashes and warnings are measured from it).
pub fn world(now: Instant) -> World {
    let mut world = super::view_world(now, POLLING);
    world.insert_resource(ChatServer::new(None));
    world
}

/// A snapshot row for process `<0.pid.0>` labelled `label` under `<0.parent.0>`: waiting, no
/// messages, no memory, no restarts, born at the snapshot. Adjust its fields as needed.
pub fn row(pid: u64, parent: Option<u64>, kind: Kind, label: &str) -> ProcessRow {
    ProcessRow {
        pid: Pid::from_id(pid),
        name: None,
        label: Some(label.into()),
        kind,
        parent: parent.map(Pid::from_id),
        status: Status::Waiting,
        mailbox_len: 0,
        messages_in: 0,
        messages_out: 0,
        memory: 0,
        restarts: 0,
        age: Duration::ZERO,
        trap_exit: kind.is_supervisor(),
        supervisor: None,
        busy: Duration::ZERO,
        polls: 0,
        busy_total: Duration::ZERO,
        polls_total: 0,
    }
}

/// Adds the processes `rows` list as a snapshot taken at the world's clock would, then lays
/// the tree out again. Their entities, in the order given.
pub fn add_processes(world: &mut World, rows: impl IntoIterator<Item = ProcessRow>) -> Vec<Entity> {
    let now = world.resource::<FrameClock>().now;
    let mut entities = Vec::new();
    for row in rows {
        let mut entity = world.spawn((
            ProcessId(row.pid),
            Identity::from_row(&row),
            Parentage { parent: row.parent },
            SiblingOrder::of(row.pid),
            ProcessStatus::Alive(row.status),
            Counters::from_row(&row, now),
        ));
        if let Some(load) = &row.supervisor {
            entity.insert(SupervisorLoad(load.clone()));
        }
        let entity = entity.id();
        world.resource_mut::<PidIndex>().0.insert(row.pid, entity);
        entities.push(entity);
    }
    world.resource_mut::<ViewGeneration>().bump();
    lay_out(world);
    entities
}

/// Flashes process `<0.pid.0>` as if the flash began `ago` before the world's clock, so it
/// is drawn at the strength of that moment. Panics if the world has no such process.
pub fn flash(world: &mut World, pid: u64, kind: FlashKind, ago: Duration) {
    let now = world.resource::<FrameClock>().now;
    let started = now.checked_sub(ago).expect("a flash that began after boot");
    let entity = *world
        .resource::<PidIndex>()
        .0
        .get(&Pid::from_id(pid))
        .unwrap_or_else(|| panic!("no process <0.{pid}.0> in the scripted world"));
    world.entity_mut(entity).insert(Flash::new(kind, started));
}

/// Lays the tree out again, with the systems a frame runs (after processes or the
/// [`TreeExpansion`](super::layout::TreeExpansion) changed).
pub fn lay_out(world: &mut World) {
    let mut schedule = Schedule::default();
    schedule.add_systems((index_supervision_tree, layout_supervision_tree).chain());
    schedule.run(world);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::layout::{TreeLayout, TreeRow};

    #[test]
    fn a_scripted_tree_is_laid_out_like_a_live_one_with_large_groups_folded() {
        let now = Instant::now();
        let mut world = world(now);
        let mut rows = vec![
            row(1, None, Kind::Supervisor, "demo"),
            row(2, Some(1), Kind::Worker, "worker 1"),
            row(3, Some(1), Kind::Worker, "worker 2"),
            row(4, Some(1), Kind::DynamicSupervisor, "sessions"),
        ];
        rows.extend((0..60).map(|i| row(100 + i, Some(4), Kind::Worker, "session")));
        add_processes(&mut world, rows);
        flash(
            &mut world,
            3,
            FlashKind::Restart,
            Duration::from_millis(250),
        );

        let shown: Vec<String> = world
            .resource::<TreeLayout>()
            .rows
            .iter()
            .map(|r| match r {
                TreeRow::Process { pid, depth, .. } => format!("{depth} {pid}"),
                TreeRow::Group { depth, hidden, .. } => format!("{depth} +{hidden}"),
            })
            .collect();
        assert_eq!(
            shown,
            ["0 <0.1.0>", "1 <0.2.0>", "1 <0.3.0>", "1 <0.4.0>", "2 +60"]
        );
        let entity = world.resource::<PidIndex>().0[&Pid::from_id(3)];
        let strength = world.get::<Flash>(entity).unwrap().strength(now);
        assert!((strength - 0.75).abs() < 1e-3, "{strength}");
    }
}
