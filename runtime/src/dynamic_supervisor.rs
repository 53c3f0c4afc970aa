//! A dynamic supervisor: children started at run time (sockets, channels, rooms), restarted
//! one for one by their restart type, with an optional cap on their number.
//!
//! ```
//! use std::time::Duration;
//! use crashcourse_runtime::dynamic_supervisor::{self, DynamicSpec};
//! use crashcourse_runtime::supervisor::{ChildSpec, Intensity, Restart};
//! use crashcourse_runtime::{Runtime, RuntimeConfig, SpawnOpts};
//!
//! let rt = Runtime::start(RuntimeConfig::default());
//! let sup = dynamic_supervisor::start(&rt, SpawnOpts::new().label("rooms"),
//!     DynamicSpec::new(Intensity::elixir()).max_children(1)).unwrap();
//! let room = ChildSpec::worker("room", |ctx| async move { while !ctx.recv().await.is::<&str>() {} })
//!     .restart(Restart::Temporary);
//! let t = Duration::from_secs(1);
//! let first = rt.block_on(dynamic_supervisor::start_child(&rt, sup, room.clone(), t)).unwrap();
//! assert!(first.is_ok());
//! let second = rt.block_on(dynamic_supervisor::start_child(&rt, sup, room, t)).unwrap();
//! assert!(second.is_err(), "max_children is 1");
//! ```

mod behaviour;
mod client;

use crate::server;
use crate::supervisor::{Intensity, RestartWindow};
use crate::{Handle, Kind, Pid, SpawnError, SpawnOpts};
use behaviour::DynSup;

pub use client::{
    count_children, start_child, terminate_child, which_children, DynamicCall, DynamicReply,
    StartChildError,
};

/// A dynamic supervisor's settings.
#[derive(Clone, Debug)]
pub struct DynamicSpec {
    pub intensity: Intensity,
    pub max_children: Option<usize>,
}

impl DynamicSpec {
    pub fn new(intensity: Intensity) -> DynamicSpec {
        DynamicSpec {
            intensity,
            max_children: None,
        }
    }

    /// Refuses new children beyond `max`.
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }
}

/// Starts a dynamic supervisor with no children.
pub fn start(handle: &Handle, opts: SpawnOpts, spec: DynamicSpec) -> Result<Pid, SpawnError> {
    let window = RestartWindow::new(spec.intensity, handle.clock().clone());
    server::start(
        handle,
        opts.kind(Kind::DynamicSupervisor).trap_exit(true),
        DynSup::new(window, spec.max_children),
    )
}
