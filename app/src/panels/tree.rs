//! The supervision tree: who supervises whom, coloured by kind and status, with restart counts,
//! restart intensity use, collapsible nodes, "+N" groups, a search that dims the rest, and a
//! red flash where something crashed; as an outline or (a toggle) as a picture
//! ([`super::tree_graph`]).

use std::collections::HashMap;

use bevy_ecs::world::World;
use eframe::egui::{self, Color32, RichText, Shape};

use super::{crash_color, kind_color, ok_color, status_color, warn_color, View};
use crate::state::animation::{Flash, FlashKind};
use crate::state::commands::Command;
use crate::state::components::{
    Counters, FrameClock, Identity, ProcessStatus, Selection, SupervisorLoad,
};
use crate::state::layout::{GroupKey, TreeIndex, TreeLayout, TreeRow, GROUP_PAGE};

/// Indentation per level.
const INDENT: f32 = 16.0;

/// The zoom range of the tree.
pub const ZOOM: std::ops::RangeInclusive<f32> = 0.5..=2.0;

/// How the tree is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TreeMode {
    /// Indented rows.
    #[default]
    Outline,
    /// Nodes and edges, top-down.
    Graph,
}

/// The tree panel: outline or graph, its search text, its zoom, and how many matches each
/// folded group holds.
pub struct SupervisionTree {
    pub mode: TreeMode,
    search: String,
    /// Text and row size relative to the rest of the window (Ctrl+scroll over the tree).
    pub zoom: f32,
    /// Matches inside folded groups, for (search, tree version).
    matches: HashMap<(GroupKey, usize), usize>,
    matches_for: Option<(String, u64)>,
    /// A process to scroll into the middle of the view on the next frame ("Show me").
    pub reveal: Option<crashcourse_runtime::Pid>,
}

impl Default for SupervisionTree {
    fn default() -> Self {
        SupervisionTree {
            mode: TreeMode::Outline,
            search: String::new(),
            reveal: None,
            zoom: 1.0,
            matches: HashMap::new(),
            matches_for: None,
        }
    }
}

impl SupervisionTree {
    /// How many of the folded children of `group` (after the first `shown`) match `needle`.
    fn matches_in(&mut self, world: &World, group: GroupKey, shown: usize, needle: &str) -> usize {
        let index = world.resource::<TreeIndex>();
        let key = (needle.to_string(), index.changes);
        if self.matches_for.as_ref() != Some(&key) {
            self.matches.clear();
            self.matches_for = Some(key);
        }
        *self.matches.entry((group, shown)).or_insert_with(|| {
            index
                .children_of(group)
                .skip(shown)
                .filter(|(_, e)| world.get::<Identity>(*e).is_some_and(|i| i.matches(needle)))
                .count()
        })
    }
}

impl View for SupervisionTree {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        ui.horizontal(|ui| {
            ui.heading("Supervision tree");
            ui.selectable_value(&mut self.mode, TreeMode::Outline, "Outline")
                .on_hover_text("The tree as indented rows");
            ui.selectable_value(&mut self.mode, TreeMode::Graph, "Graph")
                .on_hover_text("The tree as a picture: nodes and edges, top-down");
        });
        ui.horizontal(|ui| {
            let label = ui.label("Search");
            ui.add(
                egui::TextEdit::singleline(&mut self.search)
                    .hint_text("label, name, kind or pid")
                    .desired_width(f32::INFINITY),
            )
            .labelled_by(label.id);
        });
        ui.horizontal(|ui| {
            ui.label("Zoom");
            if ui
                .small_button("-")
                .on_hover_text("Smaller (Ctrl+scroll)")
                .clicked()
            {
                self.zoom /= 1.25;
            }
            ui.monospace(format!("{:>3.0}%", self.zoom * 100.0));
            if ui
                .small_button("+")
                .on_hover_text("Larger (Ctrl+scroll)")
                .clicked()
            {
                self.zoom *= 1.25;
            }
            if (self.zoom - 1.0).abs() > 0.01 && ui.small_button("reset").clicked() {
                self.zoom = 1.0;
            }
        });
        ui.separator();
        // Ctrl+scroll (or a pinch) over the tree zooms it; scrolling pans it.
        if ui.rect_contains_pointer(ui.available_rect_before_wrap()) {
            let delta = ui.input(|i| i.zoom_delta());
            if delta != 1.0 {
                self.zoom *= delta;
            }
        }
        self.zoom = self.zoom.clamp(*ZOOM.start(), *ZOOM.end());
        let zoom = self.zoom;
        if (zoom - 1.0).abs() > 0.001 {
            let style = ui.style_mut();
            for font in style.text_styles.values_mut() {
                font.size *= zoom;
            }
            style.spacing.interact_size.y *= zoom;
            style.spacing.item_spacing *= zoom;
        }

