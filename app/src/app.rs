//! The eframe app: owns the embedded runtime, the view-model world and its schedule, and the
//! panels; runs the schedule, draws the panels, applies what they asked for.

use std::time::{Duration, Instant};

use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;
use crashcourse_runtime::{Handle, Pid, Runtime};
use eframe::egui;

use crate::panels::{
    Inspector, ProcessTable, StatusBar, StoppedBanner, SupervisionTree, TimelinePanel, View,
};
use crate::state::animation::Animating;
use crate::state::commands::{self, Command, DemoConfig};
use crate::state::components::{FrameClock, Notice, TopSupervisor};
use crate::state::ingest::RuntimeLink;
use crate::state::{self, Polling};
use crate::AppConfig;

/// How often the window repaints while something animates.
const ANIMATION_FRAME: Duration = Duration::from_millis(33);

/// The Crashcourse app. Dropping it shuts its runtime down.
pub struct CrashcourseApp {
    world: World,
    schedule: Schedule,
    tree: SupervisionTree,
    processes: ProcessTable,
    inspector: Inspector,
    timeline: TimelinePanel,
    status: StatusBar,
    stopped: StoppedBanner,
    commands: Vec<Command>,
    // Last, so the world (and its handle) goes before the runtime shuts down.
    runtime: Runtime,
}

impl CrashcourseApp {
    /// Starts the runtime (and the demo tree if asked); needs no window.
    pub fn new(config: AppConfig) -> CrashcourseApp {
        let runtime = Runtime::start(config.runtime.clone());
        let polling = Polling {
            snapshot: config.snapshot_interval,
            metrics: config.metrics_interval,
        };
        let mut world = state::build_world(runtime.handle(), polling);
        world.insert_resource(DemoConfig {
            sessions: config.demo_sessions,
        });
        if config.start_demo {
            if let Err(message) = commands::start_demo(&mut world) {
                world.resource_mut::<Notice>().0 =
                    Some((format!("the demo did not start: {message}"), Instant::now()));
            }
        }
        CrashcourseApp {
            world,
            schedule: state::build_schedule(),
            tree: SupervisionTree::default(),
            processes: ProcessTable::default(),
            inspector: Inspector,
            timeline: TimelinePanel,
            status: StatusBar,
            stopped: StoppedBanner,
            commands: Vec::new(),
            runtime,
        }
    }

    /// A handle on the embedded runtime.
    pub fn handle(&self) -> Handle {
        self.runtime.handle()
    }

    /// The top supervisor the app started, if any.
    pub fn top_supervisor(&self) -> Option<Pid> {
        self.world.resource::<TopSupervisor>().pid
    }

    /// The view model, for tests and tools that read it.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// Runs the view-model systems once: ingest events, snapshot if due, lay out, animate.
    pub fn update_view_model(&mut self) {
        state::run_frame(&mut self.world, &mut self.schedule, Instant::now());
    }

    /// Applies a command as if a panel had sent it.
    pub fn apply(&mut self, command: Command) {
        commands::apply(&mut self.world, command);
    }

    /// Draws every panel into `ui` and applies what they asked for.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let world = &self.world;
        let commands = &mut self.commands;
        egui::Panel::bottom("status bar").show(ui, |ui| self.status.ui(ui, world, commands));
        if StoppedBanner::is_shown(world) {
            egui::Panel::top("stopped banner")
                .frame(
                    egui::Frame::side_top_panel(ui.style())
                        .fill(ui.visuals().error_fg_color.gamma_multiply(0.15)),
                )
                .show(ui, |ui| self.stopped.ui(ui, world, commands));
        }
        egui::Panel::left("supervision tree")
            .resizable(true)
            .default_size(300.0)
            .show(ui, |ui| self.tree.ui(ui, world, commands));
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(320.0)
            .show(ui, |ui| self.inspector.ui(ui, world, commands));
        egui::Panel::bottom("timeline")
            .resizable(true)
            .min_size(140.0)
            .default_size(220.0)
            .show(ui, |ui| self.timeline.ui(ui, world, commands));
        egui::CentralPanel::default().show(ui, |ui| self.processes.ui(ui, world, commands));

        let acted = !self.commands.is_empty();
        for command in std::mem::take(&mut self.commands) {
            commands::apply(&mut self.world, command);
        }
        self.schedule_repaint(ui.ctx(), acted);
    }

    /// Repaints soon after a command or while animating; otherwise only when the next
    /// snapshot is due, so an idle system costs ten cheap frames a second.
    fn schedule_repaint(&self, ctx: &egui::Context, acted: bool) {
        if acted || self.world.resource::<RuntimeLink>().behind {
            ctx.request_repaint();
        } else if self.world.resource::<Animating>().0 {
            ctx.request_repaint_after(ANIMATION_FRAME);
        } else {
            ctx.request_repaint_after(self.world.resource::<FrameClock>().snapshot_interval());
        }
    }
}

impl eframe::App for CrashcourseApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.update_view_model();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }
}
