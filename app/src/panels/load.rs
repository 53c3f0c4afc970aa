//! The Load panel: the load generator against the embedded chat server — clients, ramp, rate or
//! arrival rate, duration, room, slow requests; start and stop; live counts while it runs and
//! the k6-like summary after.

use std::time::Duration;

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};

use super::{crash_color, fact, ok_color, View};
use crate::state::commands::Command;
use crate::state::load::{chat_ws_url, LoadRun, LoadSettings};

/// The Load panel; keeps the settings being edited.
pub struct LoadPanel {
    pub settings: LoadSettings,
    /// The open model's arrival rate while the closed model is chosen (kept for switching back).
    arrival_rate: f64,
    slow_ms: u64,
}

impl Default for LoadPanel {
    fn default() -> Self {
        LoadPanel {
            settings: LoadSettings::default(),
            arrival_rate: 100.0,
            slow_ms: 100,
        }
    }
}

impl View for LoadPanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let run = world.resource::<LoadRun>();
        let url = chat_ws_url(world);
        egui::ScrollArea::vertical()
            .id_salt("load scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.heading("Load generator");
                    match &url {
                        Some(url) => ui.weak(format!("real WebSocket clients against {url}")),
                        None => ui.colored_label(
                            crash_color(ui.visuals()),
                            "the chat server is not running",
                        ),
                    };
                });
                match (&run.settings, run.is_running()) {
                    // The form holds the next run's settings; the run going on (perhaps
                    // started by a lesson) may differ, so it is described instead.
                    (Some(settings), true) => {
                        ui.label(describe(settings));
                    }
                    _ => self.settings_ui(ui),
                }
                ui.add_space(4.0);
                ui.horizontal(|ui| {
                    if run.is_running() {
                        let stop = ui.add_enabled(!run.stopping, egui::Button::new("Stop load"));
                        if stop.clicked() {
                            commands.push(Command::StopLoad);
                        }
                        let what = if run.stopping {
                            "stopping: waiting for replies in flight"
                        } else {
                            "running"
                        };
                        ui.label(RichText::new(what).color(ok_color(ui.visuals())));
                    } else {
                        let start = ui
                            .add_enabled(url.is_some(), egui::Button::new("Start load"))
                            .on_hover_text(
                                "Starts the virtual users on the generator's own threads",
                            );
                        if start.clicked() {
                            commands.push(Command::StartLoad(self.settings.clone()));
                        }
                    }
                });
                ui.separator();
                live_ui(ui, run);
                // The last run's summary, once no other run is going on (it would be taken
                // for this one's).
                if let (Some(summary), false) = (&run.last, run.is_running()) {
                    ui.separator();
                    ui.label(RichText::new("Summary of the last run").strong());
                    // As the command line prints it: lines kept whole, scrolled sideways if need be.
                    egui::ScrollArea::horizontal()
                        .id_salt("load summary")
                        .show(ui, |ui| {
                            ui.add(
                                egui::Label::new(
                                    RichText::new(summary.to_text().trim_matches('\n'))
                                        .monospace()
                                        .size(11.0),
                                )
                                .wrap_mode(egui::TextWrapMode::Extend),
                            );
                        });
                }
            });
    }
}

