//! The banner shown when a top supervisor has stopped (or could not start): what stopped, why,
//! and a way to start it again. Nothing supervises a top supervisor, so nothing else brings it
//! back.

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{crash_color, View};
use crate::state::commands::Command;
use crate::state::components::{RuntimeStats, Subsystem, TopSupervisors};

/// The "stopped" banner; draws nothing while every top supervisor runs.
#[derive(Default)]
pub struct StoppedBanner;

impl StoppedBanner {
    /// Whether the banner has something to say.
    pub fn is_shown(world: &World) -> bool {
        world
            .resource::<TopSupervisors>()
            .stopped()
            .next()
            .is_some()
    }

    /// The banner's frame: a top panel's, tinted red.
    pub fn frame(style: &egui::Style) -> egui::Frame {
        egui::Frame::side_top_panel(style).fill(style.visuals.error_fg_color.gamma_multiply(0.15))
    }
}

impl View for StoppedBanner {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let visuals = ui.visuals().clone();
        let runtime_up = !world.resource::<RuntimeStats>().stopped;
        for (top, report) in world.resource::<TopSupervisors>().stopped() {
            let title = top.subsystem.title();
            ui.horizontal_wrapped(|ui| {
                match report.pid {
                    Some(pid) => {
                        let reason = report
                            .reason
                            .as_ref()
                            .map_or_else(|| "unknown".to_string(), |r| r.to_string());
                        ui.label(
                            RichText::new(format!(
                                "The {title}'s top supervisor \"{}\" {pid} stopped (reason: {reason}).",
                                report.label
                            ))
                            .color(crash_color(&visuals))
                            .strong(),
                        );
                        if let Some(why) = &report.why {
                            ui.label(format!("It {why}, so it stopped its children and exited."));
                        }
                        let consequence = match top.subsystem {
                            Subsystem::Chat => {
                                "Every connection was closed and the chat page cannot connect; \
                                 nothing supervises a top-level supervisor."
                            }
                            Subsystem::Demo => {
                                "Everything under it is gone, and nothing supervises a top-level \
                                 supervisor."
                            }
                        };
                        ui.label(consequence);
                    }
                    None => {
                        let why = report.why.as_deref().unwrap_or("unknown error");
                        ui.label(
                            RichText::new(format!("The {title} could not start: {why}."))
                                .color(crash_color(&visuals))
                                .strong(),
                        );
                    }
                }
                if ui
                    .add_enabled(runtime_up, egui::Button::new("Start again"))
                    .on_hover_text(format!("Start the {title} again"))
                    .clicked()
                {
                    commands.push(Command::StartAgain(top.subsystem));
                }
            });
        }
    }
}
