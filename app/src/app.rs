//! The eframe app: owns the embedded runtime, the chat server, the view-model world and its
//! schedule, and the panels; runs the schedule, draws the panels, applies what they asked for.

use std::time::{Duration, Instant};

use bevy_ecs::schedule::Schedule;
use bevy_ecs::world::World;
use crashcourse_runtime::{Handle, Pid, Runtime};
use eframe::egui;

use crate::lessons::engine::LessonInput;
use crate::lessons::{Catalog, LessonEngine};
use crate::panels::lesson::LessonPanel;
use crate::panels::{
    ConsolePanel, ContrastPanel, Dashboard, FaultsPanel, Inspector, LoadPanel, ProcessTable,
    SequenceDiagram, StatusBar, StoppedBanner, SupervisionTree, Tab, TimelinePanel, View,
    WarningsPanel,
};
use crate::persist::{self, Persisted};
use crate::state::animation::Animating;
use crate::state::chat::{self, ChatServer};
use crate::state::commands::{self, Command, DemoConfig};
use crate::state::components::{Notice, Selection, Subsystem, TopSupervisors};
use crate::state::contrast::ContrastRun;
use crate::state::faults::{FaultsLink, FaultsView, FaultsWorker};
use crate::state::link::RuntimeLink;
use crate::state::load::LoadRun;
use crate::state::trace::Tracing;
use crate::state::warnings::Warnings;
use crate::state::{self, Polling};
use crate::AppConfig;

/// How often the window repaints while something animates.
const ANIMATION_FRAME: Duration = Duration::from_millis(33);

/// How often live figures (load, chaos) are redrawn while they run.
const LIVE_FRAME: Duration = Duration::from_millis(250);

/// A repaint at least this often, in case a wake-up from the observer was missed.
const IDLE_FRAME: Duration = Duration::from_secs(5);

/// How long the app looks for the process selected in the previous run.
const RESTORE_FOR: Duration = Duration::from_secs(10);

/// How long closing may take in all.
pub const SHUTDOWN_LIMIT: Duration = Duration::from_secs(5);

/// Wall time of one frame's parts (what the `bench gui` breakdown reports).
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameCosts {
    /// Ingest, the ECS schedule, layout, animations.
    pub view_model: Duration,
    /// Drawing the panels into egui and applying their commands.
    pub draw: Duration,
}

/// The Crashcourse app. Dropping it shuts the chat server and the runtime down, in order.
pub struct CrashcourseApp {
    world: World,
    schedule: Schedule,
    tab: Tab,
    tree: SupervisionTree,
    processes: ProcessTable,
    inspector: Inspector,
    timeline: TimelinePanel,
    dashboard: Dashboard,
    warnings: WarningsPanel,
    faults: FaultsPanel,
    load: LoadPanel,
    contrast: ContrastPanel,
    sequence: SequenceDiagram,
    console: ConsolePanel,
    status: StatusBar,
    stopped: StoppedBanner,
    commands: Vec<Command>,
    /// The lesson being followed, the catalog and the learner's progress.
    lessons: LessonEngine,
    lesson_panel: LessonPanel,
    lesson_inputs: Vec<LessonInput>,
    /// The previous run's selection, looked for until found or given up.
    restore: Option<(Vec<String>, Instant)>,
    theme: egui::ThemePreference,
    waker_set: bool,
    /// Wall time of the last frame's view-model update and drawing.
    costs: FrameCosts,
    /// Taken at shutdown; the world (and its handles) goes first.
    runtime: Option<Runtime>,
}

