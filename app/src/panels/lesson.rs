//! The lesson panel beside the tree: the lesson list (done and in-progress marks, broken files
//! with their errors), a first-start welcome, and the current step with its prediction,
//! buttons, hints, "Show me", live check and explanation.

use bevy_ecs::world::World;
use eframe::egui::{self, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};

use super::{crash_color, ok_color, warn_color};
use crate::lessons::catalog::Entry;
use crate::lessons::engine::{LessonEngine, LessonInput, StepPhase};
use crate::lessons::metrics;
use crate::lessons::model::{Bound, Check, EventCheck, EventName};

/// The panel's own state: the Markdown cache and whether it is folded.
#[derive(Default)]
pub struct LessonPanel {
    cache: CommonMarkCache,
    /// Folded to a narrow strip with one "Lessons" button.
    pub folded: bool,
}

impl LessonPanel {
    /// Draws the panel; what the learner asks for goes to `inputs`.
    pub fn ui(
        &mut self,
        ui: &mut egui::Ui,
        world: &World,
        engine: &LessonEngine,
        inputs: &mut Vec<LessonInput>,
    ) {
        if self.folded {
            if ui
                .button("Lessons")
                .on_hover_text("Open the lesson panel")
                .clicked()
            {
                self.folded = false;
            }
            return;
        }
        ui.horizontal(|ui| {
            if engine.open.is_some() {
                if ui
                    .button("⏴ All lessons")
                    .on_hover_text("Leave this lesson (what it started is stopped)")
                    .clicked()
                {
                    inputs.push(LessonInput::Close);
                }
            } else {
                ui.heading("Lessons");
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .small_button("⏴")
                    .on_hover_text("Fold the lesson panel")
                    .clicked()
                {
                    self.folded = true;
                }
            });
        });
        ui.separator();
        if let Some(notice) = &engine.notice {
            ui.colored_label(warn_color(ui.visuals()), notice);
        }
        if engine.welcome && engine.open.is_none() {
            self.welcome(ui, engine, inputs);
            ui.separator();
        }
        if engine.open.is_some() {
            self.step(ui, world, engine, inputs);
        } else {
            self.list(ui, engine, inputs);
        }
    }

    fn welcome(&mut self, ui: &mut egui::Ui, engine: &LessonEngine, inputs: &mut Vec<LessonInput>) {
        ui.label(RichText::new("Welcome to Crashcourse").strong().size(18.0));
        ui.label(
            "Beside this panel runs a live actor runtime with a chat server on it. The lessons \
             walk you through it: you predict what will happen, press a button, and the app \
             checks what the runtime actually did.",
        );
        if let Some(first) = engine.catalog.lessons().next() {
            let id = first.id.clone();
            if ui
                .button(RichText::new(format!("⏵ Start lesson 1: {}", first.title)).strong())
                .clicked()
            {
                inputs.push(LessonInput::Open(id));
            }
        }
        ui.weak(
            "You can come back to the lessons any time: they stay listed in this panel, and \
             \"Lessons\" opens it again when it is folded.",
        );
        if ui.button("Not now").clicked() {
            inputs.push(LessonInput::DismissWelcome);
        }
    }

    fn list(&mut self, ui: &mut egui::Ui, engine: &LessonEngine, inputs: &mut Vec<LessonInput>) {
        if let Some(problem) = &engine.progress.problem {
            ui.weak(problem);
        }
        egui::ScrollArea::vertical()
            .id_salt("lesson list")
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if engine.catalog.entries.is_empty() {
                    ui.weak("No lesson files were found.");
                }
                for (n, entry) in engine.catalog.entries.iter().enumerate() {
                    match entry {
                        Entry::Ready(lesson) => {
                            let (done, all) = engine.lesson_status(lesson);
                            let started = engine.progress.get(&lesson.id).is_some();
                            let (mark, color) = if all {
                                ("✔", ok_color(ui.visuals()))
                            } else if started || done > 0 {
                                ("⏵", warn_color(ui.visuals()))
                            } else {
                                ("·", ui.visuals().weak_text_color())
                            };
                            ui.horizontal(|ui| {
                                ui.colored_label(color, mark).on_hover_text(if all {
                                    "done"
                                } else if started {
                                    "in progress"
                                } else {
                                    "not started"
                                });
                                let text = format!("{}. {}", n + 1, lesson.title);
                                if ui.link(RichText::new(text).strong()).clicked() {
                                    inputs.push(LessonInput::Open(lesson.id.clone()));
                                }
                            });
                            ui.weak(format!(
                                "{} · {} min · {done}/{} steps",
                                lesson.summary,
                                lesson.minutes,
                                lesson.steps.len()
                            ));
                            ui.add_space(4.0);
                        }
                        Entry::Broken { file, problems } => {
                            ui.colored_label(
                                crash_color(ui.visuals()),
                                format!("✖ {file} does not load"),
                            );
                            for p in problems.iter().take(5) {
                                ui.label(RichText::new(p.to_string()).monospace().small());
                            }
                            if problems.len() > 5 {
                                ui.weak(format!("… and {} more", problems.len() - 5));
                            }
                            ui.add_space(4.0);
                        }
                    }
                }
            });
    }

    fn step(
        &mut self,
        ui: &mut egui::Ui,
        world: &World,
        engine: &LessonEngine,
        inputs: &mut Vec<LessonInput>,
    ) {
        let Some((lesson, step, open)) = engine.current() else {
            return;
        };
        let fill = |text: &str| metrics::fill(text, |name| engine.metric(world, name));
        ui.label(RichText::new(&lesson.title).strong().size(16.0));
        let Some(step) = step else {
            ui.colored_label(ok_color(ui.visuals()), "✔ Lesson complete");
            ui.label("Everything this lesson started has been stopped.");
            let next = engine
                .catalog
                .lessons()
                .skip_while(|l| l.id != lesson.id)
                .nth(1);
            if let Some(next) = next {
                let text = format!("Next lesson: {} ⏵", next.title);
                if ui.button(RichText::new(text).strong()).clicked() {
                    inputs.push(LessonInput::Open(next.id.clone()));
                }
            }
            ui.horizontal(|ui| {
                if ui.button("⏴ Back").clicked() {
                    inputs.push(LessonInput::Back);
                }
                if ui.button("Reset lesson").clicked() {
                    inputs.push(LessonInput::Reset);
                }
                if ui.button("All lessons").clicked() {
                    inputs.push(LessonInput::Close);
                }
            });
            return;
        };
        let phase = engine.phase().unwrap_or(StepPhase::Act);
        let held = phase == StepPhase::Held;
        let done_before = engine.progress.is_done(&lesson.id, open.step);
        ui.horizontal(|ui| {
            ui.weak(format!("Step {} of {}", open.step + 1, lesson.steps.len()));
            ui.label(RichText::new(&step.title).strong());
        });
        // Navigation stays at the bottom, always visible.
        egui::Panel::bottom("lesson nav")
            .show_separator_line(true)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui
                        .add_enabled(open.step > 0, egui::Button::new("⏴ Back"))
                        .clicked()
                    {
                        inputs.push(LessonInput::Back);
                    }
                    let last = open.step + 1 == lesson.steps.len();
                    let next = if last { "Finish ✔" } else { "Next ⏵" };
                    if ui
                        .add_enabled(held || done_before, egui::Button::new(next))
                        .on_disabled_hover_text("The step's check has not held yet")
                        .clicked()
                    {
                        inputs.push(LessonInput::Next);
                    }
                    if ui
                        .button("Reset lesson")
                        .on_hover_text("Start this lesson over (stops what it started)")
                        .clicked()
                    {
                        inputs.push(LessonInput::Reset);
                    }
                });
            });
        egui::ScrollArea::vertical()
            .id_salt(("lesson step", &lesson.id, open.step))
            .auto_shrink([false, false])
            .show(ui, |ui| {
                if open.step == 0 && !lesson.intro.is_empty() {
                    CommonMarkViewer::new().show(ui, &mut self.cache, &fill(&lesson.intro));
                    ui.separator();
                }
                CommonMarkViewer::new().show(ui, &mut self.cache, &fill(&step.before));

                let predicted = engine.progress.prediction(&lesson.id, open.step);
                if let Some(predict) = &step.predict {
                    ui.add_space(6.0);
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        let question = format!("**Predict:** {}", predict.question);
                        CommonMarkViewer::new().show(ui, &mut self.cache, &question);
                        for (i, answer) in predict.answers.iter().enumerate() {
                            let chosen = predicted == Some(i);
                            let enabled = predicted.is_none();
                            if ui
                                .add_enabled(
                                    enabled || chosen,
                                    egui::RadioButton::new(chosen, plain(answer)),
                                )
                                .clicked()
                                && enabled
                            {
                                inputs.push(LessonInput::Predict(i));
                            }
                        }
                        // One line either way, so the buttons below stay where they were.
                        let then = if step.actions.is_empty() {
                            "then do what the step says"
                        } else {
                            "then press the button below"
                        };
                        if predicted.is_none() {
                            ui.weak(if step.actions.is_empty() {
                                "Pick one first; the step counts from your prediction."
                            } else {
                                "Pick one: the buttons below wait for your prediction."
                            });
                        } else {
                            ui.weak(format!("Prediction noted: {then}."));
                        }
                    });
                }

                if !step.actions.is_empty() {
                    ui.add_space(6.0);
                    ui.horizontal_wrapped(|ui| {
                        for (i, action) in step.actions.iter().enumerate() {
                            if ui
                                .add_enabled(
                                    phase != StepPhase::Predict,
                                    egui::Button::new(&action.label),
                                )
                                .clicked()
                            {
                                inputs.push(LessonInput::Act(i));
                            }
                        }
                    });
                }

                ui.add_space(6.0);
                // What the check waits for would give the prediction away: it shows after.
                if phase == StepPhase::Predict && !matches!(step.check, Check::Quiz { .. }) {
                    ui.weak("What this step waits for shows once you have predicted.");
                } else {
                    self.check(
                        ui,
                        world,
                        engine,
                        &step.check,
                        held,
                        open.check.hits(),
                        open.wrong_answer,
                        inputs,
                    );
                }

                ui.horizontal(|ui| {
                    if step.show.is_some() && ui.button("Show me").clicked() {
                        inputs.push(LessonInput::ShowMe);
                    }
                    if open.hints < step.hints.len()
                        && ui
                            .button(if open.hints == 0 {
                                "Hint"
                            } else {
                                "Another hint"
                            })
                            .clicked()
                    {
                        inputs.push(LessonInput::Hint);
                    }
                });
                for hint in &step.hints[..open.hints] {
                    ui.label(RichText::new(format!("Hint: {hint}")).italics());
                }

                if held || done_before {
                    ui.separator();
                    if let (Some(p), Some(predict)) = (predicted, &step.predict) {
                        if let Some(answer) = predict.answers.get(p) {
                            ui.label(
                                RichText::new(format!(
                                    "You predicted: {answer}. Here is what happened:"
                                ))
                                .strong(),
                            );
                        }
                    }
                    if !step.after.is_empty() {
                        CommonMarkViewer::new().show(ui, &mut self.cache, &fill(&step.after));
                    }
                }
            });
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &mut self,
        ui: &mut egui::Ui,
        world: &World,
        engine: &LessonEngine,
        check: &Check,
        held: bool,
        hits: usize,
        wrong: Option<usize>,
        inputs: &mut Vec<LessonInput>,
    ) {
        let tick = |ui: &mut egui::Ui, text: String| {
            if held {
                ui.colored_label(ok_color(ui.visuals()), format!("✔ {text}"));
            } else {
                ui.weak(format!("… {text}"));
            }
        };
        match check {
            Check::Event(e) => {
                tick(
                    ui,
                    if held {
                        "Happened.".into()
                    } else {
                        event_goal(e, hits)
                    },
                );
            }
            Check::Metric {
                metric,
                bound,
                hold,
            } => {
                let value = engine.metric(world, metric);
                let goal = match bound {
                    Bound::Above(v) => format!("above {}", metrics::format(metric, Some(*v))),
                    Bound::Below(v) => format!("below {}", metrics::format(metric, Some(*v))),
                };
                let hold = if hold.is_zero() {
                    String::new()
                } else {
                    format!(" for {}s", hold.as_secs_f32())
                };
                let now = match value {
                    Some(_) => metrics::format(metric, value),
                    None => "not measured yet".to_string(),
                };
                // A check that held stays held while the figure moves on: say so.
                let line = if held {
                    format!(
                        "{}: goal reached ({goal}{hold}); now {now}",
                        metrics::describe(metric)
                    )
                } else {
                    format!("{}: {now} (goal: {goal}{hold})", metrics::describe(metric))
                };
                tick(ui, line);
            }
            Check::Quiz {
                question,
                answers,
                correct,
                explain,
            } => {
                ui.add_space(2.0);
                CommonMarkViewer::new().show(ui, &mut self.cache, &format!("**{question}**"));
                for (i, answer) in answers.iter().enumerate() {
                    let chosen = held && i == *correct || wrong == Some(i);
                    if ui
                        .add_enabled(!held, egui::RadioButton::new(chosen, plain(answer)))
                        .clicked()
                    {
                        inputs.push(LessonInput::Answer(i));
                    }
                }
                if held {
                    tick(ui, "Right.".into());
                    // The explanation names the right answer, so it waits for it.
                    if let Some(explain) = explain {
                        CommonMarkViewer::new().show(ui, &mut self.cache, explain);
                    }
                } else if wrong.is_some() {
                    ui.colored_label(
                        warn_color(ui.visuals()),
                        "Not quite: try another answer (\"Hint\" helps).",
                    );
                } else {
                    ui.weak("Pick the answer you think is right.");
                }
            }
            Check::Done => {
                if held {
                    tick(ui, "Done.".into());
                } else if ui.button("Done").clicked() {
                    inputs.push(LessonInput::Done);
                }
            }
        }
    }
}

