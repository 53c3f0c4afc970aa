//! What panels ask for: selection and tree changes (applied to the world) and control actions
//! (applied to the runtime, whose answer comes back through the event stream).

use std::time::Instant;

use bevy_ecs::prelude::*;
use crashcourse_runtime::{ExitReason, Pid};

use super::components::{FrameClock, Notice, Selection, TopSupervisor};
use super::ingest::RuntimeLink;
use super::layout::TreeExpansion;
use crate::demo;

/// A request from a panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Show this process in the inspector.
    Select(Pid),
    ClearSelection,
    /// Send the untrappable `kill` signal.
    Kill(Pid),
    /// Send an exit signal with reason `shutdown`.
    Shutdown(Pid),
    /// Make the process panic at its next poll.
    Crash(Pid),
    /// Start the demo tree again after its top supervisor stopped.
    StartDemo,
    /// Collapse an expanded tree node, or expand a collapsed one.
    ToggleCollapsed(Pid),
    /// Show every child of a supervisor whose children were folded into "+N".
    ExpandGroup(Pid),
}

/// How the demo tree is started (kept for "Start again").
#[derive(Resource, Debug, Clone, Copy)]
pub struct DemoConfig {
    pub sessions: usize,
}

/// Applies one command to the world or the runtime. Failures become a [`Notice`].
pub fn apply(world: &mut World, command: Command) {
    let handle = world.resource::<RuntimeLink>().handle.clone();
    let result = match command {
        Command::Select(pid) => {
            world.resource_mut::<Selection>().set_if_neq(Selection {
                pid: Some(pid),
                followed: None,
            });
            Ok(())
        }
        Command::ClearSelection => {
            world
                .resource_mut::<Selection>()
                .set_if_neq(Selection::default());
            Ok(())
        }
        Command::Kill(pid) => handle.kill(pid).map_err(|e| e.to_string()),
        Command::Shutdown(pid) => handle
            .exit(pid, ExitReason::Shutdown)
            .map_err(|e| e.to_string()),
        Command::Crash(pid) => handle.crash(pid).map_err(|e| e.to_string()),
        Command::StartDemo => start_demo(world),
        Command::ToggleCollapsed(pid) => {
            let mut expansion = world.resource_mut::<TreeExpansion>();
            if !expansion.collapsed.remove(&pid) {
                expansion.collapsed.insert(pid);
            }
            Ok(())
        }
        Command::ExpandGroup(pid) => {
            world
                .resource_mut::<TreeExpansion>()
                .expanded_groups
                .insert(pid);
            Ok(())
        }
    };
    world.resource_mut::<FrameClock>().hurry_snapshot();
    if let Err(message) = result {
        world.resource_mut::<Notice>().0 = Some((message, Instant::now()));
    }
}

/// Starts the demo tree and makes its supervisor the top one.
pub fn start_demo(world: &mut World) -> Result<(), String> {
    let handle = world.resource::<RuntimeLink>().handle.clone();
    let sessions = world.get_resource::<DemoConfig>().map_or(0, |c| c.sessions);
    let pid = demo::start(&handle, sessions).map_err(|e| e.to_string())?;
    *world.resource_mut::<TopSupervisor>() = TopSupervisor {
        pid: Some(pid),
        label: demo::TOP_LABEL.to_string(),
        stopped: None,
        over_intensity: None,
    };
    Ok(())
}
