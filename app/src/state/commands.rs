//! What panels ask for: selection and tree changes (applied to the world) and control actions
//! (applied to the runtime, whose answer comes back through the event stream).

use std::time::{Duration, Instant};

use bevy_ecs::prelude::*;
use crashcourse_runtime::{ChaosPlan, ExitReason, FaultKind, Pid};

use super::chat::start_chat;
use super::components::{FrameClock, Notice, Selection, Subsystem, TopSupervisors};
use super::contrast::{contrast_urls, ContrastRun, ContrastSettings};
use super::faults;
use super::layout::{GroupKey, TreeExpansion};
use super::link::RuntimeLink;
use super::load::{chat_ws_url, LoadRun, LoadSettings};
use super::trace;
use crate::demo;

/// A request from a panel.
#[derive(Clone, Debug, PartialEq)]
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
    /// Start the load generator against the embedded chat server.
    StartLoad(LoadSettings),
    /// End the load run's sending; replies in flight are still waited for.
    StopLoad,
    /// Switch a fault on or off (on a thread of its own: switching off waits for its
    /// processes to be gone).
    Fault {
        fault: FaultKind,
        on: bool,
    },
    /// Switch every fault off and stop chaos.
    AllFaultsOff,
    /// Start killing random processes of the plan's kinds at its rate for its time.
    StartChaos(ChaosPlan),
    StopChaos,
    /// Run the thread-pool contrast: the same slow work behind the HTTP server's fixed
    /// threads and as one process per request over the WebSocket, under the same load.
    StartContrast {
        users: usize,
        work_ms: u64,
        duration: Duration,
    },
    StopContrast,
    /// Run a console line; its answer shows in the console panel.
    Console(String),
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
        Command::Console(line) => super::console::run_line(world, line),
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
        Command::StartLoad(settings) => match chat_ws_url(world) {
            Some(url) => world.resource_mut::<LoadRun>().start(settings, &url),
            None => Err("the chat server is not running, so there is nothing to load".into()),
        },
        Command::StopLoad => {
            world.resource_mut::<LoadRun>().stop();
            Ok(())
        }
        Command::Fault { fault, on } => faults::switch(world, fault, on),
        Command::AllFaultsOff => faults::all_off(world),
        Command::StartChaos(plan) => faults::start_chaos(world, plan),
        Command::StopChaos => faults::stop_chaos(world),
        Command::StartContrast {
            users,
            work_ms,
            duration,
        } => match contrast_urls(world) {
            Some(urls) => world.resource_mut::<ContrastRun>().start(
                ContrastSettings {
                    users,
                    work_ms,
                    duration,
                },
                urls,
            ),
            None => Err("the chat server is not running, so there is nothing to contrast".into()),
        },
        Command::StopContrast => {
            world.resource_mut::<ContrastRun>().stop();
            Ok(())
        }
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
