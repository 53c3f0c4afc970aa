//! The dashboard: what to watch in production, over a window from one minute to one hour —
//! processes, memory, connections, messages, broadcasts, restarts, the database pool, how
//! busy each scheduler thread is, and the trouble made on purpose (chaos's kills, the load
//! generator's traffic), with a line on top while either runs.

use bevy_ecs::world::World;
use eframe::egui::{self, Color32, RichText};
use egui_plot::{Legend, Line, Plot};
use serde::{Deserialize, Serialize};

use super::{chaos_color, crash_color, ok_color, warn_color, View};
use crate::state::commands::Command;
use crate::state::components::FrameClock;
use crate::state::faults::FaultsView;
use crate::state::history::{Histories, Series};
use crate::state::load::LoadRun;

/// Points drawn per line at most, whatever the window (each the peak of its bucket).
const MAX_POINTS: usize = 400;

/// How far back the charts look.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TimeWindow {
    #[default]
    OneMinute,
    FiveMinutes,
    FifteenMinutes,
    OneHour,
}

impl TimeWindow {
    pub const ALL: [TimeWindow; 4] = [
        TimeWindow::OneMinute,
        TimeWindow::FiveMinutes,
        TimeWindow::FifteenMinutes,
        TimeWindow::OneHour,
    ];

    pub fn seconds(self) -> f64 {
        match self {
            TimeWindow::OneMinute => 60.0,
            TimeWindow::FiveMinutes => 300.0,
            TimeWindow::FifteenMinutes => 900.0,
            TimeWindow::OneHour => 3600.0,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            TimeWindow::OneMinute => "1 min",
            TimeWindow::FiveMinutes => "5 min",
            TimeWindow::FifteenMinutes => "15 min",
            TimeWindow::OneHour => "1 hour",
        }
    }
}

/// The dashboard panel; remembers its time window.
#[derive(Default)]
pub struct Dashboard {
    pub window: TimeWindow,
}

/// One chart: a title, how to print its newest value, and its lines.
struct Chart<'h> {
    title: &'static str,
    /// What it means, on hover.
    help: &'static str,
    format: fn(f64) -> String,
    lines: Vec<(String, &'h Series, Color32)>,
    /// Fixed upper bound (percentages).
    max_y: Option<f64>,
}

impl View for Dashboard {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, _commands: &mut Vec<Command>) {
        let histories = world.resource::<Histories>();
        let now = histories.time_of(world.resource::<FrameClock>().now);
        ui.horizontal(|ui| {
            ui.label("Window:");
            for window in TimeWindow::ALL {
                ui.selectable_value(&mut self.window, window, window.label());
            }
            ui.weak("one point a second; the newest on the right");
        });
        let visuals = ui.visuals().clone();
        trouble_line(ui, world, &visuals);
        ui.add_space(4.0);
        let charts = charts(world, histories, &visuals);
        let since = now - self.window.seconds();
        let width = ui.available_width();
        let columns = ((width / 260.0).floor() as usize).clamp(1, 4);
        let chart_width = (width - (columns as f32 - 1.0) * 8.0) / columns as f32;
        egui::ScrollArea::vertical()
            .id_salt("dashboard scroll")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                egui::Grid::new("dashboard grid")
                    .num_columns(columns)
                    .spacing([8.0, 10.0])
                    .show(ui, |ui| {
                        for (i, chart) in charts.iter().enumerate() {
                            ui.vertical(|ui| {
                                ui.set_width(chart_width);
                                draw_chart(ui, chart, since, now, self.window);
                            });
                            if (i + 1) % columns == 0 {
                                ui.end_row();
                            }
                        }
                    });
            });
    }
}

/// What runs on purpose right now: chaos (kills per second) and the load generator.
fn trouble_line(ui: &mut egui::Ui, world: &World, visuals: &egui::Visuals) {
    let faults = world.resource::<FaultsView>();
    let load = world.resource::<LoadRun>();
    if !faults.chaos_running() && !load.is_running() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        if let Some(report) = faults.chaos().filter(|c| c.running) {
            let kinds: Vec<String> = report
                .killed
                .iter()
                .map(|(k, n)| format!("{} {n}", k.name()))
                .collect();
            ui.label(
                RichText::new(format!(
                    "⚡ Chaos is running: {:.0} kills/s, {} killed so far ({})",
                    faults.kills_per_s,
                    report.killed_total,
                    kinds.join(", ")
                ))
                .color(chaos_color(visuals))
                .strong(),
            );
        }
        if let (true, Some(live)) = (load.is_running(), load.live) {
            ui.label(
                RichText::new(format!(
                    "Load: {} connected, {:.0} acked/s, {} errors",
                    live.open, load.acked_per_s, live.errors
                ))
                .strong(),
            );
        }
    });
}

