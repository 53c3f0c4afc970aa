//! The lesson being followed: which step is current, its check fed by the runtime's event
//! stream and the view model's figures, what the learner predicted, and what the lesson
//! started (stopped again when the learner leaves or resets it).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bevy_ecs::world::World;
use crashcourse_runtime::observe::{EventKind, EventReader};
use crashcourse_runtime::{Handle, Pid};

use super::actions::{self, Effect, Owned};
use super::catalog::Catalog;
use super::checks::{CheckState, Who};
use super::metrics::{self, LessonFigures};
use super::model::{Check, Lesson, Step};
use super::progress::Progress;
use crate::state::chat::ChatServer;
use crate::state::commands::Command;
use crate::state::components::{Identity, PidIndex};
use crate::state::link::RuntimeLink;

/// How often metric checks are re-read.
const METRIC_EVERY: Duration = Duration::from_millis(100);
/// Events read per frame at most (the rest next frame).
const EVENTS_PER_FRAME: usize = 100_000;
/// The cache of who a pid was is cleared past this size.
const WHO_CACHE: usize = 250_000;

/// Where the learner is in a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepPhase {
    /// A prediction is asked; the actions wait for it.
    Predict,
    /// Actions enabled; the check has not held yet.
    Act,
    /// The check held: the explanation shows and "Next" is enabled.
    Held,
}

/// What the learner asked for in the lesson panel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LessonInput {
    /// Open a lesson by id, where it was left.
    Open(String),
    /// Back to the lesson list (stops what the lesson started).
    Close,
    Next,
    Back,
    /// Start the open lesson over (forgets its progress).
    Reset,
    /// Pick a prediction answer.
    Predict(usize),
    /// Press the step's action button.
    Act(usize),
    /// Reveal one more hint.
    Hint,
    /// Answer the quiz.
    Answer(usize),
    /// "Done" on a reading step.
    Done,
    /// Select and centre the process the step talks about.
    ShowMe,
    /// Close the first-start welcome.
    DismissWelcome,
}

/// The open lesson.
pub struct Open {
    /// Index into the catalog's entries.
    pub entry: usize,
    pub step: usize,
    pub check: CheckState,
    /// Hints revealed on this step.
    pub hints: usize,
    /// Past the last step: the lesson is complete.
    pub finished: bool,
    /// The last wrong quiz answer, to say so.
    pub wrong_answer: Option<usize>,
    reader: Option<EventReader>,
    last_metric: Option<Instant>,
}

/// The lesson engine: the catalog, progress, and the open lesson.
pub struct LessonEngine {
    pub catalog: Catalog,
    pub progress: Progress,
    pub open: Option<Open>,
    /// A first start: show the welcome.
    pub welcome: bool,
    /// The last action's problem, for the learner.
    pub notice: Option<String>,
    owned: Owned,
    who: HashMap<Pid, Who>,
    /// A process "Show me" asked the tree to centre.
    pub reveal: Option<Pid>,
}

impl LessonEngine {
    /// An engine over `catalog` with `progress`; a welcome if nothing was stored before.
    pub fn new(catalog: Catalog, progress: Progress) -> LessonEngine {
        LessonEngine {
            welcome: !progress.had_any,
            catalog,
            progress,
            open: None,
            notice: None,
            owned: Owned::default(),
            who: HashMap::new(),
            reveal: None,
        }
    }

    /// The engine for the app: lessons found on disk (or compiled in), progress in the chat
    /// server's database when it runs.
    pub fn for_world(world: &World) -> LessonEngine {
        let handle = world.resource::<RuntimeLink>().handle.clone();
        let pool = world
            .get_resource::<ChatServer>()
            .and_then(|c| c.endpoint.as_ref().map(|e| e.pool().clone()));
        let progress = match pool {
            Some(pool) => Progress::open(&handle, pool),
            None => Progress::in_memory(),
        };
        LessonEngine::new(Catalog::find(), progress)
    }

    /// The open lesson and its current step (None when finished).
    pub fn current(&self) -> Option<(&Lesson, Option<&Step>, &Open)> {
        let open = self.open.as_ref()?;
        let lesson = self.catalog.entries.get(open.entry)?.lesson()?;
        let step = (!open.finished)
            .then(|| lesson.steps.get(open.step))
            .flatten();
        Some((lesson, step, open))
    }

    /// Where the learner is in the current step.
    pub fn phase(&self) -> Option<StepPhase> {
        let (lesson, step, open) = self.current()?;
        let step = step?;
        if open.check.held() {
            Some(StepPhase::Held)
        } else if step.predict.is_some()
            && self.progress.prediction(&lesson.id, open.step).is_none()
        {
            Some(StepPhase::Predict)
        } else {
            Some(StepPhase::Act)
        }
    }

