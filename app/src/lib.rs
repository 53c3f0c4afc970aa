//! The Crashcourse desktop app: a live view of an embedded actor runtime that the learner can
//! break.
//!
//! The app owns a [`crashcourse_runtime::Runtime`], starts a small supervision tree on it, and
//! draws it every frame from a `bevy_ecs` view model: one entity per process, fed by the
//! runtime's event stream and process-table snapshots (`state/`). Panels (`panels/`) only draw
//! from that world and hand back [`Command`]s (select, kill, crash, start again) that the app
//! applies to the runtime.
//!
//! [`CrashcourseApp::new`] needs no window, so the whole app can be driven headless (that is
//! how the tests use it); [`run`] opens the window:
//!
//! ```no_run
//! fn main() -> eframe::Result {
//!     crashcourse_app::run(crashcourse_app::AppConfig::default())
//! }
//! ```

mod app;
pub mod demo;
pub mod panels;
pub mod state;

use std::time::Duration;

use crashcourse_runtime::RuntimeConfig;

pub use eframe::egui;

pub use app::CrashcourseApp;
pub use state::commands::Command;

/// How the app starts: its runtime, the demo tree, and how often it polls the runtime.
#[derive(Clone)]
pub struct AppConfig {
    /// The embedded runtime's settings.
    pub runtime: RuntimeConfig,
    /// Start the demo supervision tree at start-up (until the chat server exists).
    pub start_demo: bool,
    /// How many session processes the demo starts under its dynamic supervisor.
    pub demo_sessions: usize,
    /// How often the process table is snapshotted (and the window repainted while idle).
    pub snapshot_interval: Duration,
    /// How often runtime metrics are turned into rates for the status bar.
    pub metrics_interval: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            runtime: RuntimeConfig::default(),
            start_demo: true,
            demo_sessions: 60,
            snapshot_interval: Duration::from_millis(100),
            metrics_interval: Duration::from_secs(1),
        }
    }
}

/// Opens the Crashcourse window and runs until it is closed.
pub fn run(config: AppConfig) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Crashcourse")
            .with_inner_size([1360.0, 860.0])
            .with_min_inner_size([900.0, 560.0]),
        ..Default::default()
    };
    eframe::run_native(
        "Crashcourse",
        options,
        Box::new(move |_cc| Ok(Box::new(CrashcourseApp::new(config)))),
    )
}