impl LoadPanel {
    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let s = &mut self.settings;
        egui::Grid::new("load settings")
            .num_columns(4)
            .spacing([12.0, 4.0])
            .show(ui, |ui| {
                ui.label("Clients");
                ui.add(
                    egui::DragValue::new(&mut s.clients)
                        .range(1..=crashcourse_load::MAX_CLIENTS)
                        .speed(5.0),
                )
                .on_hover_text("Virtual users: one WebSocket, so one socket process, each");
                ui.label("Ramp");
                ui.add(
                    egui::DragValue::new(&mut s.ramp_per_s)
                        .range(1.0..=10_000.0)
                        .suffix(" /s"),
                )
                .on_hover_text("Users started per second");
                ui.end_row();

                ui.label("Duration");
                let mut secs = s.duration.as_secs();
                ui.add(egui::DragValue::new(&mut secs).range(1..=3600).suffix(" s"));
                s.duration = Duration::from_secs(secs);
                ui.label("Room");
                ui.add(egui::TextEdit::singleline(&mut s.room).desired_width(100.0))
                    .on_hover_text("Users join topic room:<room>");
                ui.end_row();

                ui.label("Model");
                let mut open = s.arrival_rate.is_some();
                ui.horizontal(|ui| {
                    ui.radio_value(&mut open, false, "closed")
                        .on_hover_text("Each user waits for its reply before sending again");
                    ui.radio_value(&mut open, true, "open").on_hover_text(
                        "Messages arrive on schedule whatever the server does, so a slow \
                             server shows in the latency (no coordinated omission)",
                    );
                });
                if open {
                    let rate = s.arrival_rate.get_or_insert(self.arrival_rate);
                    ui.label("Arrival rate");
                    ui.add(
                        egui::DragValue::new(rate)
                            .range(0.1..=100_000.0)
                            .suffix(" /s"),
                    )
                    .on_hover_text("Messages per second across all users");
                    self.arrival_rate = *rate;
                } else {
                    s.arrival_rate = None;
                    ui.label("Rate per client");
                    ui.add(
                        egui::DragValue::new(&mut s.rate_per_s)
                            .range(0.0..=1000.0)
                            .speed(0.1)
                            .suffix(" /s"),
                    )
                    .on_hover_text("At most this many messages per user per second; 0 only joins");
                }
                ui.end_row();

                ui.label("Slow requests");
                let mut slow = s.slow_ms.is_some();
                ui.checkbox(&mut slow, "instead of chat").on_hover_text(
                    "Send the \"slow\" event: the server answers each after N ms from a \
                         process started for that one request",
                );
                if slow {
                    let ms = s.slow_ms.get_or_insert(self.slow_ms);
                    ui.label("Work");
                    ui.add(egui::DragValue::new(ms).range(0..=10_000).suffix(" ms"));
                    self.slow_ms = *ms;
                } else {
                    s.slow_ms = None;
                }
                ui.end_row();
            });
    }
}

/// A running run's settings in one line.
fn describe(s: &crate::state::load::LoadSettings) -> String {
    let model = match s.arrival_rate {
        Some(rate) => format!("open model, {rate} messages/s in all"),
        None => format!("closed model, at most {} messages/s each", s.rate_per_s),
    };
    let work = match s.slow_ms {
        Some(ms) => format!(", slow requests of {ms} ms"),
        None => String::new(),
    };
    format!(
        "This run: {} users ({} more a second) in room:{}, {model}{work}, for {} s.",
        s.clients,
        s.ramp_per_s,
        s.room,
        s.duration.as_secs()
    )
}

/// The run's counts so far (or the last run's final counts).
fn live_ui(ui: &mut egui::Ui, run: &LoadRun) {
    if let Some(next) = run.queued() {
        ui.weak(format!(
            "Next: {} users, starting once this run has ended",
            next.clients
        ));
    }
    if let Some(e) = &run.last_error {
        ui.colored_label(crash_color(ui.visuals()), e);
    }
    let Some(live) = run.live else {
        ui.weak("No run yet. Start one and watch the socket processes appear in the tree.");
        return;
    };
    let title = if run.is_running() {
        format!("Live, {:.0}s in", live.elapsed.as_secs_f64())
    } else {
        "Final counts".to_string()
    };
    ui.label(RichText::new(title).strong());
    egui::Grid::new("load live")
        .num_columns(4)
        .spacing([24.0, 2.0])
        .show(ui, |ui| {
            fact(ui, "connected", live.open.to_string()).on_hover_text("Sockets open now");
            fact(ui, "joined", live.joins_ok.to_string());
            fact(ui, "sent", live.sent.to_string());
            fact(ui, "acked", live.acknowledged.to_string())
                .on_hover_text("Messages the server acknowledged");
            ui.end_row();
            fact(ui, "received", live.received.to_string())
                .on_hover_text("Broadcasts received from the room");
            let errors = fact(ui, "errors", live.errors.to_string());
            if live.errors > 0 {
                errors.on_hover_text("The summary at the end lists them by kind");
            }
            fact(ui, "acked/s", format!("{:.0}", run.acked_per_s));
            fact(ui, "failed connects", live.connections_failed.to_string());
            ui.end_row();
            // While running: the percentiles of the replies so far, from the run's histogram;
            // once it ended: the summary's.
            let ms = |d: Option<std::time::Duration>| {
                d.map_or("-".to_string(), |d| {
                    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
                })
            };
            let (p50, p99) = match (&run.last, run.is_running()) {
                (Some(summary), false) => {
                    let rt = &summary.latency_ms.round_trip;
                    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1} ms"));
                    (f(rt.p50), f(rt.p99))
                }
                _ => (ms(live.round_trip_p50), ms(live.round_trip_p99)),
            };
            fact(ui, "p50", p50).on_hover_text("Round trip, send to reply: median of the last 5-10 s while running, of the whole run once it ended");
            fact(ui, "p99", p99).on_hover_text("Round trip, send to reply: 99th percentile of the last 5-10 s while running, of the whole run once it ended");
            ui.end_row();
        });
}
