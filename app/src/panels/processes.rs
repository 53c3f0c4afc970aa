//! The process table: every process with its counters, filterable by text and sortable by the
//! columns that show trouble (busy time, polls, memory, mailbox, messages, restarts, age), in
//! the spirit of `Runtime.top`. Only the visible rows are drawn.

use std::time::{Duration, Instant};

use bevy_ecs::entity::Entity;
use bevy_ecs::world::World;
use crashcourse_runtime::Kind;
use eframe::egui::{self, RichText};
use egui_extras::{Column, TableBuilder};

use super::{format_age, format_busy, format_bytes, kind_color, status_color, View};
use crate::state::commands::Command;
use crate::state::components::{
    Counters, FrameClock, Identity, ProcessId, ProcessStatus, Selection, ViewGeneration,
};
use crate::state::layout::natural_cmp;
use crate::state::link::RuntimeLink;

/// While only the data changes, the rows are re-sorted at most this often: a table that
/// reshuffles ten times a second cannot be read anyway, and 100,000 rows cost a sort each time.
const RESORT_EVERY: Duration = Duration::from_millis(500);

/// Rows past which a table sorted by a counter is re-sorted less often.
const BIG_TABLE: usize = 20_000;

/// Even in pid order, where new rows are only appended, the rows are sorted from scratch this
/// often (a process seen late, a changed label).
const FULL_REBUILD_EVERY: Duration = Duration::from_secs(10);

/// The kinds the kind filter offers.
const KINDS: [Kind; 12] = [
    Kind::Supervisor,
    Kind::DynamicSupervisor,
    Kind::Worker,
    Kind::Server,
    Kind::Socket,
    Kind::Channel,
    Kind::Room,
    Kind::Presence,
    Kind::PubSub,
    Kind::Pool,
    Kind::PoolConnection,
    Kind::Http,
];

/// What the table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortKey {
    Name,
    Pid,
    Busy,
    Polls,
    Mailbox,
    Messages,
    Memory,
    Restarts,
    Age,
}

/// What the learner asked for: rebuilt at once when it changes.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Request {
    filter: String,
    kind: Option<Kind>,
    sort: SortKey,
    descending: bool,
}

/// The table panel: filter, sort order and the sorted rows of the last rebuild.
pub struct ProcessTable {
    filter: String,
    kind: Option<Kind>,
    sort: SortKey,
    descending: bool,
    rows: Vec<Entity>,
    built_for: Option<Request>,
    /// The data version (view generation, snapshots) and time of the last refresh.
    data: Option<((ViewGeneration, u64), Instant)>,
    /// When the rows were last sorted from scratch.
    full_at: Option<Instant>,
    /// The largest pid in the rows (pid order adds only newer ones between full rebuilds).
    max_pid: u64,
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable {
            filter: String::new(),
            kind: None,
            sort: SortKey::Pid,
            descending: false,
            rows: Vec::new(),
            built_for: None,
            data: None,
            full_at: None,
            max_pid: 0,
        }
    }
}

impl ProcessTable {
    fn request(&self) -> Request {
        Request {
            filter: self.filter.trim().to_lowercase(),
            kind: self.kind,
            sort: self.sort,
            descending: self.descending,
        }
    }

    /// Rebuilds the sorted, filtered rows at once if the request changed, and at most every
    /// [`RESORT_EVERY`] if only processes or counters did.
    fn refresh(&mut self, world: &World) {
        let request = self.request();
        let now = world.resource::<FrameClock>().now;
        let data = (
            *world.resource::<ViewGeneration>(),
            world.resource::<RuntimeLink>().snapshots,
        );
        let asked = self.built_for.as_ref() != Some(&request);
        // A full sort of a big table is not free: do it less often.
        let every = if request.sort != SortKey::Pid && self.rows.len() > BIG_TABLE {
            RESORT_EVERY * 4
        } else {
            RESORT_EVERY
        };
        let stale = match self.data {
            None => true,
            Some((built, at)) => built != data && now.saturating_duration_since(at) >= every,
        };
        if !asked && !stale {
            return;
        }
        self.data = Some((data, now));
        let full_due = self
            .full_at
            .is_none_or(|at| now.saturating_duration_since(at) >= FULL_REBUILD_EVERY);
        if !asked && request.sort == SortKey::Pid && !full_due {
            self.append_new_pids(world, &request);
            return;
        }
        self.built_for = Some(request.clone());
        self.full_at = Some(now);
        self.rows.clear();
        let Some(mut query) = world.try_query::<(Entity, &ProcessId, &Identity, &Counters)>()
        else {
            return;
        };
        let needle = request.filter.as_str();
        let kind = request.kind;
        let wanted = |identity: &Identity| {
            kind.is_none_or(|k| identity.kind == k) && identity.matches(needle)
        };
        let sort = request.sort;
        // One integer per row for everything but names: cheap to sort 100,000 of.
        let key = |c: &Counters| -> u64 {
            match sort {
                SortKey::Name | SortKey::Pid => 0,
                SortKey::Busy => c.busy.as_nanos().min(u128::from(u64::MAX)) as u64,
                SortKey::Polls => c.polls,
                SortKey::Mailbox => c.mailbox_len as u64,
                SortKey::Messages => c.messages_in + c.messages_out,
                SortKey::Memory => c.memory as u64,
                SortKey::Restarts => u64::from(c.restarts),
                SortKey::Age => c.born.map_or(0, |b| {
                    now.saturating_duration_since(b)
                        .as_nanos()
                        .min(u128::from(u64::MAX)) as u64
                }),
            }
        };
        if sort == SortKey::Name {
            let mut found: Vec<_> = query
                .iter(world)
                .filter(|(_, _, identity, _)| wanted(identity))
                .map(|(e, pid, identity, _)| (e, pid.0, identity.label.clone()))
                .collect();
            found.sort_by(|a, b| natural_cmp(&a.2, &b.2).then(a.1.cmp(&b.1)));
            if request.descending {
                found.reverse();
            }
            self.rows.extend(found.into_iter().map(|(e, ..)| e));
            return;
        }
        let mut found: Vec<(u64, u64, Entity)> = query
            .iter(world)
            .filter(|(_, _, identity, _)| wanted(identity))
            .map(|(e, pid, _, counters)| (key(counters), pid.0.id(), e))
            .collect();
        self.max_pid = found.iter().map(|(_, pid, _)| *pid).max().unwrap_or(0);
        found.sort_unstable_by_key(|(k, pid, _)| (*k, *pid));
        if request.descending {
            found.reverse();
        }
        self.rows.extend(found.into_iter().map(|(.., e)| e));
    }

