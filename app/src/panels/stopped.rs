//! The banner shown when the top supervisor has stopped: what stopped, why, and a way to start
//! it again. Nothing supervises a top supervisor, so nothing else brings it back.

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{crash_color, View};
use crate::state::commands::Command;
use crate::state::components::{RuntimeStats, TopSupervisor};

/// The "stopped" banner; draws nothing while the top supervisor runs.
#[derive(Default)]
pub struct StoppedBanner;

impl StoppedBanner {
    /// Whether the banner has something to say.
    pub fn is_shown(world: &World) -> bool {
        world.resource::<TopSupervisor>().stopped.is_some()
    }
}

impl View for StoppedBanner {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let Some(report) = &world.resource::<TopSupervisor>().stopped else {
            return;
        };
        let visuals = ui.visuals().clone();
        let reason = report
            .reason
            .as_ref()
            .map_or_else(|| "unknown".to_string(), |r| r.to_string());
        ui.horizontal_wrapped(|ui| {
            ui.label(
                RichText::new(format!(
                    "The top supervisor \"{}\" {} stopped (reason: {reason}).",
                    report.label, report.pid
                ))
                .color(crash_color(&visuals))
                .strong(),
            );
            if let Some(why) = &report.why {
                ui.label(format!("It {why}, so it stopped its children and exited."));
            }
            ui.label("Everything under it is gone, and nothing supervises a top-level supervisor.");
            let runtime_up = !world.resource::<RuntimeStats>().stopped;
            if ui
                .add_enabled(runtime_up, egui::Button::new("Start again"))
                .on_hover_text("Start the demo supervision tree again")
                .clicked()
            {
                commands.push(Command::StartDemo);
            }
        });
    }
}