impl CrashcourseApp {
    /// Starts the runtime, the chat server and the demo tree; needs no window.
    pub fn new(config: AppConfig) -> CrashcourseApp {
        let runtime = Runtime::start(config.runtime.clone());
        let polling = Polling {
            snapshot: config.snapshot_interval,
            metrics: config.metrics_interval,
        };
        let mut world = state::build_world(runtime.handle(), polling, config.chat.clone());
        world.insert_resource(DemoConfig {
            sessions: config.demo_sessions,
        });
        let mut failures = Vec::new();
        if let Err(message) = chat::start_chat(&mut world) {
            failures.push(message);
        }
        if config.start_demo {
            if let Err(message) = commands::start_demo(&mut world) {
                failures.push(message);
            }
        }
        if !failures.is_empty() {
            world.resource_mut::<Notice>().0 = Some((failures.join("; "), Instant::now()));
        }
        let mut lessons = LessonEngine::for_world(&world);
        if let Some(dir) = &config.lessons_dir {
            lessons.catalog = Catalog::load_dir(dir).unwrap_or_else(|e| Catalog {
                source: crate::lessons::LessonSource::Dir(dir.clone()),
                entries: vec![crate::lessons::Entry::Broken {
                    file: dir.display().to_string(),
                    problems: vec![crate::lessons::Problem {
                        file: dir.display().to_string(),
                        line: 1,
                        col: 1,
                        message: e,
                    }],
                }],
            });
        }
        CrashcourseApp {
            world,
            schedule: state::build_schedule(),
            tab: Tab::default(),
            tree: SupervisionTree::default(),
            processes: ProcessTable::default(),
            inspector: Inspector,
            timeline: TimelinePanel,
            dashboard: Dashboard::default(),
            warnings: WarningsPanel,
            faults: FaultsPanel::default(),
            load: LoadPanel::default(),
            contrast: ContrastPanel::default(),
            sequence: SequenceDiagram,
            console: ConsolePanel::default(),
            status: StatusBar,
            stopped: StoppedBanner,
            commands: Vec::new(),
            lessons,
            lesson_panel: LessonPanel::default(),
            lesson_inputs: Vec::new(),
            restore: None,
            theme: egui::ThemePreference::System,
            waker_set: false,
            costs: FrameCosts::default(),
            runtime: Some(runtime),
        }
    }

    /// Takes back what the previous run kept: tab, theme, dashboard window, selection.
    pub fn restore(&mut self, persisted: Persisted, ctx: &egui::Context) {
        self.tab = persisted.tab;
        self.theme = persisted.theme;
        ctx.set_theme(persisted.theme);
        self.dashboard.window = persisted.window;
        self.tree.zoom = persisted.tree_zoom.unwrap_or(1.0);
        if !persisted.selection.is_empty() {
            self.restore = Some((persisted.selection, Instant::now() + RESTORE_FOR));
        }
    }

    /// What the next run should start with.
    pub fn persisted(&self) -> Persisted {
        let selection = self
            .world
            .resource::<Selection>()
            .pid
            .map(|pid| persist::label_path(&self.world, pid))
            .unwrap_or_default();
        Persisted {
            tab: self.tab,
            theme: self.theme,
            window: self.dashboard.window,
            selection,
            tree_zoom: Some(self.tree.zoom),
        }
    }

    /// A handle on the embedded runtime (shut down after [`shutdown`](Self::shutdown)).
    pub fn handle(&self) -> Handle {
        self.world.resource::<RuntimeLink>().handle.clone()
    }

    /// The top supervisor of `subsystem`, if it was started.
    pub fn top_supervisor(&self, subsystem: Subsystem) -> Option<Pid> {
        self.world
            .resource::<TopSupervisors>()
            .get(subsystem)
            .and_then(|t| t.pid)
    }

    /// The chat page's URL, while the chat server runs.
    pub fn chat_url(&self) -> Option<String> {
        self.world.resource::<ChatServer>().http_url.clone()
    }

    /// The chat server's WebSocket address, while it runs.
    pub fn chat_ws_addr(&self) -> Option<std::net::SocketAddr> {
        self.world.resource::<ChatServer>().ws_addr
    }

    /// The view model, for tests and tools that read it.
    pub fn world(&self) -> &World {
        &self.world
    }

    /// The central tab shown.
    pub fn tab(&self) -> Tab {
        self.tab
    }

    /// Shows `tab` in the middle of the window (lessons open the tab they talk about).
    pub fn set_tab(&mut self, tab: Tab) {
        self.tab = tab;
    }

    /// Draws the supervision tree as an outline or a graph (the bench measures both).
    pub fn set_tree_mode(&mut self, mode: crate::panels::tree::TreeMode) {
        self.tree.mode = mode;
    }

    /// The Faults panel's chaos settings, to fill in before "Start chaos".
    pub fn faults_panel(&mut self) -> &mut FaultsPanel {
        &mut self.faults
    }

    /// The Load panel's settings, to fill in before "Start load".
    pub fn load_panel(&mut self) -> &mut LoadPanel {
        &mut self.load
    }

    /// The Contrast panel's settings, to fill in before "Run contrast".
    pub fn contrast_panel(&mut self) -> &mut ContrastPanel {
        &mut self.contrast
    }

    /// Runs the view-model systems once: ingest events and the observer's news, lay out,
    /// animate.
    pub fn update_view_model(&mut self) {
        let start = Instant::now();
        state::run_frame(&mut self.world, &mut self.schedule, start);
        state::console::collect_answers(&mut self.world);
        self.lessons.update(&self.world);
        self.restore_selection();
        self.costs.view_model = start.elapsed();
    }

