//! The Faults panel: chaos (kinds as the process table names them, rate, duration, start and
//! stop, kills per kind as it goes) and one switch per fault, each with what it does and the
//! figure that shows it.

use std::time::Duration;

use bevy_ecs::world::World;
use crashcourse_runtime::{ChaosPlan, FaultKind, Kind};
use eframe::egui::{self, RichText};

use super::{chaos_color, format_age, kind_color, warn_color, View};
use crate::state::commands::Command;
use crate::state::faults::{explanation, figure, title, FaultsView};

/// Every kind chaos can pick from, in the order the panel lists them.
pub const CHAOS_KINDS: [Kind; 12] = [
    Kind::Channel,
    Kind::Socket,
    Kind::Room,
    Kind::PoolConnection,
    Kind::Worker,
    Kind::Server,
    Kind::Presence,
    Kind::PubSub,
    Kind::Pool,
    Kind::Http,
    Kind::Supervisor,
    Kind::DynamicSupervisor,
];

/// The fastest chaos the panel offers: beyond it, more victims die between two frames than
/// chaos's report names, and the timeline could no longer mark every one.
pub const MAX_RATE: f64 = 300.0;

/// The Faults panel; keeps the chaos plan being edited.
pub struct FaultsPanel {
    /// Whether each of [`CHAOS_KINDS`] is chosen.
    pub kinds: [bool; CHAOS_KINDS.len()],
    pub per_second: f64,
    pub duration_s: u64,
}

impl Default for FaultsPanel {
    /// The chat server's processes, 10 kills a second for 10 s.
    fn default() -> Self {
        let mut kinds = [false; CHAOS_KINDS.len()];
        kinds[..4].fill(true);
        FaultsPanel {
            kinds,
            per_second: 10.0,
            duration_s: 10,
        }
    }
}

impl FaultsPanel {
    /// The plan the panel's settings make.
    pub fn plan(&self) -> ChaosPlan {
        ChaosPlan {
            per_second: self.per_second,
            duration: Duration::from_secs(self.duration_s),
            kinds: CHAOS_KINDS
                .iter()
                .zip(self.kinds)
                .filter(|(_, on)| *on)
                .map(|(k, _)| *k)
                .collect(),
            seed: None,
        }
    }
}

impl View for FaultsPanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let view = world.resource::<FaultsView>();
        egui::ScrollArea::vertical()
            .id_salt("faults scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.chaos_ui(ui, view, commands);
                ui.separator();
                faults_ui(ui, view, commands);
            });
    }
}

impl FaultsPanel {
    fn chaos_ui(&mut self, ui: &mut egui::Ui, view: &FaultsView, commands: &mut Vec<Command>) {
        let visuals = ui.visuals().clone();
        let running = view.chaos_running();
        ui.horizontal_wrapped(|ui| {
            ui.heading("Chaos");
            ui.weak("kills random processes of the chosen kinds; supervisors restart them");
        });
        ui.add_enabled_ui(!running, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label("Kinds:");
                for (kind, on) in CHAOS_KINDS.iter().zip(self.kinds.iter_mut()) {
                    let text = RichText::new(kind.name()).color(kind_color(*kind, &visuals));
                    ui.checkbox(on, text);
                }
            });
            ui.horizontal(|ui| {
                ui.label("Rate");
                ui.add(
                    egui::DragValue::new(&mut self.per_second)
                        .range(0.1..=MAX_RATE)
                        .speed(0.5)
                        .suffix(" kills/s"),
                );
                ui.label("for");
                ui.add(
                    egui::DragValue::new(&mut self.duration_s)
                        .range(1..=3600)
                        .suffix(" s"),
                );
            });
        });
        ui.horizontal(|ui| {
            if running {
                if ui.button("Stop chaos").clicked() {
                    commands.push(Command::StopChaos);
                }
            } else {
                let any = self.kinds.iter().any(|k| *k);
                let start = ui
                    .add_enabled(any, egui::Button::new("Start chaos"))
                    .on_disabled_hover_text("Choose at least one kind of process");
                if start.clicked() {
                    commands.push(Command::StartChaos(self.plan()));
                }
            }
            if let Some(report) = view.chaos() {
                let state = if report.running {
                    RichText::new(format!(
                        "⚡ running {}: {:.0} kills/s",
                        format_age(report.elapsed),
                        view.kills_per_s
                    ))
                    .color(chaos_color(&visuals))
                } else {
                    RichText::new(format!("ended after {}", format_age(report.elapsed))).weak()
                };
                ui.label(state);
            }
        });
        let Some(report) = view.chaos() else {
            return;
        };
        ui.horizontal_wrapped(|ui| {
            ui.label(RichText::new(format!("killed: {}", report.killed_total)).strong());
            for (kind, n) in &report.killed {
                ui.label(
                    RichText::new(format!("{} {n}", kind.name()))
                        .color(kind_color(*kind, &visuals)),
                );
            }
            if report.missed > 0 {
                ui.label(RichText::new(format!("missed: {}", report.missed)).weak())
                    .on_hover_text("Ticks that found no live process of the chosen kinds");
            }
        });
        if let Some((pid, name)) = report.recent.last() {
            ui.weak(format!("last: {name} {pid}"));
        }
    }
}

/// One row per fault: its switch, what it does, its live figure; and "All off".
fn faults_ui(ui: &mut egui::Ui, view: &FaultsView, commands: &mut Vec<Command>) {
    let visuals = ui.visuals().clone();
    ui.horizontal(|ui| {
        ui.heading("Faults");
        let on = view.status.as_ref().map_or(0, |s| s.on.len());
        if ui
            .add_enabled(on > 0 || view.chaos_running(), egui::Button::new("All off"))
            .on_hover_text("Switch every fault off and stop chaos")
            .clicked()
        {
            commands.push(Command::AllFaultsOff);
        }
        ui.weak("each switches off leaving nothing behind");
    });
    egui::Grid::new("faults grid")
        .num_columns(2)
        .spacing([12.0, 6.0])
        .striped(true)
        .show(ui, |ui| {
            for kind in FaultKind::ALL {
                let on = view.is_on(kind);
                let pending = view
                    .pending
                    .iter()
                    .find(|(k, _)| *k == kind)
                    .map(|(_, o)| *o);
                let mut checked = pending.unwrap_or(on);
                let label = RichText::new(title(kind)).strong();
                let toggle = ui
                    .add_enabled(pending.is_none(), egui::Checkbox::new(&mut checked, label))
                    .on_hover_text(explanation(kind));
                if toggle.changed() {
                    commands.push(Command::Fault {
                        fault: kind,
                        on: checked,
                    });
                }
                ui.vertical(|ui| {
                    ui.label(explanation(kind));
                    match (pending, &view.status) {
                        (Some(true), _) => {
                            ui.label(RichText::new("switching on…").weak());
                        }
                        (Some(false), _) => {
                            ui.label(
                                RichText::new("switching off: waiting for its processes to go…")
                                    .weak(),
                            );
                        }
                        (None, Some(status)) if on => {
                            ui.label(
                                RichText::new(format!("on: {}", figure(kind, status)))
                                    .color(warn_color(&visuals)),
                            );
                        }
                        _ => {}
                    }
                });
                ui.end_row();
            }
        });
}
