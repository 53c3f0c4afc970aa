//! The Contrast panel (lesson 6): the same slow work served by a fixed pool of HTTP handler
//! threads and by one process per request, under the same load at once; throughput and p99 of
//! both side by side, live and at the end.

use std::time::Duration;

use bevy_ecs::world::World;
use crashcourse_load::Summary;
use eframe::egui::{self, RichText};

use super::{crash_color, ok_color, View};
use crate::state::commands::Command;
use crate::state::contrast::{contrast_urls, ContrastRun, ContrastSettings, SideLive};

/// The Contrast panel; keeps the settings being edited.
#[derive(Default)]
pub struct ContrastPanel {
    pub settings: ContrastSettings,
}

impl View for ContrastPanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let run = world.resource::<ContrastRun>();
        let available = contrast_urls(world).is_some();
        egui::ScrollArea::vertical()
            .id_salt("contrast scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                ui.heading("Thread pool or processes?");
                ui.label(
                    "The same slow request (a sleep standing for a database call) served two \
                     ways at once, each side with the same users, each user sending once a \
                     second and waiting for its reply: behind the HTTP server's fixed handler \
                     threads, and as one lightweight process per request over the WebSocket.",
                );
                ui.add_space(4.0);
                // While a run goes on (one a lesson started, say), the form shows that run's
                // settings, not the ones last typed here.
                if let (true, Some(running)) = (run.is_running(), run.settings) {
                    self.settings = running;
                }
                ui.add_enabled_ui(!run.is_running(), |ui| self.settings_ui(ui));
                ui.horizontal(|ui| {
                    if run.is_running() {
                        let stop =
                            ui.add_enabled(!run.stopping, egui::Button::new("Stop contrast"));
                        if stop.clicked() {
                            commands.push(Command::StopContrast);
                        }
                        ui.label(RichText::new("running both sides").color(ok_color(ui.visuals())));
                    } else {
                        let start = ui.add_enabled(available, egui::Button::new("Run contrast"));
                        if start.clicked() {
                            commands.push(Command::StartContrast {
                                users: self.settings.users,
                                work_ms: self.settings.work_ms,
                                duration: self.settings.duration,
                            });
                        }
                        if !available {
                            ui.colored_label(
                                crash_color(ui.visuals()),
                                "the chat server is not running",
                            );
                        }
                    }
                });
                ui.separator();
                figures_ui(ui, run);
            });
    }
}

impl ContrastPanel {
    fn settings_ui(&mut self, ui: &mut egui::Ui) {
        let s = &mut self.settings;
        ui.horizontal_wrapped(|ui| {
            ui.label("Users a side");
            ui.add(
                egui::DragValue::new(&mut s.users)
                    .range(1..=crashcourse_load::MAX_CLIENTS / 2)
                    .speed(10.0),
            );
            ui.label("Work");
            ui.add(
                egui::DragValue::new(&mut s.work_ms)
                    .range(0..=crashcourse_load::MAX_SLOW_MS)
                    .suffix(" ms"),
            );
            ui.label("Duration");
            let mut secs = s.duration.as_secs();
            ui.add(egui::DragValue::new(&mut secs).range(1..=600).suffix(" s"));
            s.duration = Duration::from_secs(secs);
        });
    }
}

/// Both sides in two columns: live while running, the summaries' figures after.
fn figures_ui(ui: &mut egui::Ui, run: &ContrastRun) {
    let Some(settings) = run.settings else {
        ui.weak("Not run yet. Lesson 6 runs it with 1,000 users and 100 ms of work for 10 s.");
        return;
    };
    let live = run.is_running();
    let result = if live { None } else { run.result.as_ref() };
    ui.label(
        RichText::new(if live {
            format!(
                "Live, {:.0}s of {}s",
                run.processes.live.elapsed.as_secs_f64(),
                settings.duration.as_secs()
            )
        } else {
            format!(
                "Result: {} users a side, {} ms of work",
                settings.users, settings.work_ms
            )
        })
        .strong(),
    );
    egui::Grid::new("contrast grid")
        .num_columns(3)
        .spacing([32.0, 4.0])
        .striped(true)
        .show(ui, |ui| {
            ui.label("");
            ui.label(RichText::new("thread pool (HTTP)").strong());
            ui.label(RichText::new("processes (WebSocket)").strong());
            ui.end_row();
            match result {
                Some(r) => {
                    summary_rows(ui, &r.thread_pool, &r.processes);
                }
                None => live_rows(ui, &run.thread_pool, &run.processes),
            }
        });
    let reading = match result {
        Some(r) => reading(&r.thread_pool, &r.processes),
        None => "The thread pool's requests wait in its queue; each process waits on a timer of \
                 its own. p99 comes at the end."
            .to_string(),
    };
    ui.add_space(4.0);
    ui.label(RichText::new(reading).italics());
}

/// One row of the side-by-side grid: what, the thread pool's figure, the processes' figure.
fn row(ui: &mut egui::Ui, what: &str, a: String, b: String) {
    ui.label(what);
    ui.label(RichText::new(a).monospace());
    ui.label(RichText::new(b).monospace());
    ui.end_row();
}

fn live_rows(ui: &mut egui::Ui, tp: &SideLive, pr: &SideLive) {
    row(
        ui,
        "connected",
        tp.live.open.to_string(),
        pr.live.open.to_string(),
    );
    row(
        ui,
        "answered",
        tp.live.acknowledged.to_string(),
        pr.live.acknowledged.to_string(),
    );
    row(
        ui,
        "throughput",
        format!("{:.0}/s", tp.per_s),
        format!("{:.0}/s", pr.per_s),
    );
    row(
        ui,
        "waiting now",
        tp.in_flight().to_string(),
        pr.in_flight().to_string(),
    );
    row(
        ui,
        "errors",
        tp.live.errors.to_string(),
        pr.live.errors.to_string(),
    );
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.1} ms"))
}

fn summary_rows(ui: &mut egui::Ui, tp: &Summary, pr: &Summary) {
    row(
        ui,
        "connected",
        tp.connections.ok.to_string(),
        pr.connections.ok.to_string(),
    );
    row(
        ui,
        "answered",
        tp.messages.acknowledged.to_string(),
        pr.messages.acknowledged.to_string(),
    );
    row(
        ui,
        "throughput",
        format!("{:.1}/s", tp.messages.acknowledged_per_s),
        format!("{:.1}/s", pr.messages.acknowledged_per_s),
    );
    let (tl, pl) = (&tp.latency_ms.round_trip, &pr.latency_ms.round_trip);
    row(ui, "p50", ms(tl.p50), ms(pl.p50));
    row(ui, "p99", ms(tl.p99), ms(pl.p99));
    row(
        ui,
        "timed out",
        tp.messages.timed_out.to_string(),
        pr.messages.timed_out.to_string(),
    );
    row(
        ui,
        "error rate",
        format!("{:.2}%", tp.error_rate * 100.0),
        format!("{:.2}%", pr.error_rate * 100.0),
    );
}

/// One sentence that says what the figures show.
fn reading(tp: &Summary, pr: &Summary) -> String {
    let (t99, p99) = (
        tp.latency_ms.round_trip.p99.unwrap_or(0.0),
        pr.latency_ms.round_trip.p99.unwrap_or(0.0),
    );
    if t99 > 2.0 * p99.max(1.0) {
        format!(
            "The pool queues, the processes do not: the thread pool's p99 is {:.0}× the \
             processes', for the same work.",
            t99 / p99.max(1.0)
        )
    } else {
        "At this load the pool's threads keep up, so both sides answer alike: raise the users \
         or the work until the pool queues."
            .to_string()
    }
}
