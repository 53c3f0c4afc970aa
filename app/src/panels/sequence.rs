//! The sequence diagram of a bounded trace: a lifeline per traced process and per peer that
//! appears, then one line per event in order — an arrow per message with its text cut short,
//! spawns and links as dashed arrows, exits as a cross — and whether the trace is still
//! recording or which bound stopped it.

use bevy_ecs::world::World;
use eframe::egui::{self, Color32, Pos2, Rect, RichText, Stroke};

use super::{crash_color, label_of, View};
use crate::state::commands::Command;
use crate::state::trace::{trace_status, Diagram, Lane, Step, Tracing};

/// Horizontal distance between lifelines.
const LANE_WIDTH: f32 = 170.0;
/// Height of one event line.
const STEP_HEIGHT: f32 = 26.0;
/// Height of the lifeline heads.
const HEAD_HEIGHT: f32 = 40.0;
/// Characters of a message shown on its arrow (the trace keeps 80; hover shows them).
const ARROW_TEXT: usize = 24;

/// The sequence-diagram panel.
#[derive(Default)]
pub struct SequenceDiagram;

impl View for SequenceDiagram {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let Some(trace) = world
            .get_resource::<Tracing>()
            .and_then(|t| t.current.clone())
        else {
            ui.weak(
                "No trace yet. Select a process and press \"Trace 50 events / 1 s\" in the \
                 inspector: like :erlang.trace/3 used carefully, it records what the process \
                 sends and receives, spawns, links and exits, and switches itself off.",
            );
            return;
        };
        let events = trace.events();
        let recording = trace.ended().is_none();
        ui.horizontal(|ui| {
            let names: Vec<String> = trace
                .pids()
                .iter()
                .map(|p| lane_name(world, Some(*p)))
                .collect();
            ui.strong(format!("Trace of {}", names.join(", ")));
            let status = trace_status(&trace, events.len());
            if recording {
                ui.label(status);
                if ui.button("Stop trace").clicked() {
                    commands.push(Command::StopTrace);
                }
            } else {
                ui.colored_label(super::warn_color(ui.visuals()), status);
                if let [pid] = trace.pids() {
                    if ui.button("Trace again").clicked() {
                        commands.push(Command::Trace(*pid));
                    }
                }
            }
        });
        ui.weak(format!(
            "Bounded to {} events or {:.1} s, whichever comes first.",
            trace.max_events(),
            trace.max_time().as_secs_f32()
        ));
        ui.separator();
        let diagram = Diagram::of(trace.pids(), &events);
        egui::ScrollArea::both()
            .id_salt("sequence diagram")
            .auto_shrink([false, false])
            .show(ui, |ui| draw(ui, world, &diagram, commands));
    }
}

/// "label <0.42.0>", or "outside" for messages from no process.
fn lane_name(world: &World, pid: Option<crashcourse_runtime::Pid>) -> String {
    match pid {
        None => "outside".to_string(),
        Some(pid) => match label_of(world, pid) {
            Some(label) => format!("{label} {pid}"),
            None => pid.to_string(),
        },
    }
}