/// What an event check waits for, in words: "lesson exits (reason shutdown)".
fn event_goal(e: &EventCheck, hits: usize) -> String {
    let who = match (&e.name, &e.label, e.kind_of) {
        (Some(name), _, _) => name.clone(),
        (None, Some(label), Some(k)) => format!("a {} {label}", k.name()),
        (None, Some(label), None) => label.clone(),
        (None, None, Some(k)) => format!("a {} process", k.name()),
        (None, None, None) => "a process".to_string(),
    };
    let what = match e.event {
        EventName::Spawned => "starts",
        EventName::Exited => "exits",
        EventName::Restarted => "is restarted",
        EventName::IntensityExceeded => "gives up (too many restarts)",
        EventName::Escalated => "escalates to its own supervisor",
        EventName::LongPoll => "runs too long without yielding",
        EventName::Linked => "is linked",
        EventName::Monitor => "is monitored",
        EventName::Registered => "is registered",
    };
    let mut line = format!("Waiting for: {who} {what}");
    if let Some(r) = &e.reason {
        line.push_str(&format!(" (reason {r})"));
    }
    if e.count > 1 {
        line.push_str(&format!(": {} of {}", hits.min(e.count as usize), e.count));
    }
    if let Some(w) = e.within {
        line.push_str(&format!(" within {}s", w.as_secs_f32()));
    }
    line
}

/// An answer as a button shows it: plain text, so `code` marks are dropped.
fn plain(text: &str) -> String {
    text.replace('`', "")
}
