//! The supervision tree as a picture: supervisors and workers as nodes laid out top-down
//! (`state/tree_graph.rs` places them), edges to children, colour by kind and status, large
//! groups folded as "+N" nodes, the crash flash and restart pulse on the nodes, and every
//! sibling a one_for_all or rest_for_one restart took down marked as such.
//!
//! Only nodes inside the visible part of the canvas are drawn, and there are only as many
//! as the outline has rows: folding keeps a tree of 100,000 processes to a few dozen nodes.

use bevy_ecs::world::World;
use eframe::egui::{
    self, Align2, FontId, Pos2, Rect, Role, Sense, Stroke, StrokeKind, Vec2, WidgetInfo,
};

use super::{crash_color, kind_color, ok_color, status_color, warn_color};
use crate::state::animation::{Flash, FlashKind};
use crate::state::commands::Command;
use crate::state::components::{Counters, FrameClock, Identity, ProcessStatus, Selection};
use crate::state::layout::{TreeLayout, TreeRow, GROUP_PAGE};
use crate::state::tree_graph::{RecentRestarts, TreeGraph};

/// A node's size at zoom 1.
const NODE: Vec2 = Vec2::new(124.0, 38.0);
/// Space between columns and between layers at zoom 1.
const GAP: Vec2 = Vec2::new(10.0, 34.0);
/// Margin around the picture.
const MARGIN: f32 = 8.0;

