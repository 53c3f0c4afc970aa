//! Short animations: a crash flashes its process red, a restart pulses the new one, and an
//! exited process lingers briefly so the learner sees it go.

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;

use super::components::{
    FrameClock, Lingering, PidIndex, ProcessId, ProcessStatus, ViewGeneration,
};
use super::link::RuntimeLink;

/// How long a flash lasts.
pub const FLASH: Duration = Duration::from_millis(1000);

/// How long an exited process stays in the view before it is removed.
pub const EXIT_LINGER: Duration = Duration::from_millis(1200);

/// Why a process flashes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlashKind {
    /// It exited abnormally.
    Crash,
    /// It was started by a supervisor in place of one that exited.
    Restart,
}

/// A running flash on a process.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
#[component(storage = "SparseSet")]
pub struct Flash {
    pub kind: FlashKind,
    pub started: Instant,
}

impl Flash {
    pub fn new(kind: FlashKind, started: Instant) -> Flash {
        Flash { kind, started }
    }

    /// 1.0 when it starts, fading to 0.0 after [`FLASH`].
    pub fn strength(&self, now: Instant) -> f32 {
        let t = now.saturating_duration_since(self.started).as_secs_f32() / FLASH.as_secs_f32();
        (1.0 - t).clamp(0.0, 1.0)
    }
}

/// Whether anything is animating, so the app repaints at animation rate instead of poll rate.
#[derive(Resource, Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Animating(pub bool);

/// Ends finished flashes and removes exited processes once they have lingered.
#[allow(clippy::too_many_arguments)]
pub fn decay_animations(
    mut commands: Commands,
    clock: Res<FrameClock>,
    flashes: Query<(Entity, &Flash)>,
    processes: Query<(Entity, &ProcessId, &ProcessStatus), With<Lingering>>,
    mut index: ResMut<PidIndex>,
    mut link: ResMut<RuntimeLink>,
    mut generation: ResMut<ViewGeneration>,
    mut animating: ResMut<Animating>,
) {
    let now = clock.now;
    let mut running = false;
    for (entity, flash) in &flashes {
        if flash.strength(now) <= 0.0 {
            commands.entity(entity).remove::<Flash>();
        } else {
            running = true;
        }
    }
    for (entity, pid, status) in &processes {
        if let ProcessStatus::Exited { at, .. } = status {
            if now.saturating_duration_since(*at) >= EXIT_LINGER {
                commands.entity(entity).despawn();
                if index.0.get(&pid.0) == Some(&entity) {
                    index.0.remove(&pid.0);
                }
                link.departed(pid.0);
                generation.bump();
            } else {
                running = true;
            }
        } else {
            commands.entity(entity).remove::<Lingering>();
        }
    }
    animating.set_if_neq(Animating(running));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flash_fades_from_full_to_nothing_over_its_duration() {
        let start = Instant::now();
        let flash = Flash::new(FlashKind::Crash, start);
        assert_eq!(flash.strength(start), 1.0);
        let half = flash.strength(start + FLASH / 2);
        assert!((half - 0.5).abs() < 0.01, "{half}");
        assert_eq!(flash.strength(start + FLASH), 0.0);
    }
}
