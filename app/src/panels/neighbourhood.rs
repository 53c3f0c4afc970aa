//! The inspector's neighbourhood view: the selected process in the middle, its links (solid)
//! and monitors (dashed, the arrow pointing at the watched process) around it, and the exit
//! signals and `DOWN`s recently seen crossing those edges, travelling from sender to receiver,
//! the receiver then saying what it did (died, trapped it, ignored `normal`, got the `DOWN`).

use std::f32::consts::TAU;

use bevy_ecs::world::World;
use crashcourse_runtime::observe::SignalOutcome;
use crashcourse_runtime::Pid;
use eframe::egui::{self, Align2, Color32, FontId, Pos2, Sense, Shape, Stroke, Vec2};

use super::{crash_color, kind_color, label_of, warn_color};
use crate::state::commands::Command;
use crate::state::components::{FrameClock, Identity, PidIndex};
use crate::state::neighbourhood::{Neighbourhood, SeenSignal, SignalTrail, Tie};

/// At most this many neighbours are drawn; the rest are counted.
pub const MAX_NEIGHBOURS: usize = 12;

/// Height of the view in points.
const HEIGHT: f32 = 360.0;
/// A node's size.
const NODE: Vec2 = Vec2::new(132.0, 56.0);

/// A neighbour as drawn: how it is tied (None: only a signal sent with `exit`), and the newest
/// fresh signal between it and the selected process.
struct Neighbour<'a> {
    pid: Pid,
    tie: Option<Tie>,
    signal: Option<&'a SeenSignal>,
}

/// Draws the neighbourhood of `pid` (the inspector's hook).
pub fn show(ui: &mut egui::Ui, world: &World, pid: Pid, commands: &mut Vec<Command>) {
    let now = world.resource::<FrameClock>().now;
    let hood = world.resource::<Neighbourhood>();
    let trail = world.resource::<SignalTrail>();
    let ties: &[(Pid, Tie)] = if hood.pid == Some(pid) {
        &hood.ties
    } else {
        &[]
    };
    let mut neighbours: Vec<Neighbour> = ties
        .iter()
        .map(|(p, tie)| Neighbour {
            pid: *p,
            tie: Some(*tie),
            signal: None,
        })
        .collect();
    let mut to_center: Option<&SeenSignal> = None;
    for signal in trail.around(pid, now) {
        if signal.to == pid {
            to_center = Some(signal);
        }
        let other = if signal.to == pid {
            signal.from
        } else {
            signal.to
        };
        if other == pid {
            continue;
        }
        let tie = match (signal.outcome, signal.to == pid) {
            (SignalOutcome::Down, true) => Tie::Watches,
            (SignalOutcome::Down, false) => Tie::WatchedBy,
            _ => Tie::Link,
        };
        match neighbours.iter_mut().find(|n| n.pid == other) {
            Some(n) => n.signal = Some(signal),
            None => neighbours.push(Neighbour {
                pid: other,
                // A link is gone once its signal crossed it, so it is drawn from the signal;
                // the app's kill and exit come from outside, through no link.
                tie: (other != Pid::OUTSIDE).then_some(tie),
                signal: Some(signal),
            }),
        }
    }
    let hidden = neighbours.len().saturating_sub(MAX_NEIGHBOURS);
    neighbours.truncate(MAX_NEIGHBOURS);

    ui.weak("Solid: link (both ways). Dashed: monitor, the arrow points at the watched process.");
    // Three nodes across at the least; narrower nodes in a narrow inspector.
    let width = ui.available_width().max(240.0);
    let size = Vec2::new((width / 3.0 - 14.0).min(NODE.x), NODE.y);
    let (rect, _) = ui.allocate_exact_size(Vec2::new(width, HEIGHT), Sense::hover());
    let painter = ui.painter_at(rect);
    let visuals = ui.visuals().clone();
    let center = rect.center();
    let radius = Vec2::new(
        (rect.width() - size.x) / 2.0 - 2.0,
        (rect.height() - NODE.y) / 2.0 - 14.0,
    );
    let place = |i: usize| -> Pos2 {
        let angle = -TAU / 4.0 + TAU * i as f32 / neighbours.len().max(1) as f32;
        center + Vec2::new(radius.x * angle.cos(), radius.y * angle.sin())
    };

    let edge_color = visuals.weak_text_color();
    for (i, n) in neighbours.iter().enumerate() {
        let at = place(i);
        let stroke = Stroke::new(1.5, edge_color);
        match n.tie {
            Some(Tie::Link) => {
                painter.line_segment([center, at], Stroke::new(2.0, edge_color));
            }
            Some(Tie::Watches) => dashed_arrow(&painter, center, at, stroke),
            Some(Tie::WatchedBy) => dashed_arrow(&painter, at, center, stroke),
            None => {
                painter.extend(Shape::dotted_line(&[center, at], edge_color, 6.0, 1.0));
            }
        }
        if let Some(signal) = n.signal {
            let color = outcome_color(signal.outcome, &visuals);
            let (from, to) = if signal.to == pid {
                (at, center)
            } else {
                (center, at)
            };
            let progress = signal.progress(now);
            let fade = 1.0 - signal.age_fraction(now);
            painter.line_segment(
                [from, from + (to - from) * progress],
                Stroke::new(3.5, color.gamma_multiply(fade.max(0.25))),
            );
            if progress < 1.0 {
                painter.circle_filled(from + (to - from) * progress, 6.0, color);
            }
        }
        let mid = center + (at - center) * 0.5;
        let tie = match n.tie {
            Some(Tie::Link) => "link",
            Some(Tie::Watches) => "monitor",
            Some(Tie::WatchedBy) => "monitor",
            None => "exit",
        };
        painter.text(
            mid,
            Align2::CENTER_CENTER,
            tie,
            FontId::proportional(11.0),
            edge_color,
        );
    }

    // Nodes last, over the edges.
    let center_text = node_text(world, pid, "selected", to_center);
    node(
        ui,
        world,
        (center, size),
        pid,
        center_text,
        to_center,
        true,
        commands,
    );
    for (i, n) in neighbours.iter().enumerate() {
        let relation = match n.tie {
            Some(Tie::Link) => "linked",
            Some(Tie::Watches) => "monitored by this",
            Some(Tie::WatchedBy) => "monitors this",
            None => "sent the signal",
        };
        let received = n.signal.filter(|s| s.to == n.pid);
        let text = node_text(world, n.pid, relation, received);
        node(
            ui,
            world,
            (place(i), size),
            n.pid,
            text,
            received,
            false,
            commands,
        );
    }
    if neighbours.is_empty() {
        painter.text(
            center + Vec2::new(0.0, NODE.y),
            Align2::CENTER_TOP,
            "no links, no monitors",
            FontId::proportional(12.0),
            edge_color,
        );
    }
    if hidden > 0 {
        ui.weak(format!("… and {hidden} more links and monitors"));
    }
}