/// The charts, in reading order.
fn charts<'h>(world: &'h World, h: &'h Histories, visuals: &egui::Visuals) -> Vec<Chart<'h>> {
    let faults = world.resource::<FaultsView>();
    let load = world.resource::<LoadRun>();
    let blue = if visuals.dark_mode {
        Color32::from_rgb(120, 170, 255)
    } else {
        Color32::from_rgb(30, 90, 200)
    };
    let count = |v: f64| format!("{v:.0}");
    let rate = |v: f64| format!("{v:.1}/s");
    let ms = |v: f64| format!("{v:.1} ms");
    let mut busy_lines = Vec::new();
    for (i, series) in h.scheduler_busy.iter().enumerate() {
        let color = if i % 2 == 0 { blue } else { ok_color(visuals) };
        busy_lines.push((format!("scheduler {}", i + 1), series, color));
    }
    vec![
        Chart {
            title: "Processes",
            help: "Live processes. A line that only climbs is a leak.",
            format: count,
            lines: vec![("processes".into(), &h.processes, blue)],
            max_y: None,
        },
        Chart {
            title: "Memory",
            help: "Memory of all live processes (tasks, mailboxes, reported state).",
            format: |v| super::format_bytes((v * 1024.0 * 1024.0) as usize),
            lines: vec![("MiB".into(), &h.memory, blue)],
            max_y: None,
        },
        Chart {
            title: "Connections",
            help: "Open WebSocket connections to the chat server: one socket process each.",
            format: count,
            lines: vec![("connections".into(), &h.connections, blue)],
            max_y: None,
        },
        Chart {
            title: "Messages/s",
            help: "Messages delivered between processes per second.",
            format: rate,
            lines: vec![("messages/s".into(), &h.messages_per_sec, blue)],
            max_y: None,
        },
        Chart {
            title: "Broadcasts/s",
            help: "Chat broadcasts to a room per second (each reaches every subscriber).",
            format: rate,
            lines: vec![("broadcasts/s".into(), &h.broadcasts_per_sec, blue)],
            max_y: None,
        },
        Chart {
            title: "Restarts/s",
            help: "Children restarted by supervisors per second.",
            format: rate,
            lines: vec![(
                "restarts/s".into(),
                &h.restarts_per_sec,
                warn_color(visuals),
            )],
            max_y: None,
        },
        Chart {
            title: "Pool",
            help: "Database connections checked out, requests queued for one, and requests \
                   dropped per second.",
            format: count,
            lines: vec![
                ("checked out".into(), &h.pool_checked_out, blue),
                ("queued".into(), &h.pool_queue, warn_color(visuals)),
                (
                    "drops/s".into(),
                    &h.pool_drops_per_sec,
                    crash_color(visuals),
                ),
            ],
            max_y: None,
        },
        Chart {
            title: "Queue time",
            help: "How long requests waited for a database connection, over the last 5 to 10 s.",
            format: ms,
            lines: vec![
                ("p50".into(), &h.queue_p50_ms, blue),
                ("p99".into(), &h.queue_p99_ms, warn_color(visuals)),
            ],
            max_y: None,
        },
        Chart {
            title: "Load generator",
            help: "The load generator started from the Load tab: its sockets open and the \
                   messages the server acknowledged per second.",
            format: count,
            lines: vec![
                ("connected".into(), &load.open_history, blue),
                ("acked/s".into(), &load.acked_history, ok_color(visuals)),
            ],
            max_y: None,
        },
        Chart {
            title: "Chaos kills/s",
            help: "Processes chaos killed per second (the Faults tab). Their supervisors \
                   restart them: compare with Restarts/s.",
            format: rate,
            lines: vec![(
                "kills/s".into(),
                &faults.kills_history,
                chaos_color(visuals),
            )],
            max_y: None,
        },
        Chart {
            title: "Scheduler busy",
            help: "Share of time each scheduler thread spent running processes.",
            format: |v| format!("{v:.0}%"),
            lines: busy_lines,
            max_y: Some(100.0),
        },
    ]
}

fn draw_chart(ui: &mut egui::Ui, chart: &Chart<'_>, since: f64, now: f64, window: TimeWindow) {
    let newest: Vec<String> = chart
        .lines
        .iter()
        .filter_map(|(name, series, _)| {
            series.last().map(|v| {
                if chart.lines.len() > 1 {
                    format!("{name} {}", (chart.format)(v))
                } else {
                    (chart.format)(v)
                }
            })
        })
        .collect();
    let value = if newest.is_empty() {
        "no data yet".to_string()
    } else {
        newest.join(", ")
    };
    ui.label(RichText::new(format!("{}: {value}", chart.title)).strong())
        .on_hover_text(chart.help);
    let mut plot = Plot::new(chart.title)
        .height(90.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .allow_double_click_reset(false)
        .include_x(-window.seconds())
        .include_x(0.0)
        .include_y(0.0)
        .y_axis_min_width(36.0)
        .y_axis_formatter(|mark, _| compact(mark.value))
        .x_axis_formatter(|mark, _| format_ago(-mark.value));
    if let Some(max) = chart.max_y {
        plot = plot.include_y(max);
    }
    if chart.lines.len() > 1 {
        plot = plot.legend(Legend::default());
    }
    plot.show(ui, |plot_ui| {
        for (name, series, color) in &chart.lines {
            let points: Vec<[f64; 2]> = series
                .decimated(since, MAX_POINTS)
                .into_iter()
                .map(|[t, v]| [t - now, v])
                .collect();
            plot_ui.line(Line::new(name.clone(), points).color(*color));
        }
    });
}

/// "950", "45k", "1.2M": axis numbers that fit a narrow axis.
fn compact(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 1e6 {
        format!("{:.1}M", value / 1e6)
    } else if magnitude >= 1e4 {
        format!("{:.0}k", value / 1e3)
    } else if magnitude >= 1e3 {
        format!("{:.1}k", value / 1e3)
    } else if magnitude >= 10.0 || value == 0.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// "now", "30s", "5m", "1h" for an axis mark `seconds` ago.
fn format_ago(seconds: f64) -> String {
    if seconds.abs() < 0.5 {
        "now".into()
    } else if seconds < 120.0 {
        format!("-{seconds:.0}s")
    } else if seconds < 7200.0 {
        format!("-{:.0}m", seconds / 60.0)
    } else {
        format!("-{:.1}h", seconds / 3600.0)
    }
}
