//! The panels: each draws one part of the view model and hands back [`Command`]s. None of
//! them touches the runtime; they see only the [`World`].

pub mod console;
pub mod contrast;
pub mod dashboard;
pub mod faults;
pub mod inspector;
pub mod lesson;
pub mod load;
pub mod neighbourhood;
pub mod processes;
pub mod sequence;
pub mod status;
pub mod stopped;
pub mod timeline;
pub mod tree;
pub mod tree_graph;
pub mod warnings;

use std::time::Duration;

use bevy_ecs::world::World;
use crashcourse_runtime::{Kind, Pid, Status};
use eframe::egui::{self, Color32};

pub use crate::format::format_bytes;
use crate::state::commands::Command;
use crate::state::components::{Identity, PidIndex, ProcessStatus};

pub use console::ConsolePanel;
pub use contrast::ContrastPanel;
pub use dashboard::Dashboard;
pub use faults::FaultsPanel;
pub use inspector::Inspector;
pub use load::LoadPanel;
pub use processes::ProcessTable;
pub use sequence::SequenceDiagram;
pub use status::StatusBar;
pub use stopped::StoppedBanner;
pub use timeline::TimelinePanel;
pub use tree::SupervisionTree;
pub use warnings::WarningsPanel;

/// The views that share the middle of the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    #[default]
    Processes,
    Dashboard,
    Warnings,
    Faults,
    Load,
    Contrast,
    /// The sequence diagram of the last trace.
    Trace,
    /// The console: questions to the live runtime.
    Console,
}

/// A panel: draws from the world, asks for changes through `commands`.
pub trait View {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>);
}

/// The colour a process kind is drawn in.
pub fn kind_color(kind: Kind, visuals: &egui::Visuals) -> Color32 {
    let dark = visuals.dark_mode;
    match kind {
        Kind::Supervisor => pick(dark, (120, 170, 255), (30, 90, 200)),
        Kind::DynamicSupervisor => pick(dark, (190, 150, 255), (110, 60, 190)),
        Kind::Server => pick(dark, (90, 210, 190), (0, 130, 110)),
        Kind::Worker => visuals.text_color(),
        Kind::Socket | Kind::Channel => pick(dark, (150, 200, 255), (20, 100, 170)),
        Kind::Room | Kind::Presence | Kind::PubSub => pick(dark, (240, 160, 210), (170, 40, 120)),
        Kind::Pool | Kind::PoolConnection => pick(dark, (230, 190, 100), (150, 100, 0)),
        Kind::Http => pick(dark, (180, 200, 140), (80, 110, 20)),
    }
}

/// The colour of a liveness/scheduling status.
pub fn status_color(status: &ProcessStatus, visuals: &egui::Visuals) -> Color32 {
    let dark = visuals.dark_mode;
    match status {
        ProcessStatus::Alive(Status::Running) => pick(dark, (110, 220, 110), (20, 140, 20)),
        ProcessStatus::Alive(Status::Runnable) => pick(dark, (220, 210, 100), (140, 120, 0)),
        ProcessStatus::Alive(Status::NotYielding) => warn_color(visuals),
        ProcessStatus::Alive(_) => visuals.weak_text_color(),
        ProcessStatus::Exited { .. } => crash_color(visuals),
    }
}

/// Red for crashes and stopped things.
pub fn crash_color(visuals: &egui::Visuals) -> Color32 {
    pick(visuals.dark_mode, (255, 100, 90), (200, 30, 20))
}

/// Green for restarts and healthy things.
pub fn ok_color(visuals: &egui::Visuals) -> Color32 {
    pick(visuals.dark_mode, (110, 220, 110), (20, 140, 20))
}

/// Magenta for what chaos did.
pub fn chaos_color(visuals: &egui::Visuals) -> Color32 {
    pick(visuals.dark_mode, (235, 120, 255), (150, 30, 170))
}

/// Orange for warnings.
pub fn warn_color(visuals: &egui::Visuals) -> Color32 {
    pick(visuals.dark_mode, (255, 170, 60), (190, 100, 0))
}

fn pick(dark: bool, on_dark: (u8, u8, u8), on_light: (u8, u8, u8)) -> Color32 {
    let (r, g, b) = if dark { on_dark } else { on_light };
    Color32::from_rgb(r, g, b)
}

/// "0.4s", "42s", "3m 07s", "2h 05m".
pub fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    if secs < 10 {
        format!("{:.1}s", age.as_secs_f32())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m {:02}s", secs / 60, secs % 60)
    } else {
        format!("{}h {:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

/// Busy time over the window and its share of one core: "12 ms 0.2%", "0 ms".
pub fn format_busy(busy: Duration) -> String {
    let share = busy.as_secs_f64() / crashcourse_runtime::BUSY_WINDOW.as_secs_f64() * 100.0;
    let ms = busy.as_secs_f64() * 1000.0;
    match (ms, share) {
        (ms, _) if ms < 0.05 => "0 ms".to_string(),
        (ms, share) if ms < 10.0 => format!("{ms:.1} ms {share:.1}%"),
        (ms, share) => format!("{ms:.0} ms {share:.0}%"),
    }
}

/// The label of `pid` if the world knows it.
pub fn label_of(world: &World, pid: Pid) -> Option<&str> {
    let entity = world.resource::<PidIndex>().0.get(&pid)?;
    world.get::<Identity>(*entity).map(|i| &*i.label)
}

/// A one-line "Key: value" label, the key dimmed; one widget, so its accessible label is the
/// whole line.
pub fn fact(ui: &mut egui::Ui, key: &str, value: impl Into<String>) -> egui::Response {
    let mut job = egui::text::LayoutJob::default();
    let font = egui::TextStyle::Body.resolve(ui.style());
    job.append(
        &format!("{key}: "),
        0.0,
        egui::TextFormat::simple(font.clone(), ui.visuals().weak_text_color()),
    );
    job.append(
        &value.into(),
        0.0,
        egui::TextFormat::simple(font, ui.visuals().strong_text_color()),
    );
    ui.label(job)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_ages_read_like_a_person_wrote_them() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(3 * 1024 * 1024), "3.0 MiB");
        assert_eq!(format_age(Duration::from_millis(400)), "0.4s");
        assert_eq!(format_age(Duration::from_secs(187)), "3m 07s");
        assert_eq!(format_age(Duration::from_secs(7500)), "2h 05m");
        assert_eq!(format_busy(Duration::ZERO), "0 ms");
        assert_eq!(format_busy(Duration::from_millis(5)), "5.0 ms 0.1%");
        assert_eq!(format_busy(Duration::from_millis(2500)), "2500 ms 50%");
    }
}