/// The text of a node: who it is, how it is tied, and what it did with a signal it received.
fn node_text(world: &World, pid: Pid, relation: &str, received: Option<&SeenSignal>) -> String {
    let who = if pid == Pid::OUTSIDE {
        "outside\nkill or exit from the app".to_string()
    } else {
        match label_of(world, pid) {
            Some(label) => format!("{label}\n{pid}"),
            None => format!("{pid}\ngone"),
        }
    };
    match received {
        Some(signal) => format!("{who}\n{relation}\n{}", signal.describe()),
        None => format!("{who}\n{relation}"),
    }
}

/// One node: a button (a click selects the process) coloured by kind, its border by what it
/// did with the last signal it received.
#[allow(clippy::too_many_arguments)]
fn node(
    ui: &mut egui::Ui,
    world: &World,
    (at, size): (Pos2, Vec2),
    pid: Pid,
    text: String,
    received: Option<&SeenSignal>,
    selected: bool,
    commands: &mut Vec<Command>,
) {
    let visuals = ui.visuals().clone();
    let kind = world
        .resource::<PidIndex>()
        .0
        .get(&pid)
        .and_then(|e| world.get::<Identity>(*e))
        .map(|i| i.kind);
    let base = kind.map_or(visuals.weak_text_color(), |k| kind_color(k, &visuals));
    let stroke = match received {
        Some(s) => Stroke::new(3.0, outcome_color(s.outcome, &visuals)),
        None if selected => Stroke::new(2.0, visuals.strong_text_color()),
        None => Stroke::new(1.0, base),
    };
    let fill = visuals.extreme_bg_color.lerp_to_gamma(base, 0.18);
    let rect = egui::Rect::from_center_size(at, size);
    // Drawn by hand, a line at a time and each cut to the node's width, so what the receiver
    // did (the last line) always shows; the whole text is the node's accessible label.
    let painter = ui.painter();
    painter.rect_filled(rect, 4.0, fill);
    painter.rect_stroke(rect, 4.0, stroke, egui::StrokeKind::Inside);
    let lines: Vec<&str> = text.split('\n').collect();
    let max_chars = ((size.x - 8.0) / 5.6).max(4.0) as usize;
    let line_height = size.y / lines.len().max(1) as f32;
    for (i, line) in lines.iter().enumerate() {
        let color = match (i, received) {
            (0, _) => visuals.strong_text_color(),
            (_, Some(s)) if i + 1 == lines.len() => outcome_color(s.outcome, &visuals),
            _ => visuals.text_color(),
        };
        painter.text(
            Pos2::new(rect.center().x, rect.top() + line_height * (i as f32 + 0.5)),
            Align2::CENTER_CENTER,
            cut(line, max_chars),
            FontId::proportional(10.0),
            color,
        );
    }
    let response = ui
        .interact(rect, ui.scope_id().with(("neighbour", pid)), Sense::click())
        .on_hover_text(&text);
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &text));
    if response.clicked() && !selected && pid != Pid::OUTSIDE {
        commands.push(Command::Select(pid));
    }
}

/// `text` cut to `max` characters with an ellipsis.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// A dashed line from `from` to `to` ending in an arrow head at `to` (a node's edge).
fn dashed_arrow(painter: &egui::Painter, from: Pos2, to: Pos2, stroke: Stroke) {
    let dir = (to - from).normalized();
    // Stop at the node's border so the head shows.
    let end = to - dir * (NODE.y / 2.0 + 4.0);
    painter.extend(Shape::dashed_line(&[from, end], stroke, 6.0, 4.0));
    let back = -dir * 9.0;
    let side = Vec2::new(-dir.y, dir.x) * 5.0;
    painter.add(Shape::convex_polygon(
        vec![end, end + back + side, end + back - side],
        stroke.color,
        Stroke::NONE,
    ));
}

/// The colour of what a receiver did.
pub fn outcome_color(outcome: SignalOutcome, visuals: &egui::Visuals) -> Color32 {
    match outcome {
        SignalOutcome::Died => crash_color(visuals),
        SignalOutcome::Trapped => warn_color(visuals),
        SignalOutcome::Ignored => visuals.weak_text_color(),
        SignalOutcome::Down => {
            if visuals.dark_mode {
                Color32::from_rgb(120, 170, 255)
            } else {
                Color32::from_rgb(30, 90, 200)
            }
        }
    }
}