fn short(text: &str) -> String {
    match text.char_indices().nth(ARROW_TEXT) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

fn draw(ui: &mut egui::Ui, world: &World, diagram: &Diagram, commands: &mut Vec<Command>) {
    let lanes = diagram.lanes.len().max(1) as f32;
    let size = egui::vec2(
        lanes * LANE_WIDTH,
        HEAD_HEIGHT + (diagram.steps.len() as f32 + 1.0) * STEP_HEIGHT,
    );
    let (area, _) = ui.allocate_exact_size(size, egui::Sense::hover());
    let visuals = ui.visuals().clone();
    let text_color = visuals.text_color();
    let weak = visuals.weak_text_color();
    let x = |lane: usize| area.left() + (lane as f32 + 0.5) * LANE_WIDTH;
    let y = |step: usize| area.top() + HEAD_HEIGHT + (step as f32 + 0.5) * STEP_HEIGHT;
    let painter = ui.painter_at(area);

    // Heads and lifelines.
    for (i, lane) in diagram.lanes.iter().enumerate() {
        let head = Rect::from_center_size(
            Pos2::new(x(i), area.top() + HEAD_HEIGHT / 2.0),
            egui::vec2(LANE_WIDTH - 16.0, HEAD_HEIGHT - 10.0),
        );
        painter.line_segment(
            [
                Pos2::new(x(i), head.bottom()),
                Pos2::new(x(i), area.bottom()),
            ],
            Stroke::new(1.0, weak),
        );
        ui.put(head, |ui: &mut egui::Ui| {
            head_widget(ui, world, lane, commands)
        });
    }

    for (i, step) in diagram.steps.iter().enumerate() {
        let row_y = y(i);
        match step {
            Step::Message { from, to, text } => {
                arrow(
                    &painter,
                    x(*from),
                    x(*to),
                    row_y,
                    Stroke::new(1.5, text_color),
                    false,
                );
                label_on(ui, x(*from), x(*to), row_y, &short(text), text_color)
                    .on_hover_text(text.as_str());
            }
            Step::Relation { from, to, what } => {
                let color = super::ok_color(&visuals);
                arrow(
                    &painter,
                    x(*from),
                    x(*to),
                    row_y,
                    Stroke::new(1.0, color),
                    true,
                );
                label_on(ui, x(*from), x(*to), row_y, what, color);
            }
            Step::Exit { lane, reason } => {
                let c = Pos2::new(x(*lane), row_y);
                let r = 5.0;
                let stroke = Stroke::new(2.0, crash_color(&visuals));
                painter.line_segment([c + egui::vec2(-r, -r), c + egui::vec2(r, r)], stroke);
                painter.line_segment([c + egui::vec2(-r, r), c + egui::vec2(r, -r)], stroke);
                let rect = Rect::from_min_size(
                    Pos2::new(c.x + 10.0, row_y - STEP_HEIGHT / 2.0),
                    egui::vec2(LANE_WIDTH - 20.0, STEP_HEIGHT),
                );
                ui.put(
                    rect,
                    egui::Label::new(
                        RichText::new(format!("exit: {}", short(reason)))
                            .color(crash_color(&visuals)),
                    )
                    .truncate(),
                );
            }
        }
    }
}

/// A lifeline head: the process's name, clickable to select it.
fn head_widget(
    ui: &mut egui::Ui,
    world: &World,
    lane: &Lane,
    commands: &mut Vec<Command>,
) -> egui::Response {
    let name = lane_name(world, lane.pid);
    let text = if lane.traced {
        RichText::new(name).strong()
    } else {
        RichText::new(name)
    };
    let response = ui.add(egui::Button::new(text).truncate());
    if let (true, Some(pid)) = (response.clicked(), lane.pid) {
        commands.push(Command::Select(pid));
    }
    response
}

/// A horizontal arrow at `y` from `x0` to `x1` (a loop when they are the same lane).
fn arrow(painter: &egui::Painter, x0: f32, x1: f32, y: f32, stroke: Stroke, dashed: bool) {
    let line_y = y + 6.0;
    if (x0 - x1).abs() < 1.0 {
        let w = 24.0;
        let pts = [
            Pos2::new(x0, line_y - 6.0),
            Pos2::new(x0 + w, line_y - 6.0),
            Pos2::new(x0 + w, line_y + 4.0),
            Pos2::new(x0 + 4.0, line_y + 4.0),
        ];
        painter.add(egui::Shape::line(pts.to_vec(), stroke));
        head(painter, Pos2::new(x0, line_y + 4.0), -1.0, stroke);
        return;
    }
    let (a, b) = (Pos2::new(x0, line_y), Pos2::new(x1, line_y));
    if dashed {
        painter.extend(egui::Shape::dashed_line(&[a, b], stroke, 5.0, 3.0));
    } else {
        painter.line_segment([a, b], stroke);
    }
    head(painter, b, (x1 - x0).signum(), stroke);
}

fn head(painter: &egui::Painter, tip: Pos2, dir: f32, stroke: Stroke) {
    let back = Pos2::new(tip.x - dir * 7.0, tip.y);
    painter.line_segment([tip, back + egui::vec2(0.0, -4.0)], stroke);
    painter.line_segment([tip, back + egui::vec2(0.0, 4.0)], stroke);
}

/// The text of an arrow, above its middle: a real label, so it can be read (and found).
fn label_on(
    ui: &mut egui::Ui,
    x0: f32,
    x1: f32,
    y: f32,
    text: &str,
    color: Color32,
) -> egui::Response {
    let (left, right) = if (x0 - x1).abs() < 1.0 {
        (x0 + 28.0, x0 + LANE_WIDTH - 8.0)
    } else {
        (x0.min(x1) + 6.0, x0.max(x1) - 6.0)
    };
    let rect = Rect::from_min_max(
        Pos2::new(left, y - STEP_HEIGHT / 2.0),
        Pos2::new(right, y + 4.0),
    );
    ui.put(
        rect,
        egui::Label::new(RichText::new(text).monospace().color(color)).truncate(),
    )
}