    /// In pid order, new processes always come last (pids only grow): drop the rows that are
    /// gone and add the new pids at the end (or the start, descending) without sorting the
    /// rest. A full rebuild every [`FULL_REBUILD_EVERY`] catches anything else.
    fn append_new_pids(&mut self, world: &World, request: &Request) {
        let Some(mut query) = world.try_query::<(Entity, &ProcessId, &Identity)>() else {
            return;
        };
        self.rows.retain(|e| world.get::<ProcessId>(*e).is_some());
        let max = self.max_pid;
        let mut new: Vec<(u64, Entity)> = query
            .iter(world)
            .filter(|(_, pid, identity)| {
                pid.0.id() > max
                    && request.kind.is_none_or(|k| identity.kind == k)
                    && identity.matches(&request.filter)
            })
            .map(|(e, pid, _)| (pid.0.id(), e))
            .collect();
        if new.is_empty() {
            return;
        }
        new.sort_unstable_by_key(|(pid, _)| *pid);
        self.max_pid = new.last().map_or(max, |(pid, _)| *pid);
        if request.descending {
            let old = std::mem::take(&mut self.rows);
            self.rows.extend(new.into_iter().rev().map(|(_, e)| e));
            self.rows.extend(old);
        } else {
            self.rows.extend(new.into_iter().map(|(_, e)| e));
        }
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
            let label = ui.label("Filter");
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("label, name, kind or pid")
                    .desired_width(220.0),
            )
            .labelled_by(label.id);
            egui::ComboBox::new("kind filter", "Kind")
                .selected_text(self.kind.map_or("all kinds", |k| k.name()))
                .show_ui(ui, |ui| {
                    ui.selectable_value(&mut self.kind, None, "all kinds");
                    for kind in KINDS {
                        ui.selectable_value(&mut self.kind, Some(kind), kind.name());
                    }
                });
        });
        self.refresh(world);
        ui.weak(format!("{} shown", self.rows.len()));
        let selected = world.resource::<Selection>().pid;
        let now = world.resource::<FrameClock>().now;
        let visuals = ui.visuals().clone();
        let row_height = ui.spacing().interact_size.y;
        let rows = std::mem::take(&mut self.rows);
        // Scrolls sideways when the middle is narrower than the columns.
        egui::ScrollArea::horizontal()
            .id_salt("process table sideways")
            .show(ui, |ui| {
                TableBuilder::new(ui)
                    .id_salt("process table")
                    .striped(true)
                    .resizable(true)
                    .sense(egui::Sense::click())
                    .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
                    // Narrow enough that every column fits beside the tree and the inspector; each
                    // clips rather than pushing the ones after it out of sight.
                    .column(Column::initial(110.0).at_least(70.0).clip(true))
                    .column(Column::initial(70.0).at_least(50.0).clip(true))
                    .column(Column::initial(84.0).at_least(44.0).clip(true))
                    .column(Column::initial(64.0).at_least(44.0).clip(true))
                    .column(Column::initial(92.0).at_least(50.0).clip(true))
                    .column(Column::initial(56.0).at_least(40.0).clip(true))
                    .column(Column::initial(56.0).at_least(40.0).clip(true))
                    .column(Column::initial(68.0).at_least(40.0).clip(true))
                    .column(Column::initial(64.0).at_least(40.0).clip(true))
                    .column(Column::initial(58.0).at_least(40.0).clip(true))
                    .column(Column::remainder().at_least(44.0).clip(true))
                    .header(row_height + 4.0, |mut header| {
                        header.col(|ui| self.sort_header(ui, "Process", SortKey::Name));
                        header.col(|ui| self.sort_header(ui, "Pid", SortKey::Pid));
                        header.col(|ui| {
                            ui.strong("Kind");
                        });
                        header.col(|ui| {
                            ui.strong("Status");
                        });
                        header.col(|ui| self.sort_header(ui, "Busy", SortKey::Busy));
                        header.col(|ui| self.sort_header(ui, "Polls", SortKey::Polls));
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
                                ui.label(format_busy(counters.busy)).on_hover_text(
                                    "time in polls over the last 5 s, and its share of one core",
                                );
                            });
                            row.col(|ui| {
                                ui.label(counters.polls.to_string())
                                    .on_hover_text("polls over the last 5 s");
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
                                ui.label(format_age(counters.age(now)));
                            });
                            if clicked || row.response().clicked() {
                                commands.push(Command::Select(pid));
                            }
                        });
                    });
            });
        self.rows = rows;
    }
}
