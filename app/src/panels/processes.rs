//! The process table: every process with its counters, filterable by text and sortable by the
//! columns that show trouble (memory, mailbox, messages, restarts, age). Only the visible rows
//! are drawn.

use std::cmp::Ordering;

use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::{format_age, format_bytes, kind_color, status_color, View};
use crate::state::commands::Command;
use crate::state::components::{
    Counters, Identity, ProcessId, ProcessStatus, Selection, ViewGeneration,
};
use crate::state::ingest::RuntimeLink;
use crate::state::layout::natural_cmp;

/// What the table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Pid,
    Mailbox,
    Messages,
    Memory,
    Restarts,
    Age,
}

/// The table panel: filter text, sort order and the sorted rows of the last rebuild.
pub struct ProcessTable {
    filter: String,
    sort: SortKey,
    descending: bool,
    rows: Vec<Entity>,
    built_for: Option<(ViewGeneration, u64, String, SortKey, bool)>,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable {
            filter: String::new(),
            sort: SortKey::Pid,
            descending: false,
            rows: Vec::new(),
            built_for: None,
        }
    }
}

impl ProcessTable {
    /// Rebuilds the sorted, filtered rows if processes, counters, filter or order changed.
    fn refresh(&mut self, world: &World) {
        let key = (
            *world.resource::<ViewGeneration>(),
            world.resource::<RuntimeLink>().snapshots,
            self.filter.clone(),
            self.sort,
            self.descending,
        );
        if self.built_for.as_ref() == Some(&key) {
            return;
        }
        self.built_for = Some(key);
        self.rows.clear();
        let Some(mut query) = world.try_query::<(Entity, &ProcessId, &Identity, &Counters)>()
        else {
            return;
        };
        let needle = self.filter.trim().to_lowercase();
        let mut found: Vec<_> = query
            .iter(world)
            .filter(|(_, pid, identity, _)| identity.matches(pid.0, &needle))
            .collect();
        let sort = self.sort;
        found.sort_by(|a, b| {
            let ord = match sort {
                SortKey::Name => natural_cmp(&a.2.label, &b.2.label),
                SortKey::Pid => Ordering::Equal,
                SortKey::Mailbox => a.3.mailbox_len.cmp(&b.3.mailbox_len),
                SortKey::Messages => {
                    (a.3.messages_in + a.3.messages_out).cmp(&(b.3.messages_in + b.3.messages_out))
                }
                SortKey::Memory => a.3.memory.cmp(&b.3.memory),
                SortKey::Restarts => a.3.restarts.cmp(&b.3.restarts),
                SortKey::Age => a.3.age.cmp(&b.3.age),
            };
            ord.then(a.1 .0.cmp(&b.1 .0))
        });
        if self.descending {
            found.reverse();
        }
        self.rows.extend(found.into_iter().map(|(e, ..)| e));
    }

    fn sort_header(&mut self, ui: &mut egui::Ui, title: &str, key: SortKey) {
        let active = self.sort == key;
        let text = match (active, self.descending) {
            (true, true) => format!("{title} ⏷"),
            (true, false) => format!("{title} ⏶"),
            (false, _) => title.to_string(),
        };
        if ui
            .selectable_label(active, RichText::new(text).strong())
            .on_hover_text(format!("Sort by {}", title.to_lowercase()))
            .clicked()
        {
            if active {
                self.descending = !self.descending;
            } else {
                self.sort = key;
                // Trouble first: the biggest numbers are what a learner looks for.
                self.descending = !matches!(key, SortKey::Name | SortKey::Pid);
            }
        }
    }
}

impl View for ProcessTable {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        ui.horizontal(|ui| {
            ui.heading("Processes");
            let label = ui.label("Filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("label, name, kind or pid")
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
        });
        self.refresh(world);
        ui.weak(format!("{} shown", self.rows.len()));
        let selected = world.resource::<Selection>().pid;
        let visuals = ui.visuals().clone();
        let row_height = ui.spacing().interact_size.y;
        let rows = std::mem::take(&mut self.rows);
        TableBuilder::new(ui)
            .id_salt("process table")
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
            .column(Column::initial(130.0).at_least(80.0).clip(true))
            .column(Column::initial(64.0).at_least(50.0))
            .column(Column::initial(96.0).at_least(50.0).clip(true))
            .column(Column::initial(72.0).at_least(50.0).clip(true))
            .columns(Column::initial(66.0).at_least(44.0), 4)
            .column(Column::remainder().at_least(44.0))
            .header(row_height + 4.0, |mut header| {
                header.col(|ui| self.sort_header(ui, "Process", SortKey::Name));
                header.col(|ui| self.sort_header(ui, "Pid", SortKey::Pid));
                header.col(|ui| {
                    ui.strong("Kind");
                });
                header.col(|ui| {
                    ui.strong("Status");
                });
                header.col(|ui| self.sort_header(ui, "Mailbox", SortKey::Mailbox));
                header.col(|ui| self.sort_header(ui, "Messages", SortKey::Messages));
                header.col(|ui| self.sort_header(ui, "Memory", SortKey::Memory));
                header.col(|ui| self.sort_header(ui, "Restarts", SortKey::Restarts));
                header.col(|ui| self.sort_header(ui, "Age", SortKey::Age));
            })
            .body(|body| {
                body.rows(row_height, rows.len(), |mut row| {
                    let entity = rows[row.index()];
                    let (Some(pid), Some(identity), Some(counters), Some(status)) = (
                        world.get::<ProcessId>(entity),
                        world.get::<Identity>(entity),
                        world.get::<Counters>(entity),
                        world.get::<ProcessStatus>(entity),
                    ) else {
                        return;
                    };
                    let pid = pid.0;
                    let is_selected = selected == Some(pid);
                    row.set_selected(is_selected);
                    let mut clicked = false;
                    row.col(|ui| {
                        let text = RichText::new(&*identity.label)
                            .color(kind_color(identity.kind, &visuals));
                        clicked |= ui.selectable_label(is_selected, text).clicked();
                    });
                    row.col(|ui| {
                        ui.monospace(pid.to_string());
                    });
                    row.col(|ui| {
                        ui.label(identity.kind.name());
                    });
                    row.col(|ui| {
                        ui.colored_label(status_color(status, &visuals), status.describe());
                    });
                    row.col(|ui| {
                        ui.label(counters.mailbox_len.to_string());
                    });
                    row.col(|ui| {
                        ui.label(format!(
                            "{}/{}",
                            counters.messages_in, counters.messages_out
                        ))
                        .on_hover_text("messages in / out");
                    });
                    row.col(|ui| {
                        ui.label(format_bytes(counters.memory));
                    });
                    row.col(|ui| {
                        ui.label(counters.restarts.to_string());
                    });
                    row.col(|ui| {
                        ui.label(format_age(counters.age));
                    });
                    if clicked || row.response().clicked() {
                        commands.push(Command::Select(pid));
                    }
                });
            });
        self.rows = rows;
    }
}