    /// What the last frame cost, by part.
    pub fn frame_costs(&self) -> FrameCosts {
        self.costs
    }

    /// Applies a command as if a panel had sent it.
    pub fn apply(&mut self, command: Command) {
        commands::apply(&mut self.world, command);
    }

    /// The lesson engine: catalog, progress, the open lesson.
    pub fn lessons(&self) -> &LessonEngine {
        &self.lessons
    }

    /// Applies a lesson-panel request as if the learner had clicked it.
    pub fn lesson_input(&mut self, input: LessonInput) {
        for command in self.lessons.input(&self.world, input) {
            if matches!(command, Command::Console(_)) {
                self.tab = Tab::Console;
            }
            commands::apply(&mut self.world, command);
        }
        if let Some(pid) = self.lessons.reveal.take() {
            self.tree.reveal = Some(pid);
        }
    }

    /// Selects the process at the previous run's selection path once it appears.
    fn restore_selection(&mut self) {
        let Some((path, until)) = &self.restore else {
            return;
        };
        if Instant::now() > *until || self.world.resource::<Selection>().pid.is_some() {
            self.restore = None;
            return;
        }
        if let Some(pid) = persist::find_by_path(&self.world, path) {
            self.restore = None;
            commands::apply(&mut self.world, Command::Select(pid));
        }
    }

    /// Draws every panel into `ui` and applies what they asked for.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let start = Instant::now();
        let world = &self.world;
        let commands = &mut self.commands;
        egui::Panel::bottom("status bar").show(ui, |ui| self.status.ui(ui, world, commands));
        if StoppedBanner::is_shown(world) {
            egui::Panel::top("stopped banner")
                .frame(StoppedBanner::frame(ui.style()))
                .show(ui, |ui| self.stopped.ui(ui, world, commands));
        }
        // At 1280x720 the tree, the lesson panel and the inspector left the tabs between them
        // about 240 px with the inspector at 320; at 270 they get about 290 (below 270 the
        // inspector's action buttons no longer fit beside each other). The tree keeps 340: at
        // 280 the graph view of a three-worker supervisor no longer fitted.
        egui::Panel::left("supervision tree")
            .resizable(true)
            .default_size(340.0)
            .show(ui, |ui| self.tree.ui(ui, world, commands));
        let lessons = &self.lessons;
        let lesson_inputs = &mut self.lesson_inputs;
        let lesson_panel = &mut self.lesson_panel;
        if lesson_panel.folded {
            egui::Panel::left("lesson strip")
                .resizable(false)
                .exact_size(96.0)
                .show(ui, |ui| lesson_panel.ui(ui, world, lessons, lesson_inputs));
        } else {
            egui::Panel::left("lesson panel")
                .resizable(true)
                .default_size(380.0)
                .min_size(260.0)
                .show(ui, |ui| lesson_panel.ui(ui, world, lessons, lesson_inputs));
        }
        egui::Panel::right("inspector")
            .resizable(true)
            .default_size(270.0)
            .show(ui, |ui| self.inspector.ui(ui, world, commands));
        egui::Panel::bottom("timeline")
            .resizable(true)
            .min_size(120.0)
            .default_size(200.0)
            .show(ui, |ui| self.timeline.ui(ui, world, commands));
        egui::CentralPanel::default().show(ui, |ui| {
            let warnings = world.resource::<Warnings>().active_kinds();
            // Wrapped: beside the lesson panel, the tree and the inspector, nine tabs do not fit
            // one row at 1280x720, and a tab cut off at the edge cannot be clicked.
            ui.horizontal_wrapped(|ui| {
                for (tab, title) in [
                    (Tab::Processes, "Processes".to_string()),
                    (Tab::Dashboard, "Dashboard".to_string()),
                    (Tab::Warnings, format!("Warnings ({warnings})")),
                    (Tab::Faults, "Faults".to_string()),
                    (Tab::Load, "Load".to_string()),
                    (Tab::Contrast, "Contrast".to_string()),
                    (Tab::Trace, "Trace".to_string()),
                    (Tab::Console, "Console".to_string()),
                ] {
                    let mut text = egui::RichText::new(title).strong();
                    if tab == Tab::Warnings && warnings > 0 {
                        text = text.color(crate::panels::warn_color(ui.visuals()));
                    }
                    if ui.selectable_label(self.tab == tab, text).clicked() {
                        self.tab = tab;
                    }
                }
            });
            ui.separator();
            match self.tab {
                Tab::Processes => self.processes.ui(ui, world, commands),
                Tab::Dashboard => self.dashboard.ui(ui, world, commands),
                Tab::Warnings => self.warnings.ui(ui, world, commands),
                Tab::Faults => self.faults.ui(ui, world, commands),
                Tab::Load => self.load.ui(ui, world, commands),
                Tab::Contrast => self.contrast.ui(ui, world, commands),
                Tab::Trace => self.sequence.ui(ui, world, commands),
                Tab::Console => self.console.ui(ui, world, commands),
            }
        });

