//! The Crashcourse desktop app: a live view of an embedded actor runtime that the learner can
//! break.
//!
//! The app owns a [`crashcourse_runtime::Runtime`], starts the chat server and a small demo
//! tree on it, and draws them from a `bevy_ecs` view model: one entity per process, fed by the
//! runtime's event stream and by an observer thread's process-table diffs and metrics samples
//! (`state/`). Panels (`panels/`) only draw from that world and hand back [`Command`]s (select,
//! kill, crash, start again) that the app applies to the runtime.
//!
//! [`CrashcourseApp::new`] needs no window, so the whole app can be driven headless (that is
//! how the tests use it); [`run`] opens the window:
//!
//! ```no_run
//! fn main() -> eframe::Result {
//!     crashcourse_app::run(crashcourse_app::AppConfig::default())
//! }
//! ```
//!
//! Headless, as the tests drive it (a temporary database, free ports):
//!
//! ```no_run
//! let dir = tempfile::tempdir().unwrap();
//! let mut app = crashcourse_app::CrashcourseApp::new(crashcourse_app::AppConfig::isolated(
//!     &dir.path().join("chat.db"),
//! ));
//! app.update_view_model();
//! println!("chat at {:?}", app.chat_url());
//! assert!(app.shutdown(std::time::Duration::from_secs(5)));
//! ```

mod app;
pub mod bench;
pub mod demo;
pub mod format;
pub mod lessons;
pub mod panels;
pub mod persist;
pub mod state;

use std::path::Path;
use std::time::Duration;

use crashcourse_runtime::chat::ChatConfig;
use crashcourse_runtime::RuntimeConfig;

pub use eframe::egui;

pub use app::{CrashcourseApp, FrameCosts};
pub use persist::Persisted;
pub use state::commands::Command;
pub use state::components::Subsystem;

/// How the app starts: its runtime, the chat server, the demo tree, and how often it polls.
#[derive(Clone)]
pub struct AppConfig {
    /// The embedded runtime's settings.
    pub runtime: RuntimeConfig,
    /// The embedded chat server (`None`: none). Its ports are taken as given, or free ones if
    /// those are in use.
    pub chat: Option<ChatConfig>,
    /// Start the demo supervision tree at start-up.
    pub start_demo: bool,
    /// How many session processes the demo starts under its dynamic supervisor.
    pub demo_sessions: usize,
    /// How often the process table is snapshotted (on the observer thread).
    pub snapshot_interval: Duration,
    /// How often runtime, chat and pool metrics are sampled for the dashboard and warnings.
    pub metrics_interval: Duration,
    /// Where the lesson files are (`None`: found as [`lessons::Catalog::find`] says).
    pub lessons_dir: Option<std::path::PathBuf>,
}

impl Default for AppConfig {
    /// The real app: the chat server on DESIGN's ports with the database in the user's data
    /// directory.
    fn default() -> Self {
        AppConfig {
            runtime: RuntimeConfig::default(),
            chat: Some(ChatConfig::new(crashcourse_runtime::db::default_db_path())),
            start_demo: true,
            demo_sessions: 60,
            snapshot_interval: Duration::from_millis(100),
            metrics_interval: Duration::from_secs(1),
            lessons_dir: None,
        }
    }
}

impl AppConfig {
    /// The app with its chat database at `db` and the chat server on free ports: for tests,
    /// benchmarks and a second copy beside a running one.
    pub fn isolated(db: &Path) -> AppConfig {
        AppConfig {
            chat: Some(ChatConfig::new(db).any_ports()),
            ..AppConfig::default()
        }
    }
}

/// Opens the Crashcourse window and runs until it is closed; layout, theme and the last
/// selection come back from the previous run.
pub fn run(config: AppConfig) -> eframe::Result {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("Crashcourse")
            .with_inner_size([1360.0, 860.0])
            .with_min_inner_size([900.0, 560.0]),
        persist_window: true,
        ..Default::default()
    };
    eframe::run_native(
        "Crashcourse",
        options,
        Box::new(move |cc| {
            let persisted = cc
                .storage
                .and_then(|s| eframe::get_value::<Persisted>(s, eframe::APP_KEY))
                .unwrap_or_default();
            let mut app = CrashcourseApp::new(config);
            app.restore(persisted, &cc.egui_ctx);
            Ok(Box::new(app))
        }),
    )
}
