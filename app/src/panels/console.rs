//! The console panel: answers scrolling above (each with its IEx expression in code style),
//! an input line below with history (up/down) and Tab completion.

use bevy_ecs::world::World;
use eframe::egui::{self, Key, RichText};

use super::View;
use crate::state::commands::Command;
use crate::state::console::{console, ConsoleLog};

/// The prompt before the input line (it labels the input, so tests find it by it).
pub const PROMPT: &str = "crashcourse>";

/// The hint the empty input line shows.
pub const HINT: &str = "count, memory, state room:lobby, top mailbox, help...";

/// The console panel's own state: the line being typed and where recall stands.
#[derive(Default)]
pub struct ConsolePanel {
    pub input: String,
    recall: Option<usize>,
    /// Completions offered for the last Tab with more than one match.
    offered: Vec<String>,
    /// The input line's id, from the last frame.
    input_id: Option<egui::Id>,
}

impl View for ConsolePanel {
    fn ui(&mut self, ui: &mut egui::Ui, world: &World, commands: &mut Vec<Command>) {
        let Some(log) = world.get_resource::<ConsoleLog>() else {
            return;
        };
        let input_height = 64.0;
        egui::ScrollArea::vertical()
            .max_height((ui.available_height() - input_height).max(80.0))
            .stick_to_bottom(true)
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if log.answers.is_empty() {
                    ui.weak("Ask the live runtime, as from a remote IEx shell. Try `help`, `count`, `top mailbox`.");
                }
                for a in &log.answers {
                    ui.label(RichText::new(format!("> {}", a.input)).monospace().strong());
                    if !a.iex.is_empty() {
                        ui.horizontal(|ui| {
                            ui.weak("iex>");
                            ui.code(&a.iex);
                        });
                    }
                    for line in &a.lines {
                        let text = RichText::new(line).monospace();
                        if a.error {
                            ui.label(text.color(super::warn_color(ui.visuals())));
                        } else {
                            ui.label(text);
                        }
                    }
                    ui.add_space(4.0);
                }
                for line in log.running() {
                    ui.weak(format!("> {line} (waiting...)"));
                }
            });
        if !self.offered.is_empty() {
            ui.weak(self.offered.join("   "));
        }
        let focused = self.input_id.is_some() && ui.memory(|m| m.focused()) == self.input_id;
        let (tab, up, down) = if focused {
            ui.input_mut(|i| {
                (
                    i.consume_key(egui::Modifiers::NONE, Key::Tab),
                    i.consume_key(egui::Modifiers::NONE, Key::ArrowUp),
                    i.consume_key(egui::Modifiers::NONE, Key::ArrowDown),
                )
            })
        } else {
            (false, false, false)
        };
        if tab {
            self.complete(world);
        }
        if up || down {
            self.recall(&log.history, up);
        }
        let response = ui
            .horizontal(|ui| {
                let prompt = ui.label(RichText::new(PROMPT).monospace());
                ui.add(
                    egui::TextEdit::singleline(&mut self.input)
                        .id_salt("console input")
                        .font(egui::TextStyle::Monospace)
                        .hint_text(HINT)
                        .lock_focus(true)
                        .desired_width(f32::INFINITY),
                )
                .labelled_by(prompt.id)
            })
            .inner;
        let id = response.id;
        self.input_id = Some(id);
        if tab || up || down {
            response.request_focus();
            if let Some(mut state) = egui::TextEdit::load_state(ui.ctx(), id) {
                let end = egui::text::CCursor::new(self.input.chars().count());
                state
                    .cursor
                    .set_char_range(Some(egui::text::CCursorRange::one(end)));
                state.store(ui.ctx(), id);
            }
        }
        if response.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter)) {
            let line = std::mem::take(&mut self.input);
            self.recall = None;
            self.offered.clear();
            if !line.trim().is_empty() {
                commands.push(Command::Console(line));
            }
            response.request_focus();
        }
    }
}

impl ConsolePanel {
    /// Completes the line: one match replaces it; several fill their common prefix and are
    /// listed above the input.
    fn complete(&mut self, world: &World) {
        let options = console(world).complete(&self.input);
        match options.as_slice() {
            [] => self.offered.clear(),
            [one] => {
                self.input = format!("{one} ");
                self.offered.clear();
            }
            many => {
                let mut prefix = many[0].clone();
                for o in &many[1..] {
                    let common = prefix
                        .chars()
                        .zip(o.chars())
                        .take_while(|(a, b)| a == b)
                        .count();
                    prefix = prefix.chars().take(common).collect();
                }
                if prefix.len() > self.input.len() {
                    self.input = prefix;
                }
                self.offered = many.iter().take(12).cloned().collect();
            }
        }
    }

    /// Steps through the typed lines: up goes back, down forward (past the newest: empty).
    fn recall(&mut self, history: &[String], up: bool) {
        if history.is_empty() {
            return;
        }
        let next = match (self.recall, up) {
            (None, true) => Some(history.len() - 1),
            (None, false) => None,
            (Some(i), true) => Some(i.saturating_sub(1)),
            (Some(i), false) if i + 1 < history.len() => Some(i + 1),
            (Some(_), false) => None,
        };
        self.recall = next;
        self.input = next.map(|i| history[i].clone()).unwrap_or_default();
    }
}
