//! Guided lessons: files in `lessons/` (TOML-fenced CommonMark, see `lessons/README.md`) that
//! the app reads at start-up, validates, and walks the learner through, checking each step
//! against what the runtime actually did.
//!
//! [`catalog`] finds and loads the files (a broken one is kept with its problems so the list
//! can show it); [`parse`] reads one; [`engine`] runs the current step: its actions, its check
//! over events and metrics, and the progress kept in SQLite.

pub mod actions;
pub mod catalog;
pub mod checks;
pub mod engine;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod progress;

pub use catalog::{Catalog, Entry, LessonSource};
pub use engine::{LessonEngine, StepPhase};
pub use model::{Action, Check, Lesson, Op, Step, Target};
pub use parse::{parse_lesson, Problem};