    /// The figures the lesson measured itself.
    pub fn own_figures(&self) -> LessonFigures {
        let per_idle = self.owned.figures.per_idle.load(Ordering::SeqCst);
        LessonFigures {
            spawned: self.owned.figures.spawned.load(Ordering::SeqCst),
            per_idle_process: (per_idle > 0).then_some(per_idle),
        }
    }

    /// Metric `name` now.
    pub fn metric(&self, world: &World, name: &str) -> Option<f64> {
        metrics::read(world, &self.own_figures(), name)
    }

    /// Steps done of lesson `id`, and whether all are.
    pub fn lesson_status(&self, lesson: &Lesson) -> (usize, bool) {
        let done = (0..lesson.steps.len())
            .filter(|s| self.progress.is_done(&lesson.id, *s))
            .count();
        (done, done == lesson.steps.len())
    }

    /// Reads the runtime's news for the current check; call once per frame.
    pub fn update(&mut self, world: &World) {
        let Some(link) = world.get_resource::<RuntimeLink>() else {
            return;
        };
        let handle = link.handle.clone();
        let now = Instant::now();
        let figures = self.own_figures();
        let Some(open) = self.open.as_mut() else {
            return;
        };
        let Some(lesson) = self
            .catalog
            .entries
            .get(open.entry)
            .and_then(|e| e.lesson())
        else {
            return;
        };
        let Some(step) = (!open.finished)
            .then(|| lesson.steps.get(open.step))
            .flatten()
        else {
            return;
        };
        let was_held = open.check.held();
        if let Some(reader) = open.reader.as_mut() {
            let events = handle.read_events(reader, EVENTS_PER_FRAME);
            if self.who.len() > WHO_CACHE {
                self.who.clear();
            }
            for event in events {
                match &event.kind {
                    EventKind::Spawned { kind, label, .. } => {
                        self.who.insert(
                            event.pid,
                            Who {
                                kind: Some(*kind),
                                label: label.as_deref().unwrap_or(kind.name()).to_string(),
                                name: None,
                            },
                        );
                    }
                    EventKind::Registered { name } => {
                        self.who.entry(event.pid).or_default().name = Some(name.to_string());
                    }
                    _ => {}
                }
                if matches!(step.check, Check::Event(_)) {
                    let who = who_of(world, &self.who, event.pid);
                    open.check.observe(&step.check, &event.kind, &who, now);
                }
            }
        }
        let due = open
            .last_metric
            .is_none_or(|t| now.duration_since(t) >= METRIC_EVERY);
        if due || !matches!(step.check, Check::Metric { .. }) {
            open.last_metric = Some(now);
            open.check.evaluate(&step.check, now, |name| {
                metrics::read(world, &figures, name)
            });
        }
        if open.check.held() && !was_held {
            let (id, index) = (lesson.id.clone(), open.step);
            self.progress.mark_done(&id, index);
        }
    }

    /// Applies what the learner asked for; returns the commands the app must apply.
    pub fn input(&mut self, world: &World, input: LessonInput) -> Vec<Command> {
        let mut out = Vec::new();
        self.input_into(world, input, &mut out);
        out
    }

