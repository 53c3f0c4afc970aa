//! The warnings: what looks wrong right now (and what did recently), each with the figures
//! behind it and a paragraph on what it means and what to check.

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{format_age, label_of, warn_color, View};
use crate::state::commands::Command;
use crate::state::components::FrameClock;
use crate::state::warnings::{Warning, WarningKind, Warnings};

/// Warnings of one kind listed in full; the rest are counted.
const SHOWN_PER_KIND: usize = 8;

/// The warnings panel.
#[derive(Default)]
pub struct WarningsPanel;

impl View for WarningsPanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let warnings = world.resource::<Warnings>();
        let now = world.resource::<FrameClock>().now;
        let visuals = ui.visuals().clone();
        if warnings.list().next().is_none() {
            ui.weak(
                "No warnings. They appear here when the process count climbs steadily, a \
                 mailbox or a process's memory keeps growing, the database pool saturates or \
                 drops requests, or a process holds a scheduler thread too long.",
            );
            return;
        }
        // One card per kind: the explanation once, then the processes it concerns.
        let mut groups: Vec<(WarningKind, Vec<&Warning>)> = Vec::new();
        for warning in warnings.list() {
            match groups.iter_mut().find(|(kind, _)| *kind == warning.kind) {
                Some((_, list)) => list.push(warning),
                None => groups.push((warning.kind, vec![warning])),
            }
        }
        egui::ScrollArea::vertical()
            .id_salt("warnings scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                for (kind, list) in groups {
                    let active = list.iter().filter(|w| w.is_active()).count();
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.set_width(ui.available_width());
                        ui.horizontal_wrapped(|ui| {
                            let title = RichText::new(format!("⚠ {}", kind.title())).strong();
                            if active > 0 {
                                ui.label(title.color(warn_color(&visuals)));
                            } else {
                                ui.label(title.weak());
                            }
                            let resolved = list.len() - active;
                            ui.weak(match (active, resolved) {
                                (_, 0) => format!("{active} active"),
                                (0, _) => format!("{resolved} resolved"),
                                _ => format!("{active} active, {resolved} resolved"),
                            });
                        });
                        for warning in list.iter().take(SHOWN_PER_KIND) {
                            warning_line(ui, world, warning, now, commands);
                        }
                        if list.len() > SHOWN_PER_KIND {
                            ui.weak(format!("… and {} more", list.len() - SHOWN_PER_KIND));
                        }
                        egui::CollapsingHeader::new("What it means and what to check")
                            .id_salt(("warning", kind.title()))
                            .default_open(active > 0)
                            .show(ui, |ui| {
                                ui.add(egui::Label::new(kind.explanation()).wrap());
                            });
                    });
                    ui.add_space(4.0);
                }
            });
    }
}

/// One warning: the process (a link that selects it), the figures, and for how long.
fn warning_line(
    ui: &mut egui::Ui,
    world: &World,
    warning: &Warning,
    now: std::time::Instant,
    commands: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        if let Some(pid) = warning.pid {
            let label = label_of(world, pid)
                .map(str::to_string)
                .or_else(|| warning.subject.clone());
            let text = match label {
                Some(label) => format!("{label} {pid}"),
                None => pid.to_string(),
            };
            if ui.link(text).on_hover_text("Select it").clicked() {
                commands.push(Command::Select(pid));
            }
        } else if let Some(subject) = &warning.subject {
            ui.monospace(subject);
        }
        let text = RichText::new(&warning.detail);
        if warning.is_active() {
            ui.label(text);
        } else {
            ui.label(text.weak());
        }
        match warning.resolved {
            None => ui.weak(format!(
                "for {}",
                format_age(now.saturating_duration_since(warning.since))
            )),
            Some(at) => ui.weak(format!(
                "resolved {} ago",
                format_age(now.saturating_duration_since(at))
            )),
        };
    });
}