/// Draws the graph view of the tree, `needle` (lower case) dimming what does not match.
pub fn show(
    ui: &mut egui::Ui,
    world: &World,
    zoom: f32,
    needle: &str,
    commands: &mut Vec<Command>,
) {
    let graph = world.resource::<TreeGraph>();
    let layout = world.resource::<TreeLayout>();
    let restarts = world.resource::<RecentRestarts>();
    let selected = world.resource::<Selection>().pid;
    let now = world.resource::<FrameClock>().now;
    let node = NODE * zoom;
    let step = (NODE + GAP) * zoom;
    let size = Vec2::new(
        graph.width * step.x + 2.0 * MARGIN,
        graph.layers as f32 * step.y + 2.0 * MARGIN,
    );
    let visuals = ui.visuals().clone();
    egui::ScrollArea::both()
        .id_salt("tree graph scroll")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            let (canvas, _) = ui.allocate_exact_size(size, Sense::hover());
            let clip = ui.clip_rect();
            let painter = ui.painter_at(canvas);
            let center_of = |x: f32, layer: usize| -> Pos2 {
                canvas.min
                    + Vec2::new(
                        MARGIN + x * step.x + node.x / 2.0,
                        MARGIN + layer as f32 * step.y + node.y / 2.0,
                    )
            };
            // Edges first, under the nodes; only those whose span meets the visible part.
            let edge = Stroke::new(1.0, visuals.weak_text_color());
            for n in &graph.nodes {
                let Some(p) = n.parent.and_then(|p| graph.nodes.get(p)) else {
                    continue;
                };
                let top = center_of(p.x, p.layer) + Vec2::new(0.0, node.y / 2.0);
                let bottom = center_of(n.x, n.layer) - Vec2::new(0.0, node.y / 2.0);
                if !clip.intersects(Rect::from_two_pos(top, bottom).expand(1.0)) {
                    continue;
                }
                let elbow = (top.y + bottom.y) / 2.0;
                painter.line_segment([top, Pos2::new(top.x, elbow)], edge);
                painter.line_segment([Pos2::new(top.x, elbow), Pos2::new(bottom.x, elbow)], edge);
                painter.line_segment([Pos2::new(bottom.x, elbow), bottom], edge);
            }
            for n in &graph.nodes {
                let rect = Rect::from_center_size(center_of(n.x, n.layer), node);
                if !clip.intersects(rect) {
                    continue;
                }
                let Some(row) = layout.rows.get(n.row) else {
                    continue;
                };
                let id = ui.scope_id().with(("graph node", n.row));
                match row {
                    TreeRow::Process { entity, pid, .. } => {
                        let Some(identity) = world.get::<Identity>(*entity) else {
                            continue;
                        };
                        let status = world.get::<ProcessStatus>(*entity);
                        let exited = status.is_some_and(|s| !s.is_alive());
                        let kind = kind_color(identity.kind, &visuals);
                        let dim = if identity.matches(needle) { 1.0 } else { 0.3 };
                        let mut fill = visuals.extreme_bg_color.lerp_to_gamma(kind, 0.2);
                        if let Some(flash) = world.get::<Flash>(*entity) {
                            let strength = flash.strength(now);
                            let color = match flash.kind {
                                FlashKind::Crash => crash_color(&visuals),
                                FlashKind::Restart => ok_color(&visuals),
                            };
                            fill = fill.lerp_to_gamma(color, 0.7 * strength);
                        }
                        let mut stroke = Stroke::new(1.0, kind.gamma_multiply(dim));
                        if selected == Some(*pid) {
                            stroke = Stroke::new(2.5, visuals.strong_text_color());
                        }
                        let mut line2 = identity.kind.name().to_string();
                        let mut line2_color = visuals.weak_text_color();
                        if let Some(r) = restarts.of(*pid, now) {
                            if r.taken_down() {
                                line2 = "↻ taken down, restarted".into();
                                stroke = Stroke::new(3.0, warn_color(&visuals));
                                line2_color = warn_color(&visuals);
                            } else {
                                line2 = "↻ crashed, restarted".into();
                                stroke = Stroke::new(3.0, crash_color(&visuals));
                                line2_color = crash_color(&visuals);
                            }
                        } else if exited {
                            line2 = status.map_or("exited".into(), ProcessStatus::describe);
                            stroke = Stroke::new(2.0, crash_color(&visuals));
                            line2_color = crash_color(&visuals);
                        } else if let Some(c) =
                            world.get::<Counters>(*entity).filter(|c| c.restarts > 0)
                        {
                            line2 = format!("{} ↻{}", identity.kind.name(), c.restarts);
                        }
                        painter.rect_filled(rect, 4.0, fill.gamma_multiply(dim));
                        painter.rect_stroke(rect, 4.0, stroke, StrokeKind::Inside);
                        if let Some(status) = status {
                            painter.circle_filled(
                                rect.right_top() + Vec2::new(-6.0, 6.0) * zoom,
                                3.0 * zoom,
                                status_color(status, &visuals),
                            );
                        }
                        let text_color = if exited {
                            crash_color(&visuals)
                        } else {
                            visuals.strong_text_color()
                        };
                        let label = clip_text(&identity.label, 18);
                        painter.text(
                            rect.center_top() + Vec2::new(0.0, 3.0 * zoom),
                            Align2::CENTER_TOP,
                            &label,
                            FontId::proportional(12.0 * zoom),
                            text_color.gamma_multiply(dim),
                        );
                        painter.text(
                            rect.center_bottom() - Vec2::new(0.0, 3.0 * zoom),
                            Align2::CENTER_BOTTOM,
                            &line2,
                            FontId::proportional(10.0 * zoom),
                            line2_color.gamma_multiply(dim),
                        );
                        let response =
                            ui.interact(rect, id, Sense::click()).on_hover_text(format!(
                                "{} {} {pid}\nclick: inspect · right-click: fold or unfold",
                                identity.label,
                                identity.kind.name()
                            ));
                        let accessible = format!("{} {pid}: {line2}", identity.label);
                        response
                            .widget_info(|| WidgetInfo::labeled(Role::Button, true, &accessible));
                        if response.clicked() {
                            commands.push(Command::Select(*pid));
                        }
                        if response.secondary_clicked() {
                            commands.push(Command::ToggleCollapsed(*pid));
                        }
                    }
                    TreeRow::Group {
                        parent,
                        hidden,
                        shown,
                        ..
                    } => {
                        let fill = visuals.faint_bg_color;
                        painter.rect_filled(rect, 4.0, fill);
                        painter.rect_stroke(
                            rect,
                            4.0,
                            Stroke::new(1.0, visuals.weak_text_color()),
                            StrokeKind::Inside,
                        );
                        let what = if *shown > 0 { "more" } else { "folded" };
                        let text = format!("+{hidden} {what}");
                        painter.text(
                            rect.center(),
                            Align2::CENTER_CENTER,
                            &text,
                            FontId::proportional(12.0 * zoom),
                            visuals.text_color(),
                        );
                        let response = ui
                            .interact(rect, id, Sense::click())
                            .on_hover_text(format!("Show {} more", (*hidden).min(GROUP_PAGE)));
                        response.widget_info(|| WidgetInfo::labeled(Role::Button, true, &text));
                        if response.clicked() {
                            commands.push(Command::ExpandGroup(*parent));
                        }
                    }
                }
            }
        });
    if graph.nodes.is_empty() {
        ui.weak("No processes.");
    }
}

/// `text` cut to `max` characters with an ellipsis.
fn clip_text(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}