        let layout = world.resource::<TreeLayout>();
        if layout.rows.is_empty() {
            ui.weak("No processes.");
            return;
        }
        let needle = self.search.trim().to_lowercase();
        if self.mode == TreeMode::Graph {
            super::tree_graph::show(ui, world, zoom, &needle, commands);
            return;
        }
        let selected = world.resource::<Selection>().pid;
        let now = world.resource::<FrameClock>().now;
        let row_height = ui.spacing().interact_size.y + 2.0;
        let mut scroll = egui::ScrollArea::both().id_salt("tree scroll");
        if let Some(pid) = self.reveal.take() {
            let row = layout
                .rows
                .iter()
                .position(|r| matches!(r, TreeRow::Process { pid: p, .. } if *p == pid));
            if let Some(row) = row {
                let middle = row as f32 * row_height - ui.available_height() / 2.0;
                scroll = scroll.vertical_scroll_offset(middle.max(0.0));
            }
        }
        scroll.auto_shrink([false, false]).show_rows(
            ui,
            row_height,
            layout.rows.len(),
            |ui, range| {
                for row in &layout.rows[range] {
                    match row {
                        TreeRow::Process {
                            entity,
                            pid,
                            depth,
                            children,
                            collapsed,
                        } => {
                            let Some(identity) = world.get::<Identity>(*entity) else {
                                continue;
                            };
                            let node = Node {
                                pid: *pid,
                                depth: *depth,
                                children: *children,
                                collapsed: *collapsed,
                                identity,
                                status: world.get::<ProcessStatus>(*entity),
                                counters: world.get::<Counters>(*entity),
                                load: world.get::<SupervisorLoad>(*entity),
                                flash: world
                                    .get::<Flash>(*entity)
                                    .map(|f| (f.kind, f.strength(now))),
                                selected: selected == Some(*pid),
                                dimmed: !identity.matches(&needle),
                            };
                            node.ui(ui, row_height, INDENT * zoom, commands);
                        }
                        TreeRow::Group {
                            parent,
                            depth,
                            hidden,
                            shown,
                        } => {
                            let found = if needle.is_empty() {
                                None
                            } else {
                                Some(self.matches_in(world, *parent, *shown, &needle))
                            };
                            ui.horizontal(|ui| {
                                ui.set_height(row_height);
                                ui.add_space((*depth as f32 + 1.0) * INDENT * zoom);
                                let what = match (parent, shown) {
                                    (_, 1..) => "more",
                                    (Some(_), 0) => "children",
                                    (None, 0) => "top-level processes",
                                };
                                let mut text = format!("+{hidden} {what}");
                                if let Some(found) = found {
                                    text = format!("{text} ({found} matching)");
                                }
                                if ui
                                    .button(text)
                                    .on_hover_text(format!(
                                        "Show {} more",
                                        (*hidden).min(GROUP_PAGE)
                                    ))
                                    .clicked()
                                {
                                    commands.push(Command::ExpandGroup(*parent));
                                }
                            });
                        }
                    }
                }
            },
        );
    }
}

/// One process row, gathered from its components.
struct Node<'w> {
    pid: crashcourse_runtime::Pid,
    depth: usize,
    children: usize,
    collapsed: bool,
    identity: &'w Identity,
    status: Option<&'w ProcessStatus>,
    counters: Option<&'w Counters>,
    load: Option<&'w SupervisorLoad>,
    flash: Option<(FlashKind, f32)>,
    selected: bool,
    dimmed: bool,
}

