//! The status bar: is the runtime up, how many processes, how much memory, how many messages
//! per second, how busy each scheduler is; where the chat server listens (a click opens it in
//! the browser), how many connections it has, and what the database check said; and what runs
//! on purpose (chaos, faults, load, the contrast).

use std::time::Duration;

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{chaos_color, crash_color, format_bytes, ok_color, warn_color, View};
use crate::state::chat::{ChatServer, ChatStats};
use crate::state::commands::Command;
use crate::state::components::{FrameClock, Notice, RuntimeStats, Subsystem, TopSupervisors};
use crate::state::contrast::ContrastRun;
use crate::state::faults::{title, FaultsView};
use crate::state::load::LoadRun;

/// How long a notice about a failed command stays up.
const NOTICE_FOR: Duration = Duration::from_secs(6);

/// The status bar.
#[derive(Default)]
pub struct StatusBar;

impl View for StatusBar {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let stats = world.resource::<RuntimeStats>();
        let visuals = ui.visuals().clone();
        // The bar keeps the tallest height it has needed, so an indicator that comes and goes
        // (a notice, "not yielding") does not move everything above it up and down.
        let tallest_id = ui.scope_id().with("tallest status bar");
        let tallest = ui.data(|d| d.get_temp::<f32>(tallest_id)).unwrap_or(0.0);
        ui.set_min_height(tallest);
        let used = ui.horizontal_wrapped(|ui| {
            if stats.stopped {
                ui.label(
                    RichText::new("■ runtime stopped")
                        .color(crash_color(&visuals))
                        .strong(),
                )
                .on_hover_text("The embedded runtime has shut down: nothing runs any more.");
                return;
            }
            ui.label(RichText::new("⏺ runtime running").color(ok_color(&visuals)));
            ui.separator();
            ui.label(format!("processes: {}", stats.process_count));
            ui.separator();
            ui.label(format!("memory: {}", format_bytes(stats.memory)));
            ui.separator();
            ui.label(format!("messages/s: {:.0}", stats.messages_per_sec));
            ui.separator();
            ui.label("schedulers:");
            for (i, busy) in stats.busy.iter().enumerate() {
                ui.add(
                    egui::ProgressBar::new(*busy as f32)
                        .desired_width(60.0)
                        .text(format!("{}: {:.0}%", i + 1, busy * 100.0)),
                )
                .on_hover_text(format!(
                    "scheduler {} busy {:.1}% of the time",
                    i + 1,
                    busy * 100.0
                ));
            }
            ui.separator();
            ui.label(format!("run queue: {}", stats.run_queue));
            chat_status(ui, world, commands);
            trouble_status(ui, world);
            if stats.not_yielding > 0 {
                ui.separator();
                ui.label(
                    RichText::new(format!("not yielding: {}", stats.not_yielding))
                        .color(warn_color(&visuals)),
                );
            }
            if stats.events_dropped > 0 {
                ui.separator();
                ui.label(
                    RichText::new(format!("events lost: {}", stats.events_dropped))
                        .color(warn_color(&visuals)),
                )
                .on_hover_text(
                    "The view fell behind the event stream; snapshots still keep it right.",
                );
            }
            let now = world.resource::<FrameClock>().now;
            if let Some((message, at)) = &world.resource::<Notice>().0 {
                if now.saturating_duration_since(*at) < NOTICE_FOR {
                    ui.separator();
                    ui.label(RichText::new(message).color(warn_color(&visuals)));
                }
            }
            ui.separator();
            egui::widgets::global_theme_preference_buttons(ui);
        });
        let height = used.response.rect.height();
        if height > tallest {
            ui.data_mut(|d| d.insert_temp(tallest_id, height));
        }
    }
}

/// What runs on purpose: chaos, faults switched on, the load generator, the contrast. Short,
/// and never broken inside a label when the bar wraps.
fn trouble_status(ui: &mut egui::Ui, world: &World) {
    let visuals = ui.visuals().clone();
    let whole = |ui: &mut egui::Ui, text: RichText| {
        ui.add(egui::Label::new(text).wrap_mode(egui::TextWrapMode::Extend))
    };
    let faults = world.resource::<FaultsView>();
    if let Some(report) = faults.chaos().filter(|c| c.running) {
        ui.separator();
        whole(
            ui,
            RichText::new(format!("⚡ chaos: {:.0} kills/s", faults.kills_per_s))
                .color(chaos_color(&visuals))
                .strong(),
        )
        .on_hover_text(format!(
            "Chaos is killing random processes: {} so far. See the Faults tab.",
            report.killed_total
        ));
    }
    if let Some(status) = faults.status.as_ref().filter(|s| !s.on.is_empty()) {
        ui.separator();
        let names: Vec<&str> = status.on.iter().map(|k| title(*k)).collect();
        let text = match names.as_slice() {
            [one] => format!("fault on: {one}"),
            many => format!("{} faults on", many.len()),
        };
        whole(ui, RichText::new(text).color(warn_color(&visuals))).on_hover_text(format!(
            "{}. Switch them off in the Faults tab.",
            names.join(", ")
        ));
    }
    let load = world.resource::<LoadRun>();
    if let (true, Some(live)) = (load.is_running(), load.live) {
        ui.separator();
        whole(
            ui,
            RichText::new(format!(
                "load: {} users, {:.0} acked/s",
                live.open, load.acked_per_s
            )),
        )
        .on_hover_text("The load generator runs: see the Load tab");
    }
    if world.resource::<ContrastRun>().is_running() {
        ui.separator();
        whole(ui, RichText::new("contrast running"))
            .on_hover_text("The thread-pool contrast runs: see the Contrast tab");
    }
}

/// Where the chat server listens, its connections and its database.
fn chat_status(ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
    let server = world.resource::<ChatServer>();
    if server.config.is_none() {
        return;
    }
    let visuals = ui.visuals().clone();
    ui.separator();
    let stopped = world
        .resource::<TopSupervisors>()
        .get(Subsystem::Chat)
        .is_none_or(|t| t.stopped.is_some());
    match (&server.http_url, stopped) {
        (Some(url), false) => {
            ui.label("chat:");
            let mut hover = format!("Open {url} in the browser");
            if let Some(note) = &server.note {
                hover = format!("{hover}\n{note}");
            }
            if ui.link(url).on_hover_text(hover).clicked() {
                commands.push(Command::OpenUrl(url.clone()));
            }
            if server.note.is_some() {
                ui.label(RichText::new("(free port)").small().weak());
            }
        }
        _ => {
            ui.label(RichText::new("chat server stopped").color(crash_color(&visuals)));
        }
    }
    ui.separator();
    let chat = world.resource::<ChatStats>();
    ui.label(format!("connections: {}", chat.connections))
        .on_hover_text("Open WebSocket connections: one socket process each");
    if let Some(storage) = &server.storage {
        ui.separator();
        if server.storage_alarming {
            ui.label(RichText::new("⚠ database moved aside").color(warn_color(&visuals)))
                .on_hover_text(storage);
        } else {
            ui.label("database ok").on_hover_text(storage);
        }
    }
}
