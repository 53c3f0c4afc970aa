//! The inspector: everything `process_info` says about the selected process, and the buttons
//! that break it.

use bevy_ecs::world::World;
use crashcourse_runtime::{Pid, Status};
use eframe::egui::{self, RichText};

use super::{crash_color, fact, format_age, format_busy, format_bytes, kind_color, label_of, View};
use crate::state::commands::Command;
use crate::state::components::{Inspected, Selection};

/// The inspector panel.
#[derive(Default)]
pub struct Inspector;

impl View for Inspector {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        ui.heading("Inspector");
        ui.separator();
        let selection = world.resource::<Selection>();
        let Some(pid) = selection.pid else {
            ui.weak("Select a process in the tree, the table or the timeline.");
            return;
        };
        let Some(info) = &world.resource::<Inspected>().0 else {
            ui.label(format!(
                "{pid} is gone, and the runtime no longer remembers it."
            ));
            return;
        };
        let visuals = ui.visuals().clone();
        let label = info
            .label
            .as_deref()
            .or(info.name.as_deref())
            .unwrap_or(info.kind.name());
        ui.label(
            RichText::new(label)
                .heading()
                .color(kind_color(info.kind, &visuals)),
        );
        let alive = info.status != Status::Exited;
        ui.horizontal(|ui| {
            ui.monospace(pid.to_string());
            ui.label(info.kind.name());
            if alive {
                ui.label(info.status.name());
            } else {
                ui.colored_label(crash_color(&visuals), "exited");
            }
        });
        if let Some((old, new)) = selection.followed.filter(|(_, new)| *new == pid) {
            ui.weak(format!("Followed the restart from {old} to {new}"));
        }

        ui.add_space(4.0);
        ui.horizontal(|ui| {
            ui.add_enabled_ui(alive, |ui| {
                if ui
                    .button("Kill")
                    .on_hover_text("Send the untrappable kill signal: it exits with `killed`")
                    .clicked()
                {
                    commands.push(Command::Kill(pid));
                }
                if ui
                    .button("Exit (shutdown)")
                    .on_hover_text("Send an exit signal with reason `shutdown` (trappable)")
                    .clicked()
                {
                    commands.push(Command::Shutdown(pid));
                }
                if ui
                    .button("Crash")
                    .on_hover_text("Make it panic at its next poll")
                    .clicked()
                {
                    commands.push(Command::Crash(pid));
                }
            });
        });
        ui.add_enabled_ui(alive, |ui| {
            if ui
                .button("Trace 50 events / 1 s")
                .on_hover_text(
                    "Record what it sends and receives, spawns, links and its exit, as \
                     :erlang.trace/3 would, until 50 events or 1 s; shown as a sequence diagram",
                )
                .clicked()
            {
                commands.push(Command::Trace(pid));
            }
        });
        ui.separator();

        egui::ScrollArea::vertical()
            .id_salt("inspector scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if let Some(name) = &info.name {
                    fact(ui, "Registered as", name.to_string());
                }
                match info.parent {
                    Some(parent) => {
                        ui.horizontal(|ui| {
                            ui.weak("Supervised by:");
                            pid_link(ui, world, parent, commands);
                        });
                    }
                    None => {
                        fact(ui, "Supervised by", "nobody (top level)");
                    }
                }
                fact(ui, "Trap exit", if info.trap_exit { "yes" } else { "no" });
                fact(ui, "Restarts", info.restarts.to_string());
                if let Some(reason) = &info.last_exit {
                    let key = if alive { "Last exit" } else { "Exit reason" };
                    fact(ui, key, reason.to_string());
                }
                if let Some(row) = &info.row {
                    fact(ui, "Memory", format_bytes(row.memory));
                    fact(
                        ui,
                        "Messages",
                        format!("{} in, {} out", row.messages_in, row.messages_out),
                    );
                    fact(ui, "Age", format_age(row.age));
                    busy_section(ui, info);
                    if let Some(sup) = &row.supervisor {
                        fact(
                            ui,
                            "Restart intensity",
                            format!(
                                "{} of {} in {}s",
                                sup.restarts_in_period,
                                sup.max_restarts,
                                sup.period.as_secs_f32()
                            ),
                        );
                        fact(ui, "Children", sup.children.to_string());
                    }
                }