impl Node<'_> {
    fn ui(&self, ui: &mut egui::Ui, row_height: f32, indent: f32, commands: &mut Vec<Command>) {
        // The flash is painted under the row, so reserve its place before drawing the row.
        let background = ui.painter().add(Shape::Noop);
        let visuals = ui.visuals().clone();
        let exited = self.status.is_some_and(|s| !s.is_alive());
        let row = ui.horizontal(|ui| {
            ui.set_height(row_height);
            ui.add_space(self.depth as f32 * indent);
            if self.children > 0 {
                let (arrow, hint) = if self.collapsed {
                    ("⏵", "Expand")
                } else {
                    ("⏷", "Collapse")
                };
                if ui
                    .add(egui::Button::new(RichText::new(arrow).small()).frame(false))
                    .on_hover_text(hint)
                    .clicked()
                {
                    commands.push(Command::ToggleCollapsed(self.pid));
                }
            } else {
                ui.add_space(indent);
            }

            let mut color = kind_color(self.identity.kind, &visuals);
            if let Some(status) = self.status.filter(|_| exited) {
                color = status_color(status, &visuals);
            }
            if self.dimmed {
                color = color.gamma_multiply(0.3);
            }
            let mut text = RichText::new(&*self.identity.label).color(color);
            if self.identity.kind.is_supervisor() {
                text = text.strong();
            }
            if exited {
                text = text.strikethrough();
            }
            let response = ui
                .selectable_label(self.selected, text)
                .on_hover_text(format!("{} {}", self.identity.kind.name(), self.pid));
            if response.clicked() {
                commands.push(Command::Select(self.pid));
            }

            let weak = |c: Color32| {
                if self.dimmed {
                    c.gamma_multiply(0.3)
                } else {
                    c
                }
            };
            if let Some(counters) = self.counters.filter(|c| c.restarts > 0) {
                ui.label(
                    RichText::new(format!("↻{}", counters.restarts))
                        .color(weak(warn_color(&visuals))),
                )
                .on_hover_text(format!(
                    "restarted {} time{}",
                    counters.restarts,
                    if counters.restarts == 1 { "" } else { "s" }
                ));
            }
            if let Some(SupervisorLoad(load)) = self.load {
                let over = load.restarts_in_period >= load.max_restarts;
                let color = if over {
                    crash_color(&visuals)
                } else if load.restarts_in_period > 0 {
                    warn_color(&visuals)
                } else {
                    visuals.weak_text_color()
                };
                ui.label(
                    RichText::new(format!(
                        "{} of {} in {}s",
                        load.restarts_in_period,
                        load.max_restarts,
                        load.period.as_secs_f32()
                    ))
                    .small()
                    .color(weak(color)),
                )
                .on_hover_text("restarts in the current period, of the most allowed");
                if self.collapsed || self.children == 0 {
                    ui.label(
                        RichText::new(format!("{} children", load.children))
                            .small()
                            .color(weak(visuals.weak_text_color())),
                    );
                }
            }
            if let Some(ProcessStatus::Alive(crashcourse_runtime::Status::NotYielding)) =
                self.status
            {
                ui.label(
                    RichText::new("⚠ not yielding")
                        .small()
                        .color(warn_color(&visuals)),
                )
                .on_hover_text(
                    "Its current poll has run over 10 ms: it holds a scheduler thread and \
                     cannot be stopped until it yields.",
                );
            }
            if let Some(ProcessStatus::Exited {
                reason: Some(reason),
                ..
            }) = self.status
            {
                ui.label(
                    RichText::new(format!("exited: {reason}"))
                        .small()
                        .color(crash_color(&visuals)),
                );
            }
        });
        if let Some((kind, strength)) = self.flash.filter(|(_, s)| *s > 0.0) {
            let base = match kind {
                FlashKind::Crash => crash_color(&visuals),
                FlashKind::Restart => ok_color(&visuals),
            };
            let fill = base.gamma_multiply(0.55 * strength);
            let rect = row.response.rect.expand2(egui::vec2(2.0, 0.0));
            ui.painter()
                .set(background, Shape::rect_filled(rect, 3.0, fill));
        }
    }
}
