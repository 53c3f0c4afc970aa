//! The console's side of the view model: the answers so far, the typed history, and lines
//! still running (each on a thread of its own, so a `state` waiting on a stuck server never
//! blocks the window).

use std::sync::{Arc, Mutex};

use bevy_ecs::prelude::*;
use crashcourse_runtime::{Answer, Console};

use super::chat::ChatServer;
use super::link::RuntimeLink;
use super::trace;

/// Where a line's thread leaves its answer.
type Slot = Arc<Mutex<Option<Answer>>>;

/// Answers kept on screen.
const KEEP: usize = 200;

/// What the console panel shows.
#[derive(Resource, Default)]
pub struct ConsoleLog {
    /// Answers, oldest first.
    pub answers: Vec<Answer>,
    /// Lines typed, oldest first (the panel's up/down recall).
    pub history: Vec<String>,
    /// Lines still running.
    pending: Vec<(String, Slot)>,
}

impl ConsoleLog {
    /// Lines typed whose answers have not come back yet.
    pub fn running(&self) -> impl Iterator<Item = &str> {
        self.pending.iter().map(|(l, _)| l.as_str())
    }
}

/// The console over this app's runtime, with the chat server's figures while it runs.
pub fn console(world: &World) -> Console {
    let console = Console::new(&world.resource::<RuntimeLink>().handle);
    match world
        .get_resource::<ChatServer>()
        .and_then(|c| c.endpoint.as_ref())
    {
        Some(e) => console.with_chat(e.metrics().clone(), e.pool().clone()),
        None => console,
    }
}

/// Starts running `line`; its answer appears once [`collect_answers`] sees it.
pub fn run_line(world: &mut World, line: String) -> Result<(), String> {
    let line = line.trim().to_string();
    if line.is_empty() {
        return Ok(());
    }
    let console = console(world);
    let slot: Slot = Arc::default();
    let theirs = slot.clone();
    let input = line.clone();
    std::thread::Builder::new()
        .name("console".into())
        .spawn(move || {
            let answer = console.run(&input);
            if let Ok(mut s) = theirs.lock() {
                *s = Some(answer);
            }
        })
        .map_err(|e| format!("could not run the console line: {e}"))?;
    let mut log = world.resource_mut::<ConsoleLog>();
    if log.history.last() != Some(&line) {
        log.history.push(line.clone());
    }
    log.pending.push((line, slot));
    Ok(())
}

/// Moves finished answers into the log; a trace an answer carries goes to the sequence
/// diagram. Returns whether anything arrived.
pub fn collect_answers(world: &mut World) -> bool {
    let mut arrived = Vec::new();
    {
        let mut log = world.resource_mut::<ConsoleLog>();
        log.pending.retain(|(line, slot)| {
            let taken = slot.lock().ok().and_then(|mut s| s.take());
            if let Some(answer) = taken {
                arrived.push(answer);
                return false;
            }
            // Still running while its thread holds the other reference.
            if Arc::strong_count(slot) > 1 {
                return true;
            }
            // The thread is gone: it answered just now, or it failed.
            let late = slot.lock().ok().and_then(|mut s| s.take());
            arrived.push(late.unwrap_or_else(|| Answer {
                input: line.clone(),
                lines: vec!["the console line failed without an answer".into()],
                iex: String::new(),
                error: true,
                trace: None,
            }));
            false
        });
    }
    let any = !arrived.is_empty();
    for answer in arrived {
        if let Some(t) = &answer.trace {
            trace::show_trace(world, t.clone());
        }
        let mut log = world.resource_mut::<ConsoleLog>();
        log.answers.push(answer);
        let over = log.answers.len().saturating_sub(KEEP);
        log.answers.drain(..over);
    }
    any
}
