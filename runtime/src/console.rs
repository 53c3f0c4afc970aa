//! The console: a small command language over a live runtime, answering the questions an
//! Elixir developer asks from a remote IEx shell, each answer paired with the IEx expression
//! for the same question. It lives in the runtime so the app's panel and a terminal can share it.

mod answers;
mod commands;
mod completion;
mod parse;

use std::sync::Arc;

use crate::chat::ChatMetrics;
use crate::db::Pool;
use crate::{Handle, Trace};

pub use commands::CommandHelp;

/// A console over one runtime, optionally with the chat server's metrics and pool.
#[derive(Clone)]
pub struct Console {
    handle: Handle,
    chat: Option<(Arc<ChatMetrics>, Pool)>,
}

/// What one command line answered.
#[derive(Clone, Debug)]
pub struct Answer {
    /// The line as typed.
    pub input: String,
    /// The answer, one line each.
    pub lines: Vec<String>,
    /// The Elixir/Erlang expression asking the same question in IEx.
    pub iex: String,
    /// Whether the line was not understood or the command failed.
    pub error: bool,
    /// The trace a `trace` command started, for the app to draw.
    pub trace: Option<Trace>,
}

impl Answer {
    fn ok(input: &str, iex: impl Into<String>, lines: Vec<String>) -> Answer {
        Answer {
            input: input.to_string(),
            lines,
            iex: iex.into(),
            error: false,
            trace: None,
        }
    }

    fn err(input: &str, iex: impl Into<String>, message: impl Into<String>) -> Answer {
        Answer {
            input: input.to_string(),
            lines: vec![message.into()],
            iex: iex.into(),
            error: true,
            trace: None,
        }
    }
}

impl Console {
    /// A console over the runtime behind `handle`.
    pub fn new(handle: &Handle) -> Console {
        Console {
            handle: handle.clone(),
            chat: None,
        }
    }

    /// Adds the chat server's metrics and pool, so `memory` can report them.
    pub fn with_chat(self, metrics: Arc<ChatMetrics>, pool: Pool) -> Console {
        Console {
            chat: Some((metrics, pool)),
            ..self
        }
    }

    /// Runs one command line. Never panics; waits at most the command's own timeout.
    pub fn run(&self, line: &str) -> Answer {
        answers::run(self, line)
    }

    /// Completions for `prefix` (the line typed so far): whole lines that extend it with a
    /// command, a registered name, a label or a pid.
    pub fn complete(&self, prefix: &str) -> Vec<String> {
        completion::complete(&self.handle, prefix)
    }

    /// The commands and what they do, for `help` and the panel.
    pub fn commands() -> &'static [CommandHelp] {
        commands::COMMANDS
    }
}