        let acted = !self.commands.is_empty() || !self.lesson_inputs.is_empty();
        for input in std::mem::take(&mut self.lesson_inputs) {
            self.lesson_input(input);
        }
        for command in std::mem::take(&mut self.commands) {
            if matches!(command, Command::Trace(_)) {
                self.tab = Tab::Trace;
            }
            if matches!(command, Command::Console(_)) {
                self.tab = Tab::Console;
            }
            commands::apply(&mut self.world, command);
        }
        let theme = ui.ctx().options(|o| o.theme_preference);
        self.theme = theme;
        self.schedule_repaint(ui.ctx(), acted);
        self.costs.draw = start.elapsed();
    }

    /// Repaints at once after a command, at animation rate while something animates, and
    /// otherwise only when the observer says something changed (it wakes the window itself).
    fn schedule_repaint(&self, ctx: &egui::Context, acted: bool) {
        if acted || self.world.resource::<RuntimeLink>().behind {
            ctx.request_repaint();
        } else if self.world.resource::<Animating>().0
            || self.world.resource::<FaultsView>().chaos_running()
            // Chaos too: its report names only its last 20 victims, and the timeline marks
            // those it sees.
            || self.world.resource::<Tracing>().recording()
            || self
                .world
                .resource::<crate::state::console::ConsoleLog>()
                .running()
                .next()
                .is_some()
        {
            ctx.request_repaint_after(ANIMATION_FRAME);
        } else if self.world.resource::<LoadRun>().is_running()
            || self.world.resource::<ContrastRun>().is_running()
            || self.world.resource::<FaultsView>().anything_on()
        {
            ctx.request_repaint_after(LIVE_FRAME);
        } else {
            ctx.request_repaint_after(IDLE_FRAME);
        }
    }

    /// Stops everything in order within `limit`: the load generator's and the contrast's
    /// sending, chaos and every fault, the chat server (listener, sockets, rooms, pool,
    /// presence, pub/sub), the observer thread, then every remaining process and the runtime's
    /// threads. True if the chat server stopped in time. Idempotent.
    pub fn shutdown(&mut self, limit: Duration) -> bool {
        let Some(runtime) = self.runtime.take() else {
            return true;
        };
        let start = Instant::now();
        // Nothing the learner started is left behind: the load's users stop sending first,
        // and end once the chat server has closed their sockets.
        self.world.resource_mut::<LoadRun>().stop();
        self.world.resource_mut::<ContrastRun>().stop();
        // Faults and chaos off while the pool and the runtime still run (the write lock is
        // released, the leak's processes stopped); the runtime's shutdown ends what is left.
        let faults = self.world.resource::<FaultsLink>().0.clone();
        self.world
            .resource_mut::<FaultsWorker>()
            .shutdown(&faults, limit / 5);
        // Leave the runtime's own shutdown (which waits up to 2 s for processes) its share.
        let chat_limit = limit.saturating_sub(start.elapsed() + Duration::from_millis(2800));
        self.lessons.shutdown(&runtime.handle());
        let in_time = chat::stop_chat(&mut self.world, chat_limit.max(Duration::from_millis(500)));
        // The users' sockets are closed now: their runs end at once.
        let runs_limit = Duration::from_millis(300);
        self.world.resource_mut::<LoadRun>().shutdown(runs_limit);
        self.world
            .resource_mut::<ContrastRun>()
            .shutdown(runs_limit);
        self.world.resource_mut::<RuntimeLink>().observer.stop();
        runtime.shutdown();
        drop(runtime);
        in_time && start.elapsed() <= limit
    }
}

impl Drop for CrashcourseApp {
    fn drop(&mut self) {
        self.shutdown(SHUTDOWN_LIMIT);
    }
}

impl eframe::App for CrashcourseApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        if !self.waker_set {
            let ctx = ctx.clone();
            self.world
                .resource::<RuntimeLink>()
                .observer
                .set_waker(move || ctx.request_repaint());
            self.waker_set = true;
        }
        self.update_view_model();
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, eframe::APP_KEY, &self.persisted());
    }

    fn on_exit(&mut self, _gl: Option<&eframe::glow::Context>) {
        self.shutdown(SHUTDOWN_LIMIT);
    }
}