                egui::CollapsingHeader::new("State")
                    .default_open(true)
                    .show(ui, |ui| match &info.state {
                        Some(state) => {
                            ui.add(egui::Label::new(RichText::new(state).monospace()).wrap());
                        }
                        None => {
                            ui.weak("(not rendered: only servers show their state)");
                        }
                    });

                egui::CollapsingHeader::new(format!("Mailbox ({})", info.mailbox_len))
                    .default_open(true)
                    .show(ui, |ui| {
                        if info.mailbox_head.is_empty() {
                            ui.weak("empty");
                        }
                        for message in &info.mailbox_head {
                            ui.monospace(message);
                        }
                        let more = info.mailbox_len.saturating_sub(info.mailbox_head.len());
                        if more > 0 {
                            ui.weak(format!("… and {more} more"));
                        }
                    });

                egui::CollapsingHeader::new(format!("Links ({})", info.links.len()))
                    .default_open(true)
                    .show(ui, |ui| {
                        if info.links.is_empty() {
                            ui.weak("none");
                        }
                        for link in &info.links {
                            pid_link(ui, world, *link, commands);
                        }
                    });

                egui::CollapsingHeader::new(format!(
                    "Monitors ({} held, {} on it)",
                    info.monitors.len(),
                    info.monitored_by.len()
                ))
                .default_open(false)
                .show(ui, |ui| {
                    for (monitor, target) in &info.monitors {
                        ui.horizontal(|ui| {
                            ui.monospace(monitor.to_string());
                            ui.weak("watches");
                            pid_link(ui, world, *target, commands);
                        });
                    }
                    for (monitor, watcher) in &info.monitored_by {
                        ui.horizontal(|ui| {
                            ui.monospace(monitor.to_string());
                            ui.weak("watched by");
                            pid_link(ui, world, *watcher, commands);
                        });
                    }
                    if info.monitors.is_empty() && info.monitored_by.is_empty() {
                        ui.weak("none");
                    }
                });

                if !info.subscriptions.is_empty() {
                    egui::CollapsingHeader::new("Subscriptions").show(ui, |ui| {
                        for topic in &info.subscriptions {
                            ui.monospace(topic.to_string());
                        }
                    });
                }

                egui::CollapsingHeader::new(format!(
                    "Restart history ({})",
                    info.restart_history.len()
                ))
                .default_open(true)
                .show(ui, |ui| {
                    if info.restart_history.is_empty() {
                        ui.weak("never restarted");
                    }
                    for past in info.restart_history.iter().rev() {
                        // Wrapped: a long panic message must not widen the panel.
                        ui.horizontal_wrapped(|ui| {
                            ui.monospace(format!("{:>8.2}s", past.at.as_secs_f32()));
                            ui.monospace(past.pid.to_string());
                            ui.colored_label(crash_color(&visuals), past.reason.to_string());
                        });
                    }
                });
            });
    }
}

/// Busy time and polls over the window and in all, as `recon:proc_window` would rank them.
fn busy_section(ui: &mut egui::Ui, info: &crashcourse_runtime::observe::ProcessInfo) {
    fact(ui, "Busy (last 5 s)", format_busy(info.busy))
        .on_hover_text("time spent in polls, and its share of one core");
    fact(ui, "Polls (last 5 s)", info.polls.to_string());
    fact(
        ui,
        "Busy in all",
        format!(
            "{:.1} ms in {} polls",
            info.busy_total.as_secs_f64() * 1000.0,
            info.polls_total
        ),
    );
}

/// A clickable pid with its label, that selects it.
fn pid_link(ui: &mut egui::Ui, world: &World, pid: Pid, commands: &mut Vec<Command>) {
    let text = match label_of(world, pid) {
        Some(label) => format!("{label} {pid}"),
        None => pid.to_string(),
    };
    if ui.link(text).clicked() {
        commands.push(Command::Select(pid));
    }
}