    fn input_into(
        &mut self,
        world: &World,
        input: LessonInput,
        out: &mut Vec<Command>,
    ) -> Option<()> {
        self.notice = None;
        let handle = world
            .get_resource::<RuntimeLink>()
            .map(|l| l.handle.clone());
        match input {
            LessonInput::Open(id) => {
                out.extend(self.leave(world, handle.as_ref()));
                self.welcome = false;
                let entry = self
                    .catalog
                    .entries
                    .iter()
                    .position(|e| e.lesson().is_some_and(|l| l.id == id))?;
                let lesson = self.catalog.entries[entry].lesson()?;
                let last = lesson.steps.len().saturating_sub(1);
                let step = self
                    .progress
                    .get(&id)
                    .and_then(|r| r.current_step)
                    .map_or(0, |s| (s as usize).min(last));
                self.open = Some(Open {
                    entry,
                    step,
                    check: CheckState::new(),
                    hints: 0,
                    finished: false,
                    wrong_answer: None,
                    reader: None,
                    last_metric: None,
                });
                self.enter_step(handle.as_ref(), step);
            }
            LessonInput::Close => out.extend(self.leave(world, handle.as_ref())),
            LessonInput::Next => {
                let (lesson, _, open) = self.current()?;
                let held = open.check.held() || self.progress.is_done(&lesson.id, open.step);
                if !held {
                    return None;
                }
                let next = open.step + 1;
                if next >= lesson.steps.len() {
                    if let Some(h) = handle.as_ref() {
                        actions::stop_all(h, &mut self.owned);
                    }
                    out.extend(actions::undo(world, &mut self.owned));
                    if let Some(open) = self.open.as_mut() {
                        open.finished = true;
                    }
                } else {
                    self.enter_step(handle.as_ref(), next);
                }
            }
            LessonInput::Back => {
                let open = self.open.as_ref()?;
                let back = if open.finished {
                    open.step
                } else {
                    open.step.checked_sub(1)?
                };
                self.enter_step(handle.as_ref(), back);
            }
            LessonInput::Reset => {
                let id = self.current()?.0.id.clone();
                if let Some(h) = handle.as_ref() {
                    actions::stop_all(h, &mut self.owned);
                }
                out.extend(actions::undo(world, &mut self.owned));
                self.progress.reset(&id);
                self.enter_step(handle.as_ref(), 0);
            }
            LessonInput::Predict(answer) => {
                let (lesson, step, open) = self.current()?;
                let n = step?.predict.as_ref()?.answers.len();
                if answer < n {
                    let (id, index) = (lesson.id.clone(), open.step);
                    self.progress.predict(&id, index, answer);
                }
            }
            LessonInput::Act(i) => {
                if self.phase() == Some(StepPhase::Predict) {
                    self.notice = Some("Make your prediction first.".into());
                    return None;
                }
                let action = self.current()?.1?.actions.get(i)?.clone();
                match actions::perform(&action.op, world, &mut self.owned) {
                    Ok(Effect::None) => {}
                    Ok(Effect::Command(c)) => out.push(c),
                    Err(e) => self.notice = Some(e),
                }
            }
            LessonInput::Hint => {
                let n = self.current()?.1?.hints.len();
                let open = self.open.as_mut()?;
                open.hints = (open.hints + 1).min(n);
            }
            LessonInput::Answer(a) => {
                let correct = match &self.current()?.1?.check {
                    Check::Quiz { correct, .. } => *correct,
                    _ => return None,
                };
                let open = self.open.as_mut()?;
                open.check.answer = Some(a);
                open.wrong_answer = (a != correct).then_some(a);
                self.update(world);
            }
            LessonInput::Done => {
                self.open.as_mut()?.check.done = true;
                self.update(world);
            }
            LessonInput::ShowMe => {
                let target = self.current()?.1?.show.clone()?;
                let handle = handle?;
                match actions::find(world, &handle, &target) {
                    Ok(pid) => {
                        self.reveal = Some(pid);
                        out.push(Command::Select(pid));
                    }
                    Err(e) => self.notice = Some(e),
                }
            }
            LessonInput::DismissWelcome => self.welcome = false,
        }
        Some(())
    }

    /// Makes step `index` current: a fresh check that counts only what happens from now on.
    fn enter_step(&mut self, handle: Option<&Handle>, index: usize) {
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.step = index;
        open.finished = false;
        open.check = CheckState::new();
        open.hints = 0;
        open.wrong_answer = None;
        open.reader = handle.map(Handle::events);
        open.last_metric = None;
        if let Some(id) = self
            .catalog
            .entries
            .get(open.entry)
            .and_then(|e| e.lesson())
            .map(|l| l.id.clone())
        {
            self.progress.set_step(&id, index);
        }
    }

    /// Closes the lesson and stops what it started; returns the commands that undo the rest.
    fn leave(&mut self, world: &World, handle: Option<&Handle>) -> Vec<Command> {
        if let Some(h) = handle {
            actions::stop_all(h, &mut self.owned);
        }
        self.open = None;
        actions::undo(world, &mut self.owned)
    }

    /// Stops what the lesson started and waits for progress to reach the database.
    pub fn shutdown(&mut self, handle: &Handle) {
        actions::stop_all(handle, &mut self.owned);
        self.progress.flush_and_stop();
    }
}

/// Who `pid` is: the view model's identity, else what its events said.
fn who_of(world: &World, cache: &HashMap<Pid, Who>, pid: Pid) -> Who {
    let known = world
        .get_resource::<PidIndex>()
        .and_then(|i| i.0.get(&pid).copied())
        .and_then(|e| world.get::<Identity>(e));
    match known {
        Some(i) => Who {
            kind: Some(i.kind),
            label: i.label.to_string(),
            name: i
                .name
                .as_ref()
                .map(|n| n.to_string())
                .or_else(|| cache.get(&pid).and_then(|w| w.name.clone())),
        },
        None => cache.get(&pid).cloned().unwrap_or_default(),
    }
}
