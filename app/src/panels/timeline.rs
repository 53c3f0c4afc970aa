//! The timeline: abnormal exits, restarts, restart intensity exceeded and escalations, newest
//! first; a click selects the process concerned.

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{chaos_color, crash_color, ok_color, warn_color, View};
use crate::state::commands::Command;
use crate::state::components::Selection;
use crate::state::timeline::{Notable, Timeline};

/// The timeline panel.
#[derive(Default)]
pub struct TimelinePanel;

impl View for TimelinePanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let timeline = world.resource::<Timeline>();
        ui.horizontal(|ui| {
            ui.heading("Timeline");
            ui.weak(format!("{} notable events, newest first", timeline.total));
        });
        ui.separator();
        if timeline.is_empty() {
            ui.weak(
                "Nothing has failed yet. Kill or crash a process to see what its supervisor does.",
            );
            return;
        }
        let selected = world.resource::<Selection>().pid;
        let visuals = ui.visuals().clone();
        let row_height = ui.spacing().interact_size.y;
        egui::ScrollArea::vertical()
            .id_salt("timeline scroll")
            .auto_shrink([false, false])
            .show_rows(ui, row_height, timeline.len(), |ui, range| {
                for i in range {
                    let Some(entry) = timeline.nth_newest(i) else {
                        continue;
                    };
                    let (icon, color) = match entry.what {
                        Notable::Exit => ("✖", crash_color(&visuals)),
                        Notable::Restart => ("↻", ok_color(&visuals)),
                        Notable::IntensityExceeded => ("⚠", warn_color(&visuals)),
                        Notable::Escalation => ("⬆", crash_color(&visuals)),
                        Notable::ChaosKill => ("⚡", chaos_color(&visuals)),
                        Notable::Signal => ("➡", warn_color(&visuals)),
                    };
                    ui.horizontal(|ui| {
                        ui.set_height(row_height);
                        ui.monospace(format!("{:>8.2}s", entry.at.as_secs_f32()));
                        ui.label(RichText::new(icon).color(color));
                        // Truncated: a long reason must not push the panel wider than its place.
                        if ui
                            .add(
                                egui::Button::selectable(selected == Some(entry.pid), &entry.text)
                                    .truncate(),
                            )
                            .on_hover_text(&entry.text)
                            .clicked()
                        {
                            commands.push(Command::Select(entry.pid));
                        }
                    });
                }
            });
    }
}
