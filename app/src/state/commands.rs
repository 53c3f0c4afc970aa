//! What panels ask for: selection and tree changes (applied to the world) and control actions
//! (applied to the runtime, whose answer comes back through the event stream).

use std::time::Instant;

use bevy_ecs::prelude::*;
use crashcourse_runtime::{ExitReason, Pid};

use super::chat::start_chat;
use super::components::{FrameClock, Notice, Selection, Subsystem, TopSupervisors};
use super::layout::{GroupKey, TreeExpansion};
use super::link::RuntimeLink;
use super::trace;
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
    /// Trace the process (50 events or 1 s) and show the sequence diagram.
    Trace(Pid),
    /// Stop the trace on show.
    StopTrace,
    /// Start a subsystem again after its top supervisor stopped (or failed to start).
    StartAgain(Subsystem),
    /// Collapse an expanded tree node, or expand a collapsed one.
    ToggleCollapsed(Pid),
    /// Show more of a group of children folded into "+N" (`None`: the top level).
    ExpandGroup(GroupKey),
    /// Open a URL in the default browser (without waiting for it).
    OpenUrl(String),
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
        Command::Trace(pid) => trace::start_trace(world, pid),
        Command::StopTrace => {
            trace::stop_trace(world);
            Ok(())
        }
        Command::StartAgain(Subsystem::Demo) => start_demo(world),
        Command::StartAgain(Subsystem::Chat) => start_chat(world),
        Command::ToggleCollapsed(pid) => {
            let mut expansion = world.resource_mut::<TreeExpansion>();
            if !expansion.collapsed.remove(&pid) {
                expansion.collapsed.insert(pid);
            }
            Ok(())
        }
        Command::ExpandGroup(group) => {
            world.resource_mut::<TreeExpansion>().show_more(group);
            Ok(())
        }
        Command::OpenUrl(url) => open_in_browser(url),
    };
    world.resource_mut::<FrameClock>().hurry_snapshot();
    world.resource::<RuntimeLink>().observer.hurry();
    if let Err(message) = result {
        world.resource_mut::<Notice>().0 = Some((message, Instant::now()));
    }
}

/// Starts the demo tree and makes its supervisor the demo's top one.
pub fn start_demo(world: &mut World) -> Result<(), String> {
    let handle = world.resource::<RuntimeLink>().handle.clone();
    let sessions = world.get_resource::<DemoConfig>().map_or(0, |c| c.sessions);
    match demo::start(&handle, sessions) {
        Ok(pid) => {
            world
                .resource_mut::<TopSupervisors>()
                .running(Subsystem::Demo, pid, demo::TOP_LABEL);
            Ok(())
        }
        Err(e) => {
            world.resource_mut::<TopSupervisors>().failed(
                Subsystem::Demo,
                demo::TOP_LABEL,
                e.to_string(),
            );
            Err(format!("the demo did not start: {e}"))
        }
    }
}

/// Hands `url` to the platform's opener on a thread of its own, so the window never waits.
fn open_in_browser(url: String) -> Result<(), String> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    let mut child = std::process::Command::new(opener)
        .arg(&url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("could not open {url} with {opener}: {e}"))?;
    // Reap it when it ends, off the UI thread.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}
