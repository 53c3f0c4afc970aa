//! The view model's link to the runtime: the handle, the event cursor and the observer thread,
//! shared by the systems that read the runtime and those that act on it.

use std::collections::{HashSet, VecDeque};

use bevy_ecs::prelude::*;
use crashcourse_runtime::observe::EventReader;
use crashcourse_runtime::{Handle, Pid};

use super::observer::Observer;
use super::Polling;

/// How many despawned pids are remembered, so a late snapshot row cannot bring one back.
const DEPARTED_MEMORY: usize = 8_192;

/// The view model's connection to the runtime: a handle, an event cursor, and the observer
/// thread that snapshots the process table and samples metrics.
#[derive(Resource)]
pub struct RuntimeLink {
    pub handle: Handle,
    pub(super) events: EventReader,
    pub observer: Observer,
    /// Pids despawned recently, oldest first.
    pub(super) departed: Departed,
    /// The last batch was full: more events are waiting.
    pub behind: bool,
    /// Process-table diffs applied so far (derived views re-sort when it moves).
    pub snapshots: u64,
}

impl RuntimeLink {
    /// Reads the stream from the oldest event the runtime still keeps, so processes started
    /// before the app are seen too; starts the observer thread.
    pub fn new(handle: Handle, polling: Polling) -> RuntimeLink {
        RuntimeLink {
            events: handle.events_from_start(),
            observer: Observer::start(handle.clone(), polling),
            handle,
            departed: Departed::default(),
            behind: false,
            snapshots: 0,
        }
    }

    /// Remembers that `pid`'s entity was despawned.
    pub fn departed(&mut self, pid: Pid) {
        self.departed.insert(pid);
    }
}

/// A bounded set of pids, oldest forgotten first.
#[derive(Default)]
pub(super) struct Departed {
    set: HashSet<Pid>,
    order: VecDeque<Pid>,
}

impl Departed {
    fn insert(&mut self, pid: Pid) {
        if self.set.insert(pid) {
            self.order.push_back(pid);
            if self.order.len() > DEPARTED_MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.set.remove(&old);
                }
            }
        }
    }

    pub(super) fn contains(&self, pid: &Pid) -> bool {
        self.set.contains(pid)
    }
}
